"""The service layer's old home, kept so old imports work: the command runner now lives
in :mod:`eduengine.service_layer.runner`, the booking commands in
:mod:`eduengine.booking.service` and the id factory in :mod:`eduengine.kernel.ids`.
"""

from __future__ import annotations

from eduengine.booking.service import BookingService
from eduengine.kernel.deprecation import warn_moved
from eduengine.kernel.ids import IdFactory, uuid_ids
from eduengine.service_layer.runner import ServiceBase, scan_after

__all__ = ["BookingService", "IdFactory", "ServiceBase", "scan_after", "uuid_ids"]

warn_moved(
    "eduengine.service",
    "eduengine.service_layer.runner, eduengine.booking.service or eduengine.kernel.ids",
)
