"""Student records (学员管理): profiles, guardians, lesson packages, classes, tags,
lifecycle, and privacy (access policy, masking, audit trail, erasure)."""

from eduengine.students.classes import ClassService
from eduengine.students.events import (
    ClassAssigned,
    CreditConsumed,
    CreditForfeited,
    CreditReturned,
    StageChanged,
    StudentEnrolled,
    StudentErased,
    StudentRegistered,
    TagsChanged,
)
from eduengine.students.handlers import CourseCredits
from eduengine.students.lifecycle import LifecycleService
from eduengine.students.model import (
    Guardian,
    GuardianRole,
    LifecycleStage,
    Profile,
    SchoolClass,
    TagRule,
    placement_level,
)
from eduengine.students.packages import PackageService
from eduengine.students.privacy import (
    Access,
    Actor,
    AuditEntry,
    RoleBasedPolicy,
    mask_email,
    mask_name,
    mask_phone,
)
from eduengine.students.profiles import ProfileService
from eduengine.students.records import PackageView
from eduengine.students.service import StudentService

__all__ = [
    "Access",
    "Actor",
    "AuditEntry",
    "ClassAssigned",
    "ClassService",
    "CourseCredits",
    "CreditConsumed",
    "CreditForfeited",
    "CreditReturned",
    "Guardian",
    "GuardianRole",
    "LifecycleService",
    "LifecycleStage",
    "PackageService",
    "PackageView",
    "Profile",
    "ProfileService",
    "RoleBasedPolicy",
    "SchoolClass",
    "StageChanged",
    "StudentEnrolled",
    "StudentErased",
    "StudentRegistered",
    "StudentService",
    "TagRule",
    "TagsChanged",
    "mask_email",
    "mask_name",
    "mask_phone",
    "placement_level",
]
