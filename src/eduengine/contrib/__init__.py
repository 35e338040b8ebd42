"""Integrations with host frameworks: moved to :mod:`eduengine.web` (``eduengine.contrib.django``
re-exports :mod:`eduengine.web.django` until 0.4)."""
