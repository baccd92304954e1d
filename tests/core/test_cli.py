"""The `cosigner` command, run in-process against the test database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.cli import main
from bot.services import Services
from storage.models import AuditEntry
from tests.conftest import SAMPLE_ROSTER, START
from tests.core.conftest import SampleRoster
from tests.core.support import LAKESIDE_NPI, RIVERBEND_NPI, audit_count, submit


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


Cli = Callable[..., CliRun]


@pytest.fixture
def cli(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Cli:
    """Return a function that runs `cosigner ARGS...` on the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    # Settings also read ./.env, so run in a folder that has none.
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    def run(*args: str) -> CliRun:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


def test_cli_roster_import(cli: Cli, services: Services) -> None:
    result = cli("roster", "import", str(SAMPLE_ROSTER))

    assert result.code == 0, result.err
    assert "4 row(s) imported: 2 organization(s) created" in result.out
    assert services.people.by_email("priya.raman@lakeside.example") is not None


def test_cli_roster_import_again(cli: Cli, roster: Services) -> None:
    result = cli("roster", "import", str(SAMPLE_ROSTER))

    assert result.code == 0, result.err
    assert "nothing changed" in result.out


def test_cli_roster_import_invalid(cli: Cli, services: Services, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    lines = SAMPLE_ROSTER.read_text().splitlines()
    lines[2] = lines[2].replace(",DO,", ",Owner,")
    path.write_text("\n".join(lines) + "\n")

    result = cli("roster", "import", str(path))

    assert result.code == 1
    assert "error: line 3: role 'Owner' is unknown" in result.err
    assert "nothing was imported: fix the 1 error(s) above" in result.err
    assert audit_count(services) == 0


def test_cli_roster_import_missing_file(cli: Cli, services: Services, tmp_path: Path) -> None:
    result = cli("roster", "import", str(tmp_path / "absent.csv"))

    assert result.code == 1
    assert "cannot read" in result.err


def test_cli_roster_show(cli: Cli, roster: Services) -> None:
    result = cli("roster", "show")

    assert result.code == 0, result.err
    assert "Riverbend Family Clinic LLC  TIN ***-**-6789  NPI 1234567893" in result.out
    assert "Lakeside Cardiology PC  TIN ***-**-4321  NPI 1555555550, 1666666668" in result.out
    assert "Delegated Official: Marcus Lee <marcus.lee@riverbend.example>" in result.out
    assert "987654321" not in result.out


def test_cli_roster_show_npi(cli: Cli, roster: Services) -> None:
    result = cli("roster", "show", LAKESIDE_NPI)

    assert result.code == 0, result.err
    assert "Lakeside Cardiology PC" in result.out
    assert "Riverbend" not in result.out


def test_cli_roster_show_unknown_npi(cli: Cli, roster: Services) -> None:
    unknown = cli("roster", "show", "1245319599")
    malformed = cli("roster", "show", "1245319598")

    assert unknown.code == 1
    assert "no organization has NPI 1245319599" in unknown.err
    assert malformed.code == 2
    assert "wrong check digit" in malformed.err


def test_cli_roster_show_empty(cli: Cli, services: Services) -> None:
    result = cli("roster", "show")

    assert result.code == 0
    assert "no organizations yet" in result.out


def test_cli_admin_add_and_list(cli: Cli, services: Services) -> None:
    added = cli("admin", "add", "Ops@Example.org", "--name", "Operations")
    again = cli("admin", "add", "ops@example.org")
    listed = cli("admin", "list")

    assert added.code == 0, added.err
    assert added.out == "ops@example.org is now an admin\n"
    assert again.out == "ops@example.org is already an admin\n"
    assert listed.out == "Operations <ops@example.org>\n"


def test_cli_admin_list_empty(cli: Cli, services: Services) -> None:
    result = cli("admin", "list")

    assert result.code == 0
    assert "no admins yet" in result.out


def test_cli_admin_add_invalid_email(cli: Cli, services: Services) -> None:
    result = cli("admin", "add", "ops")

    assert result.code == 2
    assert "email 'ops' is invalid" in result.err


def test_cli_audit_verify_then_tamper(cli: Cli, roster: Services) -> None:
    intact = cli("audit", "verify")
    with roster.db.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="intruder"))
    broken = cli("audit", "verify")

    assert intact.code == 0, intact.err
    assert intact.out == "audit log intact: 6 entries verified\n"
    assert broken.code == 1
    assert broken.err.startswith("audit log broken at entry 2: entry 2 was edited")


def _activity_after_import(sample: SampleRoster) -> None:
    """Decide one request in each organization three days after the roster import."""
    services = sample.services
    services.clock.advance(dt.timedelta(days=3))
    riverbend_request = submit(services, sample.nurse, sample.riverbend)
    services.workflow.approve(riverbend_request, sample.dana)
    lakeside_request = submit(services, sample.nurse, sample.lakeside)
    services.workflow.reject(lakeside_request, sample.tom, "Not on staff")


def test_cli_audit_export_jsonl(cli: Cli, sample: SampleRoster) -> None:
    _activity_after_import(sample)
    since = (START + dt.timedelta(days=1)).date().isoformat()

    result = cli(
        "audit", "export", "--format", "jsonl", "--organization", RIVERBEND_NPI, "--since", since
    )

    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [row["action"] for row in rows] == ["request.submitted", "request.approved"]
    assert {row["organization_id"] for row in rows} == {sample.riverbend}


def test_cli_audit_export_csv(cli: Cli, sample: SampleRoster) -> None:
    _activity_after_import(sample)
    since = (START + dt.timedelta(days=1)).date().isoformat()

    result = cli(
        "audit", "export", "--format", "csv", "--organization", LAKESIDE_NPI, "--since", since
    )

    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["action"] for row in rows] == ["request.submitted", "request.rejected"]
    assert json.loads(rows[1]["details"]) == {"reason": "Not on staff", "via": "slack"}


def test_cli_audit_export_without_filters(cli: Cli, sample: SampleRoster) -> None:
    _activity_after_import(sample)

    result = cli("audit", "export")

    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == audit_count(sample.services)


def test_cli_audit_export_bad_since(cli: Cli, roster: Services) -> None:
    result = cli("audit", "export", "--since", "12/02/2026")

    assert result.code == 2
    assert "--since '12/02/2026' is not a date: use YYYY-MM-DD" in result.err
