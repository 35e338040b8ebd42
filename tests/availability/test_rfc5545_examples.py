"""The recurrence examples of RFC 5545 section 3.8.5.3 (all in America/New_York), as a
table: the library's sessions are the instances the RFC lists.

Rules the RFC leaves open ("forever") get the COUNT of the instances it lists, since a
series must end; the RFC's one erratum (every 3 hours UNTIL 17:00Z) is left out.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from eduengine.booking.series import expand

NY = ZoneInfo("America/New_York")


def days(year: int, month: int, *mdays: int, hour: int = 9, minute: int = 0) -> list[datetime]:
    return [datetime(year, month, d, hour, minute) for d in mdays]


def every_day(year: int, month: int, last: int, first: int = 1) -> list[datetime]:
    return days(year, month, *range(first, last + 1))


EXAMPLES: list[tuple[str, str, str, list[datetime]]] = [
    ("daily, 10", "19970902T090000", "FREQ=DAILY;COUNT=10", every_day(1997, 9, 11, first=2)),
    (
        "daily until 24 Dec 1997",
        "19970902T090000",
        "FREQ=DAILY;UNTIL=19971224T000000Z",
        every_day(1997, 9, 30, 2)
        + every_day(1997, 10, 31)
        + every_day(1997, 11, 30)
        + every_day(1997, 12, 23),
    ),
    (
        "every other day",
        "19970902T090000",
        "FREQ=DAILY;INTERVAL=2;COUNT=5",
        days(1997, 9, 2, 4, 6, 8, 10),
    ),
    (
        "every 10 days, 5",
        "19970902T090000",
        "FREQ=DAILY;INTERVAL=10;COUNT=5",
        days(1997, 9, 2, 12, 22) + days(1997, 10, 2, 12),
    ),
    (
        "every day in January for 3 years (yearly form)",
        "19980101T090000",
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        every_day(1998, 1, 31) + every_day(1999, 1, 31) + every_day(2000, 1, 31),
    ),
    (
        "every day in January for 3 years (daily form)",
        "19980101T090000",
        "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        every_day(1998, 1, 31) + every_day(1999, 1, 31) + every_day(2000, 1, 31),
    ),
    (
        "weekly, 10",
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10",
        days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 10, 7, 14, 21, 28) + days(1997, 11, 4),
    ),
    (
        "weekly until 24 Dec 1997",
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971224T000000Z",
        days(1997, 9, 2, 9, 16, 23, 30)
        + days(1997, 10, 7, 14, 21, 28)
        + days(1997, 11, 4, 11, 18, 25)
        + days(1997, 12, 2, 9, 16, 23),
    ),
    (
        "every other week",
        "19970902T090000",
        "FREQ=WEEKLY;INTERVAL=2;WKST=SU;COUNT=5",
        days(1997, 9, 2, 16, 30) + days(1997, 10, 14, 28),
    ),
    (
        "TU and TH for five weeks (until)",
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2),
    ),
    (
        "TU and TH for five weeks (count)",
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2),
    ),
    (
        "every other week MO WE FR until 24 Dec",
        "19970901T090000",
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        days(1997, 9, 1, 3, 5, 15, 17, 19, 29)
        + days(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
        + days(1997, 11, 10, 12, 14, 24, 26, 28)
        + days(1997, 12, 8, 10, 12, 22),
    ),
    (
        "every other week TU TH, 8",
        "19970902T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        days(1997, 9, 2, 4, 16, 18, 30) + days(1997, 10, 2, 14, 16),
    ),
    (
        "first Friday, 10",
        "19970905T090000",
        "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        days(1997, 9, 5)
        + days(1997, 10, 3)
        + days(1997, 11, 7)
        + days(1997, 12, 5)
        + days(1998, 1, 2)
        + days(1998, 2, 6)
        + days(1998, 3, 6)
        + days(1998, 4, 3)
        + days(1998, 5, 1)
        + days(1998, 6, 5),
    ),
    (
        "first Friday until 24 Dec",
        "19970905T090000",
        "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5),
    ),
    (
        "every other month, first and last Sunday, 10",
        "19970907T090000",
        "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        days(1997, 9, 7, 28)
        + days(1997, 11, 2, 30)
        + days(1998, 1, 4, 25)
        + days(1998, 3, 1, 29)
        + days(1998, 5, 3, 31),
    ),
    (
        "second-to-last Monday, 6",
        "19970922T090000",
        "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        days(1997, 9, 22)
        + days(1997, 10, 20)
        + days(1997, 11, 17)
        + days(1997, 12, 22)
        + days(1998, 1, 19)
        + days(1998, 2, 16),
    ),
    (
        "third-to-last day of the month",
        "19970928T090000",
        "FREQ=MONTHLY;BYMONTHDAY=-3;COUNT=6",
        days(1997, 9, 28)
        + days(1997, 10, 29)
        + days(1997, 11, 28)
        + days(1997, 12, 29)
        + days(1998, 1, 29)
        + days(1998, 2, 26),
    ),
    (
        "2nd and 15th, 10",
        "19970902T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        days(1997, 9, 2, 15)
        + days(1997, 10, 2, 15)
        + days(1997, 11, 2, 15)
        + days(1997, 12, 2, 15)
        + days(1998, 1, 2, 15),
    ),
    (
        "first and last day, 10",
        "19970930T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        days(1997, 9, 30)
        + days(1997, 10, 1, 31)
        + days(1997, 11, 1, 30)
        + days(1997, 12, 1, 31)
        + days(1998, 1, 1, 31)
        + days(1998, 2, 1),
    ),
    (
        "every 18 months, 10th to 15th, 10",
        "19970910T090000",
        "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        days(1997, 9, 10, 11, 12, 13, 14, 15) + days(1999, 3, 10, 11, 12, 13),
    ),
    (
        "every Tuesday, every other month",
        "19970902T090000",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU;COUNT=13",
        days(1997, 9, 2, 9, 16, 23, 30)
        + days(1997, 11, 4, 11, 18, 25)
        + days(1998, 1, 6, 13, 20, 27),
    ),
    (
        "June and July, 10",
        "19970610T090000",
        "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        [datetime(y, m, 10, 9) for y in range(1997, 2002) for m in (6, 7)],
    ),
    (
        "every other year, January to March, 10",
        "19970310T090000",
        "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
        days(1997, 3, 10) + [datetime(y, m, 10, 9) for y in (1999, 2001, 2003) for m in (1, 2, 3)],
    ),
    (
        "every third year, days 1, 100 and 200, 10",
        "19970101T090000",
        "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        days(1997, 1, 1)
        + days(1997, 4, 10)
        + days(1997, 7, 19)
        + days(2000, 1, 1)
        + days(2000, 4, 9)
        + days(2000, 7, 18)
        + days(2003, 1, 1)
        + days(2003, 4, 10)
        + days(2003, 7, 19)
        + days(2006, 1, 1),
    ),
    (
        "20th Monday of the year",
        "19970519T090000",
        "FREQ=YEARLY;BYDAY=20MO;COUNT=3",
        days(1997, 5, 19) + days(1998, 5, 18) + days(1999, 5, 17),
    ),
    (
        "Monday of week 20",
        "19970512T090000",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO;COUNT=3",
        days(1997, 5, 12) + days(1998, 5, 11) + days(1999, 5, 17),
    ),
    (
        "every Thursday in March",
        "19970313T090000",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=TH;COUNT=11",
        days(1997, 3, 13, 20, 27) + days(1998, 3, 5, 12, 19, 26) + days(1999, 3, 4, 11, 18, 25),
    ),
    (
        "Thursdays in June, July and August",
        "19970605T090000",
        "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8;COUNT=13",
        days(1997, 6, 5, 12, 19, 26)
        + days(1997, 7, 3, 10, 17, 24, 31)
        + days(1997, 8, 7, 14, 21, 28),
    ),
    (
        "Friday the 13th (a start that is not an instance is not one)",
        "19970902T090000",
        "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13;COUNT=5",
        days(1998, 2, 13)
        + days(1998, 3, 13)
        + days(1998, 11, 13)
        + days(1999, 8, 13)
        + days(2000, 10, 13),
    ),
    (
        "first Saturday after the first Sunday",
        "19970913T090000",
        "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13;COUNT=10",
        days(1997, 9, 13)
        + days(1997, 10, 11)
        + days(1997, 11, 8)
        + days(1997, 12, 13)
        + days(1998, 1, 10)
        + days(1998, 2, 7)
        + days(1998, 3, 7)
        + days(1998, 4, 11)
        + days(1998, 5, 9)
        + days(1998, 6, 13),
    ),
    (
        "US presidential election day",
        "19961105T090000",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8;COUNT=3",
        days(1996, 11, 5) + days(2000, 11, 7) + days(2004, 11, 2),
    ),
    (
        "third of TU/WE/TH, 3 months",
        "19970904T090000",
        "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        days(1997, 9, 4) + days(1997, 10, 7) + days(1997, 11, 6),
    ),
    (
        "second-to-last weekday",
        "19970929T090000",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2;COUNT=7",
        days(1997, 9, 29)
        + days(1997, 10, 30)
        + days(1997, 11, 27)
        + days(1997, 12, 30)
        + days(1998, 1, 29)
        + days(1998, 2, 26)
        + days(1998, 3, 30),
    ),
    (
        "every 15 minutes, 6",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=15;COUNT=6",
        [
            datetime(1997, 9, 2, h, m)
            for h, m in ((9, 0), (9, 15), (9, 30), (9, 45), (10, 0), (10, 15))
        ],
    ),
    (
        "every 90 minutes, 4",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=90;COUNT=4",
        [datetime(1997, 9, 2, h, m) for h, m in ((9, 0), (10, 30), (12, 0), (13, 30))],
    ),
    (
        "every 20 minutes 9:00 to 16:40 (daily form)",
        "19970902T090000",
        "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40;COUNT=48",
        [datetime(1997, 9, d, h, m) for d in (2, 3) for h in range(9, 17) for m in (0, 20, 40)],
    ),
    (
        "every 20 minutes 9:00 to 16:40 (minutely form)",
        "19970902T090000",
        "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16;COUNT=48",
        [datetime(1997, 9, d, h, m) for d in (2, 3) for h in range(9, 17) for m in (0, 20, 40)],
    ),
    (
        "WKST=MO",
        "19970805T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        days(1997, 8, 5, 10, 19, 24),
    ),
    (
        "WKST=SU",
        "19970805T090000",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        days(1997, 8, 5, 17, 19, 31),
    ),
    (
        "30 February is skipped",
        "20070115T090000",
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        days(2007, 1, 15, 30) + days(2007, 2, 15) + days(2007, 3, 15, 30),
    ),
]


@pytest.mark.parametrize(
    ("start", "rule", "expected"),
    [pytest.param(start, rule, expected, id=name) for name, start, rule, expected in EXAMPLES],
)
def test_the_rfc_5545_recurrence_examples_expand_as_the_rfc_lists(
    start: str, rule: str, expected: list[datetime]
) -> None:
    dtstart = datetime.strptime(start, "%Y%m%dT%H%M%S").replace(tzinfo=NY)
    got = expand(rule, dtstart)
    assert [s.replace(tzinfo=None) for s in got] == expected
    assert all(s.tzinfo is NY for s in got)
