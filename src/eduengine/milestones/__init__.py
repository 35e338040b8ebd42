"""Milestones: quests, "next level by", team contests and certificates, kept by the
``milestones`` projection of the feed.

See docs/milestones.md.
"""

from eduengine.milestones.events import (
    CertificateIssued,
    ContestDefined,
    QuestCompleted,
    QuestDefined,
)
from eduengine.milestones.model import (
    MEASURES,
    Certificate,
    NextLevel,
    Quest,
    QuestProgress,
    TeamStanding,
    certificate_id,
    rank_teams,
)
from eduengine.milestones.service import (
    MilestoneReactions,
    MilestoneService,
    Verification,
    erase_milestones,
)

__all__ = [
    "MEASURES",
    "Certificate",
    "CertificateIssued",
    "ContestDefined",
    "MilestoneReactions",
    "MilestoneService",
    "NextLevel",
    "Quest",
    "QuestCompleted",
    "QuestDefined",
    "QuestProgress",
    "TeamStanding",
    "Verification",
    "certificate_id",
    "erase_milestones",
    "rank_teams",
]
