"""Smoke runs of the benchmarks: each finishes in seconds and produces numbers.

Each test runs `python -m bench NAME --smoke --json PATH` as a subprocess, as `make
bench-smoke` does, and reads the JSON. The PostgreSQL parts are skipped by the
benchmark itself when no server accepts a connection, unless COSIGNER_REQUIRE_POSTGRES=1 makes
that a failure.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.common import REQUIRE_POSTGRES, postgres_problem

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_SECONDS = 180


def run_smoke(name: str, tmp_path: Path) -> dict[str, Any]:
    output = tmp_path / f"{name}.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", name, "--smoke", "--json", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    document = json.loads(output.read_text())
    assert document["failures"] == []
    assert [result["name"] for result in document["results"]] == [name]
    result = dict(document["results"][0])
    assert result["errors"] == []
    return result


def rows_of(result: dict[str, Any], title_start: str) -> list[dict[str, Any]]:
    """Return the rows of the table whose title starts with `title_start`, as dicts."""
    tables = [t for t in result["tables"] if t["title"].startswith(title_start)]
    assert tables, f"no table titled {title_start!r}: {[t['title'] for t in result['tables']]}"
    columns = tables[0]["columns"]
    return [dict(zip(columns, row, strict=True)) for row in tables[0]["rows"]]


def is_positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value > 0


def expected_databases(result: dict[str, Any]) -> set[str]:
    """Return the databases whose rows the result must have."""
    if postgres_problem() is None or REQUIRE_POSTGRES:
        return {"sqlite", "postgresql"}
    assert any("PostgreSQL" in reason for reason in result["skipped"])
    return {"sqlite"}


def test_ack_smoke(tmp_path: Path) -> None:
    result = run_smoke("ack", tmp_path)
    rows = rows_of(result, "Ack latency")

    assert len(rows) == 3 * 3 * 3
    for row in rows:
        assert row["n"] > 0, row
        assert row["failed"] == 0, row
        assert is_positive_number(row["p99"]), row
        assert is_positive_number(row["p99 / bare"]), row
    assert {row["server"] for row in rows} == {
        "cosigner",
        "bare Bolt, process_before_response=True",
        "bare Bolt, default (False)",
    }
    assert len(result["targets"]) == 7


def test_throughput_smoke(tmp_path: Path) -> None:
    result = run_smoke("throughput", tmp_path)
    rows = rows_of(result, "Approve clicks")

    assert {row["database"] for row in rows} == expected_databases(result)
    for row in rows:
        assert is_positive_number(row["complete/s"]), row
        assert is_positive_number(row["raw 1 conn/s"]), row
        assert row["acked/s"] >= row["complete/s"] * 0.99, row
    diagnosis = rows_of(result, "Where a decision's time goes")
    assert all(is_positive_number(row["statements per call"]) for row in diagnosis)


def test_scaling_smoke(tmp_path: Path) -> None:
    result = run_smoke("scaling", tmp_path)
    sweeps = rows_of(result, "Reminder sweep")
    digests = rows_of(result, "Digest")

    databases = expected_databases(result)
    assert {row["database"] for row in sweeps} == databases
    assert len(sweeps) == 2 * len(databases)
    for row in sweeps:
        assert is_positive_number(row["first sweep s"]), row
        assert is_positive_number(row["repeat sweep s"]), row
        assert row["reminders"] > 0, row
    for row in digests:
        assert is_positive_number(row["digest s"]), row
        assert row["statements"] > 0, row
    assert rows_of(result, "Memory with")


def test_delivery_smoke(tmp_path: Path) -> None:
    result = run_smoke("delivery", tmp_path)
    rows = rows_of(result, "Delivering")

    assert {row["database"] for row in rows} == expected_databases(result)
    for row in rows:
        assert row["delivered"] == 20, row
        assert row["duplicates"] == 0, row
        assert row["429s met"] >= 3, row
        assert is_positive_number(row["messages/s"]), row
    assert [target["met"] for target in result["targets"]] == [True]


@pytest.mark.parametrize("argument", ["--databases=oracle", "--scaling-sizes=abc"])
def test_bench_rejects_bad_options(argument: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "scaling", "--smoke", argument],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode != 0
