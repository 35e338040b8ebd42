"""Student records (学员管理): profiles, guardians, lesson packages, classes, tags,
lifecycle, and privacy (access policy, masking, audit trail, erasure)."""

from eduengine.students.model import (
    Guardian,
    GuardianRole,
    LifecycleStage,
    Profile,
    SchoolClass,
    TagRule,
    placement_level,
)
from eduengine.students.privacy import (
    Access,
    Actor,
    AuditEntry,
    RoleBasedPolicy,
    mask_email,
    mask_name,
    mask_phone,
)
from eduengine.students.service import PackageView, StudentService

__all__ = [
    "Access",
    "Actor",
    "AuditEntry",
    "Guardian",
    "GuardianRole",
    "LifecycleStage",
    "PackageView",
    "Profile",
    "RoleBasedPolicy",
    "SchoolClass",
    "StudentService",
    "TagRule",
    "mask_email",
    "mask_name",
    "mask_phone",
    "placement_level",
]
