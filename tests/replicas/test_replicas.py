"""Several `cosigner serve` replicas on one PostgreSQL: races, crashes and Slack faults."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from sqlalchemy import func, select

from bot.domain import RequestKind
from bot.people import ChatProfile
from storage import repo
from storage.models import AuditEntry, Card, OutboxMessage
from tests.replicas.conftest import Cluster
from tests.slack.conftest import DANA, MARCUS, RIVERBEND_NPI

REQUESTS = 100


def make_requests(cluster: Cluster, count: int, prefix: str = "S") -> list[str]:
    """Submit `count` staff requests to Riverbend from as many new Slack users."""
    with cluster.services.db.transaction() as session:
        organization = repo.organization_by_npi(session, RIVERBEND_NPI)
        assert organization is not None
        organization_id = organization.id
    ids = []
    for index in range(count):
        user_id = f"U{prefix}{index:04d}"
        email = f"staff{prefix.lower()}{index}@riverbend.example"
        cluster.slack.add_user(user_id, f"staff{index}", email, real_name=f"Staff {index}")
        person = cluster.services.people.link(
            ChatProfile("slack", user_id, "T0LOCAL", f"Staff {index}", email)
        )
        result = cluster.services.workflow.submit(
            requester_id=person.id,
            organization_id=organization_id,
            kind=RequestKind.STAFF,
            justification=f"Eligibility checks, desk {index}",
        )
        assert result.request is not None, result.message
        ids.append(result.request.id)
    return ids


def fake_card(channel: str, ts: str) -> dict[str, object]:
    return {"type": "message", "ts": ts, "channel": channel, "text": "card", "blocks": []}


def reject_view(request_id: str) -> dict[str, object]:
    return {
        "id": f"V{request_id[-5:]}",
        "type": "modal",
        "callback_id": "access_reject",
        "private_metadata": json.dumps({"request_id": request_id, "channel": None, "ts": None}),
        "blocks": [],
    }


async def wait_until(check, timeout: float = 60, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def outbox_settled(cluster: Cluster) -> bool:
    with cluster.services.db.transaction() as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
        return pending == 0


async def test_replicas_decide_each_request_once(cluster: Cluster) -> None:
    first = await cluster.start_replica("a")
    second = await cluster.start_replica("b")
    approve_via_first = cluster.sender(first)
    reject_via_second = cluster.sender(second)
    request_ids = make_requests(cluster, REQUESTS)
    dana_dm = cluster.slack.dm_channel_id(DANA)

    async def race(request_id: str) -> tuple[int, int, str]:
        approve = approve_via_first.block_action(
            DANA,
            "request_approve",
            request_id,
            message=fake_card(dana_dm, "1700000000.000100"),
            channel_id=dana_dm,
        )
        reject = reject_via_second.view_submission(
            MARCUS,
            reject_view(request_id),
            {"reason": {"reason_input": {"type": "plain_text_input", "value": "Not needed"}}},
        )
        approved, rejected = await asyncio.gather(approve, reject)
        return approved.status, rejected.status, rejected.body

    outcomes = []
    for start in range(0, len(request_ids), 10):
        batch = request_ids[start : start + 10]
        outcomes += await asyncio.gather(*(race(request_id) for request_id in batch))
    assert all(approved == 200 and rejected == 200 for approved, rejected, _ in outcomes)

    with cluster.services.db.transaction() as session:
        decisions = Counter(
            session.scalars(
                select(AuditEntry.request_id).where(
                    AuditEntry.action.in_(["request.approved", "request.rejected"])
                )
            )
        )
    assert sorted(decisions) == sorted(request_ids)
    assert set(decisions.values()) == {1}

    statuses = Counter()
    for (_, _, reject_body), request_id in zip(outcomes, request_ids, strict=True):
        request = cluster.services.workflow.get(request_id)
        assert request is not None
        statuses[request.status] += 1
        if request.status == "approved":
            assert "already approved by Dana Whitfield" in reject_body
    assert statuses["approved"] + statuses["rejected"] == REQUESTS

    # Every approval that lost got a private message naming who rejected the request.
    told = [
        r
        for r in cluster.slack.responses()
        if f"already rejected by <@{MARCUS}>" in (r.text or "") and r.user_id == DANA
    ]
    assert len(told) == statuses["rejected"]


async def test_killed_replica_leaves_nothing_stuck(cluster: Cluster) -> None:
    cluster.slack.set_delay("chat.postMessage", 20)
    doomed = await cluster.start_replica("doomed", COSIGNER_OUTBOX_LEASE="5")
    request_ids = make_requests(cluster, 5, prefix="K")

    def claimed_by_doomed() -> bool:
        with cluster.services.db.transaction() as session:
            claimed = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.claimed_by.like(f"%:{doomed.process.pid}"),
                )
            )
            return bool(claimed)

    await wait_until(claimed_by_doomed, timeout=30)
    doomed.kill()
    await doomed.process.wait()
    cluster.slack.clear_delays()
    await cluster.start_replica("survivor", COSIGNER_OUTBOX_LEASE="5")
    await wait_until(lambda: outbox_settled(cluster), timeout=60)

    posted = Counter(
        (message.channel, request_id)
        for message in cluster.slack.messages()
        for request_id in request_ids
        if request_id in message.text and "Access request" in message.text
    )
    assert len(posted) == 2 * len(request_ids)
    assert set(posted.values()) == {1}
    with cluster.services.db.transaction() as session:
        cards = session.scalar(select(func.count()).select_from(Card))
        failed = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
        )
    assert cards == 2 * len(request_ids)
    assert failed == 0


async def test_slack_faults_lose_nothing(cluster: Cluster) -> None:
    await cluster.start_replica("a")
    await cluster.start_replica("b")
    cluster.slack.fail_next("chat.postMessage", status=429, count=4, retry_after=1)
    cluster.slack.fail_for("chat.postMessage", 3, status=500)
    request_ids = make_requests(cluster, 8, prefix="F")
    await wait_until(lambda: outbox_settled(cluster), timeout=90)

    cards = Counter(
        (message.channel, request_id)
        for message in cluster.slack.messages()
        for request_id in request_ids
        if request_id in message.text
    )
    assert len(cards) == 2 * len(request_ids)
    assert set(cards.values()) == {1}
    failures = [c for c in cluster.slack.calls("chat.postMessage") if c.status in (429, 500)]
    assert failures


async def test_lost_database_answers_try_again(cluster: Cluster) -> None:
    from sqlalchemy.engine import make_url

    from tests.replicas.tcp_proxy import TcpProxy

    database = make_url(cluster.database_url)
    proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
    await proxy.start()
    proxied_url = database.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    replica = await cluster.start_replica("proxied", DATABASE_URL=proxied_url)
    sender = cluster.sender(replica)
    (request_id,) = make_requests(cluster, 1, prefix="D")
    dana_dm = cluster.slack.dm_channel_id(DANA)
    card = fake_card(dana_dm, "1700000000.000200")

    await proxy.cut()
    clicked = await sender.block_action(
        DANA, "request_approve", request_id, message=card, channel_id=dana_dm
    )
    assert clicked.status == 200
    replies = [r.text or "" for r in cluster.slack.responses() if r.user_id == DANA]
    assert any("try again" in text for text in replies)
    still = cluster.services.workflow.get(request_id)
    assert still is not None
    assert still.status == "pending"

    await proxy.restore()
    clicked_again = await sender.block_action(
        DANA, "request_approve", request_id, message=card, channel_id=dana_dm
    )
    assert clicked_again.status == 200
    decided = cluster.services.workflow.get(request_id)
    assert decided is not None
    assert decided.status == "approved"
    assert "database unavailable" in replica.log()
    await proxy.cut()


async def test_replicas_migrate_new_database_once(postgres_server: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three processes start at once on an empty database; one migrates, all succeed."""
    import secrets
    import sys

    import psycopg

    from storage.db import Database, current_revision, head_revision
    from tests.conftest import POSTGRES_ADMIN_URL
    from tests.replicas.conftest import REPO_ROOT

    name = f"cosigner_fresh_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    try:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "db",
                "upgrade",
                cwd=REPO_ROOT,
                env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "HOME": str(tmp_path)},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = [await process.communicate() for process in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], outputs
        database = Database(url)
        assert current_revision(database.engine) == head_revision()
        with database.engine.connect() as connection:
            heads = connection.exec_driver_sql("SELECT count(*) FROM audit_head").scalar()
        database.dispose()
        assert heads == 1
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
