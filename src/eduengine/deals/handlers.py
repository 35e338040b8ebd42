"""Group-deal handlers run by the school: erasure of a student's personal data (注销).

What the module stores about a student, and what erasure does with it:

* each group they are a member of (index ``member:<student>``): the member's payment
  account, device id and IP become ``None``; the membership itself (status, charge id,
  join time) stays, because the money of the group depends on it: a refund still due is
  paid back to the original charge;
* their risk-log entries (index ``student:<student>``): account, device id and IP become
  ``None``, and any of the student's own values quoted in a reason is replaced by
  ``[erased]``; the decision (level, group, time) stays for the anti-abuse audit;
* their recent activity (the times of their attempts, for ``TooManyGroups``): deleted;
* the devices, IPs and accounts anti-abuse across groups saw them use (index
  ``student:<student>``): deleted.

The student id stays, as in the profile the students module keeps after erasure; the
campaign participation counts hold nothing else and still enforce per-student limits.
A value another student also used (two students behind one school IP) stays in that
other student's records: it is theirs too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eduengine.deals.model import GroupDeal, member_index
from eduengine.deals.records import (
    ACTIVITY,
    GROUPS,
    RISK_LOG,
    SIGHTINGS,
    put_risk_entry,
    risk_index,
    save_group,
)
from eduengine.service_layer.ports import UnitOfWork

#: what a quoted personal value in a risk reason becomes
ERASED = "[erased]"

_PERSONAL = ("account", "device_id", "ip")


def erase_student(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Scrub ``student_id``'s personal data from every group-deal record (an
    :data:`eduengine.service_layer.erasure.Eraser`); returns how many documents it changed.

    Finds the records through the ``member:`` and ``student:`` indexes, never by
    reading every group. Running it again changes nothing and returns 0.
    """
    groups: list[GroupDeal] = []
    for key, _ in uow.records.scan(GROUPS, member_index(student_id)):
        doc = uow.records.get(GROUPS, key)  # locks the group for the rest of the erasure
        if doc is not None:
            groups.append(GroupDeal.from_record(doc))
    entries: list[tuple[str, dict[str, Any]]] = []
    for key, _ in uow.records.scan(RISK_LOG, risk_index(student_id)):
        entry = uow.records.get(RISK_LOG, key)
        if entry is not None and entry["student_id"] == student_id:
            entries.append((key, entry))

    # Every value the student ever gave, so a reason quoting one can be scrubbed too.
    values: set[str] = set()
    for group in groups:
        member = group.member(student_id)
        if member is not None:
            values.update(v for v in (member.account, member.device_id, member.ip) if v)
    for _, entry in entries:
        values.update(entry[field] for field in _PERSONAL if entry.get(field))

    changed = 0
    for group in groups:
        member = group.member(student_id)
        if member is None or (member.account, member.device_id, member.ip) == (None,) * 3:
            continue
        member.account = member.device_id = member.ip = None
        save_group(uow, group, now)
        changed += 1
    for key, entry in entries:
        scrubbed = dict(entry)
        for field in _PERSONAL:
            scrubbed[field] = None
        scrubbed["reasons"] = [_scrub(reason, values) for reason in entry["reasons"]]
        if scrubbed != entry:
            put_risk_entry(uow.records, key, scrubbed)
            changed += 1
    if uow.records.get(ACTIVITY, student_id) is not None:
        uow.records.delete(ACTIVITY, student_id)
        changed += 1
    # what anti-abuse across groups remembers she used: deleted, like her activity
    for key, _ in list(uow.records.scan(SIGHTINGS, risk_index(student_id))):
        if uow.records.get(SIGHTINGS, key) is not None:
            uow.records.delete(SIGHTINGS, key)
            changed += 1
    return changed


def _scrub(text: str, values: set[str]) -> str:
    # longest first, so a value containing another is replaced whole
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, ERASED)
    return text


__all__ = ["ERASED", "erase_student"]
