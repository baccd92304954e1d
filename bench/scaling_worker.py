"""One measured reminder sweep or digest, in a fresh process so that its peak memory is its own.

Run by bench.scaling as
`python -m bench.scaling_worker --database-url URL --task {sweep,digest} --at ISO-TIME`.
It prints one JSON line with the seconds taken, the SQL statements executed, the
resident set size before the task and the peak resident set size during it. A
before_cursor_execute listener counts the statements, so BEGIN counts on SQLite and
COMMIT counts on neither database.

The peak is VmHWM from /proc/self/status after writing 5 to /proc/self/clear_refs,
which resets it (Linux 4.0 and later), so start-up's own peak does not hide the
task's. Where that file is not writable, the peak is getrusage's ru_maxrss, which
includes start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import resource
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.clock import FixedClock
from bot.services import Services
from bot.settings import Settings


def _status_mib(field: str) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def reset_peak_rss() -> str:
    """Reset the peak resident set size; return how the peak will be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return "ru_maxrss"
    return "VmHWM"


def peak_rss_mib(method: str) -> float:
    if method == "VmHWM":
        peak = _status_mib("VmHWM")
        if peak is not None:
            return peak
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(database_url: str, task: str, at: dt.datetime) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        COSIGNER_ADMIN_CHANNEL="C0ADMINS",
    )
    services = Services.build(settings, clock=FixedClock(at))
    # Import the task's modules and open a connection before the baseline is taken.
    from bot.digest import build_digest
    from bot.reminders import run_sweep

    services.db.ping()
    statements = 0

    def count(*args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(services.db.engine, "before_cursor_execute", count)
    baseline = _status_mib("VmRSS") or 0.0
    method = reset_peak_rss()
    started = time.perf_counter()
    details: dict[str, Any]
    if task == "sweep":
        report = run_sweep(services, at)
        details = {
            "expired": len(report.expired),
            "reminders": len(report.reminders),
            "reminded_requests": report.reminded_requests,
            "escalations": len(report.escalations),
            "organizations_open": report.organizations_open,
        }
    else:
        digest = build_digest(services, at)
        details = {
            "pending_total": digest.pending_total,
            "organizations_with_pending": digest.organizations_with_pending,
            "decisions_in_window": digest.decisions_in_window,
        }
    seconds = time.perf_counter() - started
    services.close()
    return {
        "seconds": seconds,
        "statements": statements,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak_rss_mib(method),
        "peak_method": method,
        "details": details,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure one reminder sweep or digest.")
    parser.add_argument("--database-url", required=True, help="the bulk-loaded database")
    parser.add_argument("--task", choices=("sweep", "digest"), required=True)
    parser.add_argument("--at", required=True, help="the sweep's or digest's time, ISO 8601 UTC")
    args = parser.parse_args()
    at = dt.datetime.fromisoformat(args.at)
    print(json.dumps(measure(args.database_url, args.task, at)), flush=True)


if __name__ == "__main__":
    main()
