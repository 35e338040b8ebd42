"""The release of this library (one place, read by the package metadata too)."""

__version__ = "0.2.0"
