"""The envelope and event numbering: moved to :mod:`eduengine.kernel.envelope`
(:class:`Envelope`) and :mod:`eduengine.service_layer.streams` (:func:`stamp`); this path
keeps both names."""

from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.streams import stamp

__all__ = ["Envelope", "stamp"]
