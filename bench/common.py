"""Results, tables, load average, databases and bulk inserts that the benchmarks share."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, insert

from storage.db import Database
from storage.models import Base

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "COSIGNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("COSIGNER_REQUIRE_POSTGRES") == "1"

# Crockford-style alphabet of request ids (bot.domain.ID_ALPHABET), 5 characters long.
ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
INSERT_BATCH_ROWS = 10_000

PACKAGES = (
    "slack-bolt",
    "slack-sdk",
    "aiohttp",
    "SQLAlchemy",
    "alembic",
    "psycopg",
    "pydantic",
    "APScheduler",
)


class BenchmarkError(Exception):
    """A benchmark could not run or produced a wrong result. The message names the cause."""


# Results ------------------------------------------------------------------------------


@dataclass
class ResultTable:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"row has {len(values)} values for {len(self.columns)} columns")
        self.rows.append(list(values))

    def render(self) -> str:
        cells = [self.columns] + [[format_value(v) for v in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = [self.title, "=" * len(self.title)]
        for index, row in enumerate(cells):
            lines.append(
                "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
            )
            if index == 0:
                lines.append("  ".join("-" * width for width in widths))
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }


@dataclass
class Target:
    """A target from the performance issue, and whether this run met it."""

    text: str
    measured: str
    met: bool | None
    reason: str = ""

    def render(self) -> str:
        verdict = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[self.met]
        line = f"[{verdict}] {self.text}: {self.measured}"
        return line + (f"\n         {self.reason}" if self.reason else "")


@dataclass
class Result:
    name: str
    smoke: bool
    tables: list[ResultTable] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # Wrong results found by a benchmark's checks. The command exits with 1 when any exist.
    errors: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    seconds: float = 0.0

    def render(self) -> str:
        parts = [f"## {self.name}{' (smoke)' if self.smoke else ''}"]
        parts += [table.render() for table in self.tables]
        if self.skipped:
            parts.append("\n".join(f"skipped: {reason}" for reason in self.skipped))
        if self.targets:
            parts.append("\n".join(target.render() for target in self.targets))
        if self.errors:
            parts.append("\n".join(f"error: {error}" for error in self.errors))
        return "\n\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "smoke": self.smoke,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 1),
            "tables": [table.to_json() for table in self.tables],
            "targets": [target.__dict__ for target in self.targets],
            "skipped": self.skipped,
            "errors": self.errors,
        }


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def load_average() -> str:
    """Return the 1-, 5- and 15-minute load averages from /proc/loadavg."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_description() -> dict[str, Any]:
    """Describe the machine and the software versions, for the JSON output and the docs."""
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": _sqlite_version(),
        "postgresql": postgres_server_version(),
        "packages": versions,
        "load_average_at_start": load_average(),
    }


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


# Databases ----------------------------------------------------------------------------


def postgres_problem() -> str | None:
    """Return why the PostgreSQL server cannot be used, or None when it accepts a connection."""
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]


def postgres_server_version() -> str:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except psycopg.Error:
        return "not reachable"


def check_postgres(result: Result) -> bool:
    """Return whether PostgreSQL accepts a connection.

    Raises BenchmarkError instead of returning False when COSIGNER_REQUIRE_POSTGRES=1.
    """
    problem = postgres_problem()
    if problem is None:
        return True
    message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {problem}"
    if REQUIRE_POSTGRES:
        raise BenchmarkError(message + " (COSIGNER_REQUIRE_POSTGRES=1 requires it)")
    result.skipped.append(message + "; the PostgreSQL part was skipped")
    return False


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """Create a migrated PostgreSQL database named cosigner_bench_…, and drop it afterwards."""
    name = f"cosigner_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def sqlite_database(label: str) -> Iterator[str]:
    """Create a migrated SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"cosigner-bench-{label}-") as directory:
        url = f"sqlite:///{Path(directory) / 'cosigner.db'}"
        migrate(url)
        yield url


@contextlib.contextmanager
def database(kind: str, label: str) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_database(label) as url:
            yield url
    elif kind == "postgresql":
        with postgres_database(label) as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}: use sqlite or postgresql")


def migrate(url: str) -> None:
    db = Database(url)
    try:
        db.upgrade()
    finally:
        db.dispose()


def bulk_insert(connection: Connection, table_name: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows with Core `insert()` executemany, in batches of INSERT_BATCH_ROWS."""
    target = Base.metadata.tables[table_name]
    for start in range(0, len(rows), INSERT_BATCH_ROWS):
        batch = rows[start : start + INSERT_BATCH_ROWS]
        if batch:
            connection.execute(insert(target), list(batch))


def request_id(number: int) -> str:
    """Return the request id with this number, such as REQ-22223: unique for 0 ≤ n < 30⁵."""
    if not 0 <= number < len(ID_ALPHABET) ** 5:
        raise ValueError(f"request number {number} is outside 0..{len(ID_ALPHABET) ** 5 - 1}")
    digits = []
    for _ in range(5):
        number, digit = divmod(number, len(ID_ALPHABET))
        digits.append(ID_ALPHABET[digit])
    return "REQ-" + "".join(reversed(digits))


def fix_postgres_sequences(url: str) -> None:
    """Move PostgreSQL id sequences past the ids that a bulk load wrote explicitly."""
    db = Database(url)
    try:
        if db.is_sqlite:
            return
        with db.engine.begin() as connection:
            for name in ("organizations", "people", "chat_accounts", "grants", "cards", "outbox"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
                )
    finally:
        db.dispose()


def analyze(url: str) -> None:
    """Refresh the planner statistics after a bulk load, as a deployment's autovacuum would."""
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        db.dispose()


# Processes ----------------------------------------------------------------------------


def child_environment(**extra: str) -> dict[str, str]:
    """Return this process's environment without Cosigner and Slack settings, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "COSIGNER_", "DATABASE_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


def run_json_subprocess(args: list[str], timeout: float) -> dict[str, Any]:
    """Run `python -m …` with `args`, and return the JSON object on its last stdout line.

    Raises BenchmarkError with the tail of stderr when the process fails or times out.
    """
    try:
        completed = subprocess.run(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchmarkError(f"{' '.join(args)} timed out after {timeout:.0f} s") from error
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"{' '.join(args)} exited with {completed.returncode}:\n{tail}")
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchmarkError(f"{' '.join(args)} printed no result")
    return dict(json.loads(lines[-1]))
