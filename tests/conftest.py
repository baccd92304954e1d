"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and the core services.

Every test that takes `database_url` runs once per database. PostgreSQL tests are
skipped when no server answers, unless COSIGNER_REQUIRE_POSTGRES=1 (set by .ci/run)
turns that skip into a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from bot.clock import FixedClock
from bot.services import Services
from bot.settings import Settings
from storage.db import Database
from storage.models import Base

POSTGRES_ADMIN_URL = os.environ.get(
    "COSIGNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("COSIGNER_REQUIRE_POSTGRES") == "1"
SAMPLE_ROSTER = Path(__file__).parent.parent / "bot" / "data" / "sample_roster.csv"
# A Wednesday, 10:00 in New York: inside business hours on every US timezone.
START = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Create a database for this test run on the local PostgreSQL and drop it afterwards."""
    problem = _postgres_reachable()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {problem}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (COSIGNER_REQUIRE_POSTGRES=1 requires it)")
        pytest.skip(message + "; set COSIGNER_TEST_POSTGRES to test on PostgreSQL")
    name = f"cosigner_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    migrated = Database(url)
    migrated.upgrade()
    migrated.dispose()
    yield url
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    """Empty every table. DELETE is faster than TRUNCATE on tables this small."""
    database = Database(url)
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "audit_head":
                connection.execute(table.delete())
        connection.execute(
            text("UPDATE audit_head SET last_seq = 0, last_hash = :h"), {"h": "0" * 64}
        )
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a file under tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cosigner.db'}"
        database = Database(url)
        database.upgrade()
        database.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_server")
    _truncate_postgres(url)
    yield url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="test-signing-secret",
        COSIGNER_ADMIN_CHANNEL="C0ADMINS",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = Services.build(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def roster(services: Services) -> Services:
    """Services with the sample roster imported and one admin."""
    report = services.roster.import_file(SAMPLE_ROSTER)
    assert report.ok, report.errors
    services.people.add_admin("ops@example.org", "Operations Admin")
    return services
