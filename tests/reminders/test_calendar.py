from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar import BUSINESS_DAY, BusinessCalendar, calendar_for
from tests.reminders.conftest import new_york

NY = calendar_for("America/New_York")


def test_business_hours_half_open() -> None:
    assert not NY.in_business_hours(new_york(2026, 12, 2, 8, 59))
    assert NY.in_business_hours(new_york(2026, 12, 2, 9, 0))
    assert NY.in_business_hours(new_york(2026, 12, 2, 16, 59))
    assert not NY.in_business_hours(new_york(2026, 12, 2, 17, 0))


def test_weekend_outside_business_hours() -> None:
    assert not NY.in_business_hours(new_york(2026, 12, 5, 11, 0))
    assert not NY.in_business_hours(new_york(2026, 12, 6, 11, 0))


def test_friday_afternoon_one_day_on_monday() -> None:
    friday = new_york(2026, 12, 4, 15, 0)
    assert NY.business_days_between(friday, new_york(2026, 12, 7, 9, 0)) == pytest.approx(0.25)
    assert NY.business_days_between(friday, new_york(2026, 12, 7, 15, 0)) == pytest.approx(1.0)


def test_night_adds_no_business_time() -> None:
    evening = new_york(2026, 12, 2, 18, 0)
    next_morning = new_york(2026, 12, 3, 8, 0)
    assert NY.business_age(evening, next_morning) == dt.timedelta(0)


def test_daylight_saving_day_counts_eight_hours() -> None:
    # 8 March 2026 is a Sunday when New York moves to daylight saving time.
    friday = new_york(2026, 3, 6, 12, 0)
    monday = new_york(2026, 3, 9, 12, 0)
    assert NY.business_age(friday, monday) == BUSINESS_DAY


def test_cutoff_matches_age_example() -> None:
    monday_afternoon = new_york(2026, 12, 7, 15, 0)
    assert NY.cutoff(monday_afternoon, 1) == new_york(2026, 12, 4, 15, 0)
    # At 09:00 the cutoff is the start of the previous business day, 09:00 Friday.
    assert NY.cutoff(new_york(2026, 12, 7, 9, 0), 1) == new_york(2026, 12, 4, 9, 0)


def test_unknown_timezone_rejected() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        BusinessCalendar("Mars/Olympus")


moments = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31)).map(
    lambda naive: naive.replace(microsecond=0, tzinfo=dt.UTC)
)
timezones = st.sampled_from(["America/New_York", "America/Chicago", "Pacific/Honolulu", "UTC"])


@given(created=moments, now=moments, days=st.integers(min_value=0, max_value=40), tz=timezones)
def test_cutoff_agrees_with_age(created: dt.datetime, now: dt.datetime, days: int, tz: str) -> None:
    calendar = calendar_for(tz)
    old_enough = calendar.business_age(created, now) >= BUSINESS_DAY * days
    assert (created <= calendar.cutoff(now, days)) == old_enough
