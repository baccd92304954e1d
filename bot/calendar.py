"""Business days and business hours in an organization's timezone.

Business days are Monday to Friday, and business hours run from 09:00 to 17:00 local
time. Business time counts only the seconds inside business hours, so one business
day is the 8 hours from 09:00 to 17:00, and a request made on Friday at 15:00 is one
business day old on Monday at 15:00.

NOTE: public holidays are not modelled; they count as business days.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BUSINESS_START = dt.time(9)
BUSINESS_END = dt.time(17)
BUSINESS_DAY = dt.timedelta(hours=8)
_START_OFFSET = dt.timedelta(hours=BUSINESS_START.hour)

# A Monday. Business time is counted from its 09:00, and every whole week after it
# contains exactly five business days.
_EPOCH = dt.date(2000, 1, 3)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """Return the IANA timezone `name`, or raise ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {name!r} is unknown: use an IANA name such as America/Chicago"
        ) from None


def _business_days_before(day: dt.date) -> int:
    """Count the business days from _EPOCH up to, not including, `day`."""
    weeks, weekday = divmod((day - _EPOCH).days, 7)
    return weeks * 5 + min(weekday, 5)


def _business_day(index: int) -> dt.date:
    """Return the date of business day number `index`, counted from _EPOCH."""
    weeks, weekday = divmod(index, 5)
    return _EPOCH + dt.timedelta(days=weeks * 7 + weekday)


class BusinessCalendar:
    """Business days and hours in one timezone."""

    def __init__(self, timezone: str) -> None:
        self.name = timezone
        self.timezone = zone(timezone)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r})"

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.timezone)

    def local_date(self, moment: dt.datetime) -> dt.date:
        return self.local(moment).date()

    @staticmethod
    def is_business_day(day: dt.date) -> bool:
        return day.weekday() < 5

    def in_business_hours(self, moment: dt.datetime) -> bool:
        """Tell whether `moment` falls on a business day between 09:00 and 17:00 local time.

        The interval is half-open: 09:00 is inside, 17:00 is outside.
        """
        local = self.local(moment)
        return self.is_business_day(local.date()) and BUSINESS_START <= local.time() < BUSINESS_END

    def business_time(self, moment: dt.datetime) -> dt.timedelta:
        """Return the business time from the calendar's epoch to `moment`.

        Only differences of these values mean anything. The value stays the same
        outside business hours, so 17:00 on a Friday and 09:00 the next Monday map
        to the same business time.
        """
        local = self.local(moment)
        day = local.date()
        elapsed = BUSINESS_DAY * _business_days_before(day)
        if not self.is_business_day(day):
            return elapsed
        wall = dt.timedelta(
            hours=local.hour,
            minutes=local.minute,
            seconds=local.second,
            microseconds=local.microsecond,
        )
        into_day = min(max(wall - _START_OFFSET, dt.timedelta(0)), BUSINESS_DAY)
        return elapsed + into_day

    def business_age(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Return the business time from `start` to `end`, which is negative if `end` is earlier."""
        return self.business_time(end) - self.business_time(start)

    def business_days_between(self, start: dt.datetime, end: dt.datetime) -> float:
        return self.business_age(start, end) / BUSINESS_DAY

    def cutoff(self, moment: dt.datetime, business_days: int) -> dt.datetime:
        """Return the latest instant that is at least `business_days` business days before `moment`.

        A request created at or before the returned instant (in UTC) is at least
        that old at `moment`, and one created after it is younger. That turns an age
        test into a plain `created_at <= cutoff` comparison that SQL can index.
        """
        target = self.business_time(moment) - BUSINESS_DAY * business_days
        index, into_day = divmod(target, BUSINESS_DAY)
        day = _business_day(index)
        start = dt.datetime.combine(day, BUSINESS_START, tzinfo=self.timezone)
        return (start + into_day).astimezone(dt.UTC)


@lru_cache(maxsize=256)
def calendar_for(timezone: str) -> BusinessCalendar:
    """Return the shared calendar of a timezone, or raise ValueError if the name is unknown."""
    return BusinessCalendar(timezone)
