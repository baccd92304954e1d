"""Alembic migrations: from an empty database to head, matching the ORM models, and back."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from storage.db import Database, current_revision, downgrade, head_revision
from storage.models import AuditHead, Base
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.fixture(scope="module")
def postgres_scratch_url(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL database that only this module uses, and whose tests empty and migrate it."""
    name = f"cosigner_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables: a new SQLite file, or an emptied PostgreSQL database.

    Recreating the public schema is faster than a new database per test, because
    DROP DATABASE waits for a checkpoint.
    """
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    else:
        # Like every other PostgreSQL test, this skips or fails when no server responds.
        database = Database(request.getfixturevalue("postgres_scratch_url"))
        with database.engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    yield database
    database.dispose()


def _schema_differences(database: Database) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_reaches_head(empty_database: Database) -> None:
    assert inspect(empty_database.engine).get_table_names() == []

    empty_database.upgrade()

    assert current_revision(empty_database.engine) == head_revision()


def test_upgrade_seeds_audit_head(empty_database: Database) -> None:
    empty_database.upgrade()

    with empty_database.transaction() as session:
        head = session.execute(select(AuditHead.id, AuditHead.last_seq, AuditHead.last_hash)).all()
    assert [tuple(row) for row in head] == [(1, 0, "0" * 64)]


def test_migrated_schema_matches_models(empty_database: Database) -> None:
    empty_database.upgrade()

    assert _schema_differences(empty_database) == []


def test_downgrade_then_upgrade(empty_database: Database) -> None:
    empty_database.upgrade()

    downgrade(empty_database.engine, "base")
    tables_after_downgrade = set(inspect(empty_database.engine).get_table_names())
    empty_database.upgrade()

    assert current_revision(empty_database.engine) == head_revision()
    assert tables_after_downgrade == {"alembic_version"}
    assert _schema_differences(empty_database) == []


def test_upgrade_twice_is_noop(empty_database: Database) -> None:
    empty_database.upgrade()

    empty_database.upgrade()

    assert current_revision(empty_database.engine) == head_revision()


def test_schema_comparison_sees_missing_index(empty_database: Database) -> None:
    """The comparison above can fail: a dropped index shows up as a difference."""
    empty_database.upgrade()
    with empty_database.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_outbox_due")

    differences = _schema_differences(empty_database)

    assert [d[0] for d in differences] == ["add_index"]  # type: ignore[index]


def _revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("start", _revisions()[:-1] or ["base"])
def test_upgrade_from_earlier_revision(empty_database: Database, start: str) -> None:
    """A database left at any earlier revision, with rows in it, upgrades to head."""
    from storage.db import upgrade

    upgrade(empty_database.engine, start)
    with empty_database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO people (name, email, is_admin, created_at) "
            "VALUES ('Ada', 'ada@example.org', false, CURRENT_TIMESTAMP)"
        )

    empty_database.upgrade()

    assert current_revision(empty_database.engine) == head_revision()
    assert _schema_differences(empty_database) == []
    with empty_database.engine.connect() as connection:
        emails = connection.exec_driver_sql("SELECT email FROM people").scalars().all()
    assert emails == ["ada@example.org"]


def test_concurrent_upgrades_apply_once(empty_database: Database) -> None:
    """Replicas starting at once against a new database: one migrates, the others wait."""
    import threading

    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start_replica() -> None:
        replica = Database(empty_database.url)
        try:
            barrier.wait()
            replica.upgrade()
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            replica.dispose()

    threads = [threading.Thread(target=start_replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [repr(e) for e in errors] == []
    assert current_revision(empty_database.engine) == head_revision()
    with empty_database.transaction() as session:
        heads = session.execute(select(AuditHead.id)).all()
    assert len(heads) == 1
