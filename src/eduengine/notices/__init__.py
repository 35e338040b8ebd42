"""Notices (通知): confirmations, reminders, group progress, payment and package
notices to students and their guardians, delivered exactly once per channel."""

from eduengine.notices.delivery import ChannelRegistry, DeliveryReport
from eduengine.notices.model import (
    KINDS,
    Notice,
    NoticePolicy,
    Notifier,
    Preferences,
    QuietHours,
    Recipient,
)
from eduengine.notices.service import NoticeService

__all__ = [
    "KINDS",
    "ChannelRegistry",
    "DeliveryReport",
    "Notice",
    "NoticePolicy",
    "NoticeService",
    "Notifier",
    "Preferences",
    "QuietHours",
    "Recipient",
]
