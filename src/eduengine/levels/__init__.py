"""Levels (等级 / 经验值): XP rules, level curves, multipliers, badges, leaderboards."""

from eduengine.levels.events import BadgeAwarded, LevelUp, XpAwarded, XpRefused
from eduengine.levels.model import (
    Badge,
    Leaderboard,
    LearningEvent,
    LevelCurve,
    Multiplier,
    Progress,
    Standing,
    XpRule,
    progress,
)
from eduengine.levels.service import Award, LevelService, period_keys

__all__ = [
    "Award",
    "Badge",
    "BadgeAwarded",
    "Leaderboard",
    "LearningEvent",
    "LevelCurve",
    "LevelService",
    "LevelUp",
    "Multiplier",
    "Progress",
    "Standing",
    "XpAwarded",
    "XpRefused",
    "XpRule",
    "period_keys",
    "progress",
]
