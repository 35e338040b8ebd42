"""Advertising-account signals (广告账号识别): contact handles in a new member's post, the
same text in several groups, several accounts posting from one device.

Contact handles are read from the folded text (:func:`eduengine.community.moderation.fold`),
so ``1 3 8-1234-5678``, ``ＶＸ：abc123`` and ``q q 12345678`` are found as well as
the plain forms.

>>> contact_handles("课后可以加我 VX: study_abc123 聊")
('wechat',)
>>> contact_handles("电话 138 1234 5678，或者看 www.example.com")
('link', 'phone')
>>> contact_handles("第3课的作业在第12页")
()
"""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
from datetime import timedelta
from typing import Any

import attrs

from eduengine.community.moderation import fold
from eduengine.kernel.inputs import check_duration, check_int

__all__ = ["SpamRules", "SpamSignal", "contact_handles", "text_digest"]


class SpamSignal(enum.Enum):
    """Why an account was flagged."""

    CONTACT = "contact"
    REPEATED_TEXT = "repeated_text"
    SHARED_DEVICE = "shared_device"


_LINK = re.compile(
    r"(?:https?://|www\.|\b[a-z0-9-]{2,63}\s*(?:\.|。|点|dot)\s*"
    r"(?:com|cn|net|org|top|xyz|io|cc|me|co|info|vip|shop|site)\b)"
)
_PHONE = re.compile(r"(?<!\d)(?:86)?1[3-9]\d{9}(?!\d)")
_WECHAT = re.compile(
    r"(?:微信|威信|薇信|徽信|weixin|wechat|vx|wx|v信|加v|加微)号?[a-z][a-z0-9_]{5,19}"
)
_QQ = re.compile(r"(?:qq|扣扣|企鹅)号?\d{5,11}")


def contact_handles(text: str) -> tuple[str, ...]:
    """The kinds of contact handle in ``text``, sorted: ``link``, ``phone``, ``qq``,
    ``wechat``."""
    found = set()
    plain = unicodedata.normalize("NFKC", text).casefold()
    if _LINK.search(plain):
        found.add("link")
    folded = fold(text).text
    if _PHONE.search(folded):
        found.add("phone")
    if _WECHAT.search(folded):
        found.add("wechat")
    if _QQ.search(folded):
        found.add("qq")
    return tuple(sorted(found))


def text_digest(text: str) -> str:
    """A short digest of the folded text: the same words, however spaced or written,
    give the same digest."""
    return hashlib.blake2b(fold(text).text.encode("utf-8"), digest_size=8).hexdigest()


def _positive(instance: object, attribute: Any, value: Any) -> None:
    check_int(value, attribute.name, low=1)


def _window(instance: object, attribute: Any, value: Any) -> None:
    check_duration(value, attribute.name, high=timedelta(days=3650))


@attrs.frozen(kw_only=True)
class SpamRules:
    """When a post is held and its author flagged.

    * a member still new (see :class:`eduengine.community.model.RateLimits`) posts a
      link or a contact handle;
    * the same text, at least ``repeat_min_length`` letters and digits once folded, was
      posted in another group within ``repeat_window`` (by anyone);
    * more than ``max_accounts_per_device`` accounts have posted from the post's device.
    """

    repeat_min_length: int = attrs.field(default=12, validator=_positive)
    repeat_window: timedelta = attrs.field(default=timedelta(days=1), validator=_window)
    max_accounts_per_device: int = attrs.field(default=2, validator=_positive)
