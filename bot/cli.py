"""The `cosigner` command."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError as SettingsValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot import audit
from bot.domain import ROLE_LABELS, Role, ValidationError, mask_tin, validate_npi
from bot.invitations import add_grant_commands, run_grant_command
from bot.services import Services
from bot.settings import ConfigurationError, Settings
from storage import repo

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosigner",
        description="Cosigner: PECOS I&A access approvals in Slack and Microsoft Teams.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations")
    db_commands.add_parser("current", help="print the applied migration revision")

    roster = commands.add_parser("roster", help="import and show organizations and officials")
    roster_commands = roster.add_subparsers(dest="roster_command", metavar="ACTION", required=True)
    roster_import = roster_commands.add_parser(
        "import", help="import a CSV of officials (all or nothing)"
    )
    roster_import.add_argument(
        "file",
        type=Path,
        help="CSV with the header organization,tin,npi,role,name,email and an optional "
        "timezone column",
    )
    roster_import.add_argument(
        "--restore-revoked",
        action="store_true",
        help="grant again the roles that were revoked since an earlier import",
    )
    roster_show = roster_commands.add_parser("show", help="list organizations and their officials")
    roster_show.add_argument("npi", nargs="?", help="show only the organization with this NPI")

    admin = commands.add_parser("admin", help="manage Cosigner admins")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    admin_add = admin_commands.add_parser("add", help="make a person an admin")
    admin_add.add_argument("email")
    admin_add.add_argument("--name", help="display name for a person not yet known")
    admin_remove = admin_commands.add_parser("remove", help="take admin rights away")
    admin_remove.add_argument("email")
    admin_commands.add_parser("list", help="list the admins")

    audit_parser = commands.add_parser("audit", help="verify and export the audit log")
    audit_commands = audit_parser.add_subparsers(
        dest="audit_command", metavar="ACTION", required=True
    )
    audit_commands.add_parser("verify", help="check the hash chain; exit 1 at the first bad entry")
    export = audit_commands.add_parser("export", help="write audit entries to stdout")
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--organization", metavar="NPI", help="only this organization's entries")
    export.add_argument(
        "--since", metavar="DATE", help="only entries at or after this date (YYYY-MM-DD, UTC)"
    )

    serve = commands.add_parser("serve", help="run the Slack (and Teams) web server")
    serve.add_argument(
        "--no-scheduler", action="store_true", help="do not run reminders and the digest here"
    )
    commands.add_parser("demo", help="run the whole story against a local Slack and exit")

    from bot.cli_schedule import add_schedule_commands

    add_schedule_commands(commands)
    add_grant_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except SettingsValidationError as error:
        for problem in error.errors():
            name = problem.get("loc", ("?",))[0]
            print(f"error: setting {name} is invalid: {problem['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic reports every connection's dialect, and APScheduler every job run, at INFO.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if args.command == "demo":
        from bot.demo import run_demo

        return run_demo()
    try:
        if args.command == "serve":
            from bot.server import serve

            return serve(settings, scheduler=not args.no_scheduler)
        services = Services.build(settings)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OperationalError as error:
        print(database_error(settings, error), file=sys.stderr)
        return 1
    try:
        return dispatch(args, services)
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OperationalError as error:
        print(database_error(settings, error), file=sys.stderr)
        return 1
    finally:
        services.close()


def database_error(settings: Settings, error: OperationalError) -> str:
    """Describe a failed database connection in one line, without the password."""
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    cause = str(error.orig or error).strip().splitlines()[0]
    return f"error: cannot use the database at {url}: {cause}. Check DATABASE_URL."


def dispatch(args: argparse.Namespace, services: Services) -> int:
    handler = {
        "db": run_db,
        "roster": run_roster,
        "admin": run_admin,
        "audit": run_audit,
        "grant": run_grant_command,
    }.get(args.command)
    if handler is None:
        from bot.cli_schedule import run_schedule_command

        return run_schedule_command(args, services)
    return handler(args, services)


def run_db(args: argparse.Namespace, services: Services) -> int:
    from storage.db import current_revision

    # Services.build already applied the migrations.
    print(f"database at revision {current_revision(services.db.engine)}")
    return 0


def run_roster(args: argparse.Namespace, services: Services) -> int:
    if args.roster_command == "import":
        services.roster.restore_revoked = args.restore_revoked
        report = services.roster.import_file(args.file)
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if not report.ok:
            for error in report.errors:
                print(f"error: {error}", file=sys.stderr)
            print(
                f"nothing was imported: fix the {len(report.errors)} error(s) above and run "
                "the import again",
                file=sys.stderr,
            )
            return 1
        if report.rows == 0:
            print("the file has a header but no rows: nothing to import")
        elif not report.changed:
            print(f"{report.rows} row(s) read; everything was already imported, nothing changed")
        else:
            print(
                f"{report.rows} row(s) imported: {report.organizations_created} organization(s) "
                f"created, {report.organizations_updated} updated, {report.people_created} "
                f"person(s) created, {report.grants_created} role(s) granted"
            )
        return 0
    return show_roster(services, args.npi)


def show_roster(services: Services, npi: str | None) -> int:
    with services.db.transaction() as session:
        if npi:
            organization = repo.organization_by_npi(session, validate_npi(npi))
            if organization is None:
                print(f"error: no organization has NPI {npi}", file=sys.stderr)
                return 1
            organizations = [organization]
        else:
            organizations = repo.organizations(session)
        if not organizations:
            print("no organizations yet: import a roster with `cosigner roster import FILE.csv`")
            return 0
        for organization in organizations:
            npis = ", ".join(n.npi for n in organization.npis)
            print(f"{organization.legal_name}  TIN {mask_tin(organization.tin)}  NPI {npis}")
            print(f"  timezone {organization.timezone}")
            grants = repo.active_grants(session, organization.id)
            for role in (Role.AO, Role.DO):
                holders = [g.person for g in grants if g.role == role]
                label = ROLE_LABELS[role]
                if not holders:
                    print(f"  {label}s: none")
                for person in holders:
                    print(f"  {label}: {person.name} <{person.email}>")
            staff = sum(1 for g in grants if g.role == Role.SEU)
            surrogates = sum(1 for g in grants if g.role in (Role.SURROGATE, Role.SURROGATE_STAFF))
            print(f"  staff: {staff}, surrogates: {surrogates}")
    return 0


def run_admin(args: argparse.Namespace, services: Services) -> int:
    if args.admin_command == "add":
        person, changed = services.people.add_admin(args.email, args.name)
        print(f"{person.email} is {'now' if changed else 'already'} an admin")
        return 0
    if args.admin_command == "remove":
        if services.people.remove_admin(args.email):
            print(f"{args.email.lower()} is no longer an admin")
            return 0
        print(f"error: {args.email} is not an admin", file=sys.stderr)
        return 1
    admins = services.people.admins()
    if not admins:
        print("no admins yet: add one with `cosigner admin add EMAIL`")
    for person in admins:
        print(f"{person.name} <{person.email}>")
    return 0


def run_audit(args: argparse.Namespace, services: Services) -> int:
    with services.db.transaction() as session:
        if args.audit_command == "verify":
            result = audit.verify(session)
            if result.ok:
                noun = "entry" if result.checked == 1 else "entries"
                print(f"audit log intact: {result.checked} {noun} verified")
                if result.checked == 0:
                    url = make_url(services.settings.database_url)
                    print(
                        "warning: the audit log is empty; if you expected entries, check "
                        f"DATABASE_URL ({url.render_as_string(hide_password=True)})",
                        file=sys.stderr,
                    )
                return 0
            print(
                f"audit log broken at entry {result.first_bad_seq}: {result.problem} "
                f"({result.checked} {'entry' if result.checked == 1 else 'entries'} "
                "before it verified)",
                file=sys.stderr,
            )
            return 1
        filters: dict[str, Any] = {}
        if args.organization:
            organization = repo.organization_by_npi(session, validate_npi(args.organization))
            if organization is None:
                print(f"error: no organization has NPI {args.organization}", file=sys.stderr)
                return 1
            filters["organization_id"] = organization.id
        if args.since:
            try:
                day = dt.date.fromisoformat(args.since)
            except ValueError:
                print(
                    f"error: --since {args.since!r} is not a date: use YYYY-MM-DD", file=sys.stderr
                )
                return 2
            filters["since"] = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        try:
            audit.write_export(audit.select_entries(session, **filters), sys.stdout, args.format)
        except BrokenPipeError:
            # The reader (`head`, say) stopped early; that is not an error of the export.
            sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
