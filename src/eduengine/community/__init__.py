"""The moderated community (社群 / 课程群): class and course groups, posts, the word filter,
rate limits, spam signals and the moderator queue (``school.community``)."""

from eduengine.community.events import (
    AccountFlagged,
    FlagCleared,
    GroupJoined,
    GroupLeft,
    PostApproved,
    PostBlocked,
    PostHeld,
    PostPublished,
    PostRejected,
)
from eduengine.community.metrics import ActivityRow
from eduengine.community.model import (
    AccountFlag,
    Post,
    PostStatus,
    RateLimit,
    RateLimits,
    class_group,
    course_group,
)
from eduengine.community.moderation import Screening, Word, WordAction, WordFilter, fold
from eduengine.community.service import CommunityService
from eduengine.community.spam import SpamRules, SpamSignal, contact_handles

__all__ = [
    "AccountFlag",
    "AccountFlagged",
    "ActivityRow",
    "CommunityService",
    "FlagCleared",
    "GroupJoined",
    "GroupLeft",
    "Post",
    "PostApproved",
    "PostBlocked",
    "PostHeld",
    "PostPublished",
    "PostRejected",
    "PostStatus",
    "RateLimit",
    "RateLimits",
    "Screening",
    "SpamRules",
    "SpamSignal",
    "Word",
    "WordAction",
    "WordFilter",
    "class_group",
    "contact_handles",
    "course_group",
    "fold",
]
