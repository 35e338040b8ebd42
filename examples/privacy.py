"""Privacy: who sees what, masked contact data, the audit trail, and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import FixedClock, InMemoryStore, School
from eduengine.errors import AccessDenied
from eduengine.students import Actor, Guardian, GuardianRole, SchoolClass


def main() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    school = School.build(InMemoryStore(), clock=clock)
    students = school.students
    students.register(
        "mei",
        name="李梅",
        phone="13912345678",
        email="mei@example.com",
        guardians=[Guardian(name="李强", phone="13800001111", roles=frozenset({GuardianRole.PAY}))],
    )
    students.create_class(SchoolClass(id="r2", name="Readers 2", capacity=15))
    students.assign("mei", "r2")

    academic = Actor(id="zhang", role="academic")
    support = Actor(id="liu", role="support")
    teacher = Actor(id="chen", role="teacher", class_ids=frozenset({"r2"}))
    other_teacher = Actor(id="wu", role="teacher", class_ids=frozenset({"r9"}))

    print("academic sees:", students.view(academic, "mei").phone)
    masked = students.view(support, "mei")
    print("support sees: ", masked.name, masked.phone, masked.email)
    print("class teacher:", students.view(teacher, "mei").phone)
    try:
        students.view(other_teacher, "mei")
    except AccessDenied as denied:
        print("other teacher:", denied)
    students.grant(other_teacher, "mei", until=clock.now() + timedelta(hours=2))
    print("with a 2-hour grant:", students.view(other_teacher, "mei").phone)
    students.revoke(other_teacher, "mei")

    school.payments.add_method("mei", "alipay-mei")  # personal data in another module
    report = students.erase(academic, "mei")  # one request, every module that keeps her data
    print("erased:", ", ".join(f"{module} {n}" for module, n in report.removed.items()))
    after = students.view(academic, "mei")
    print("after erasure:", after.name, after.phone, after.email, after.guardians)
    print("audit trail:")
    for entry in students.audit_trail("mei", actor=academic):
        print(f"  {entry.at:%H:%M} {entry.role:<9} {entry.actor_id:<6} {entry.action}")


if __name__ == "__main__":
    main()
