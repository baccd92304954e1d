"""The append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so editing,
removing or reordering any entry breaks the chain from that entry on. The single
`audit_head` row contains the last sequence number and hash. Updating it first in the
transaction locks it, so concurrent appends queue up instead of forking the chain.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64


def entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    request_id: str | None,
    organization_id: int | None,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor_id": actor_id,
            "actor": actor,
            "action": action,
            "request_id": request_id,
            "organization_id": organization_id,
            "details": details,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    actor_id: int | None = None,
    request_id: str | None = None,
    organization_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction."""
    details = dict(details or {})
    # Round-trip through JSON so the hash covers exactly what the database stores.
    details = json.loads(json.dumps(details, default=str))
    at = at.astimezone(dt.UTC)
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    ).one()
    seq, prev_hash = head.last_seq, head.last_hash
    digest = entry_hash(
        seq=seq,
        at=at,
        actor_id=actor_id,
        actor=actor,
        action=action,
        request_id=request_id,
        organization_id=organization_id,
        details=details,
        prev_hash=prev_hash,
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor_id=actor_id,
        actor=actor,
        action=action,
        request_id=request_id,
        organization_id=organization_id,
        details=details,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest))
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(session: Session, batch_size: int = 5000) -> VerifyResult:
    """Walk the chain in order and report the first entry that breaks it."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in _entries_in_order(session, batch_size):
        if entry.seq != expected_seq:
            return VerifyResult(
                False,
                checked,
                expected_seq,
                f"entry {expected_seq} is missing (the next stored entry is {entry.seq}): "
                "an entry was removed",
            )
        if entry.prev_hash != expected_prev:
            return VerifyResult(
                False,
                checked,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1}: "
                "entries were removed or reordered",
            )
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor_id=entry.actor_id,
            actor=entry.actor,
            action=entry.action,
            request_id=entry.request_id,
            organization_id=entry.organization_id,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            return VerifyResult(
                False, checked, entry.seq, f"entry {entry.seq} was edited: its hash does not match"
            )
        expected_prev = entry.hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_seq != checked or head.last_hash != expected_prev):
        return VerifyResult(
            False,
            checked,
            checked + 1,
            f"the log ends at entry {checked} but {head.last_seq} were written: "
            "entries at the end were removed",
        )
    return VerifyResult(True, checked)


def _entries_in_order(session: Session, batch_size: int) -> Iterator[AuditEntry]:
    last = 0
    while True:
        batch = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(batch_size)
            )
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].seq
        session.expunge_all()


EXPORT_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "action",
    "request_id",
    "organization_id",
    "details",
    "prev_hash",
    "hash",
)


def select_entries(
    session: Session, *, organization_id: int | None = None, since: dt.datetime | None = None
) -> Iterator[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if organization_id is not None:
        query = query.where(AuditEntry.organization_id == organization_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    yield from session.scalars(query.execution_options(yield_per=1000))


def export_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "request_id": entry.request_id,
        "organization_id": entry.organization_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def write_export(entries: Iterable[AuditEntry], out: io.TextIOBase | Any, fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for entry in entries:
            row = export_row(entry)
            row["details"] = json.dumps(row["details"], sort_keys=True, ensure_ascii=False)
            writer.writerow(row)
            count += 1
    elif fmt == "jsonl":
        for entry in entries:
            out.write(json.dumps(export_row(entry), ensure_ascii=False) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}: use csv or jsonl")
    return count
