"""Bulk-loaded organizations, officials and pending requests for the HTTP benchmarks.

Every organization has one Authorized Official and one Delegated Official, and every
pending request has its own requester, so that the requester notices of many decisions
do not queue behind Slack's one-message-per-second limit of a single DM channel. Every
person has a linked Slack account, as after their first interaction with the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from bench.common import bulk_insert, fix_postgres_sequences, request_id
from bench.slack_process import TEAM_ID, SlackProcess
from storage.db import Database

ADMIN_PERSON_ID = 1
ADMIN_USER = "U0ADMIN"


@dataclass(frozen=True)
class PendingRequest:
    request_id: str
    organization_id: int
    approver_user: str  # the organization's AO
    approver_person_id: int
    other_approver_person_id: int  # the organization's DO
    requester_user: str
    requester_person_id: int


@dataclass
class Population:
    requests: list[PendingRequest]
    # Slack users as (user id, name, email), for the local Slack.
    users: list[tuple[str, str, str]]


def ao_user(organization_id: int) -> str:
    return f"UA{organization_id:06d}"


def do_user(organization_id: int) -> str:
    return f"UD{organization_id:06d}"


def requester_user(number: int) -> str:
    return f"UR{number:07d}"


def load_population(
    database_url: str, *, organizations: int, requests: int, now: dt.datetime
) -> Population:
    """Load organizations with an AO and a DO each, and pending staff requests, into a database."""
    people: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    users: list[tuple[str, str, str]] = []

    def add_person(person_id: int, user_id: str, name: str, *, is_admin: bool = False) -> None:
        email = f"{user_id.lower()}@bench.example"
        people.append(
            {"id": person_id, "name": name, "email": email, "is_admin": is_admin, "created_at": now}
        )
        accounts.append(
            {
                "id": person_id,
                "person_id": person_id,
                "platform": "slack",
                "user_id": user_id,
                "workspace_id": TEAM_ID,
                "deactivated": False,
                "updated_at": now,
            }
        )
        users.append((user_id, name, email))

    add_person(ADMIN_PERSON_ID, ADMIN_USER, "Bench Admin", is_admin=True)
    orgs, npis, grants = [], [], []
    for organization_id in range(1, organizations + 1):
        orgs.append(
            {
                "id": organization_id,
                "legal_name": f"Bench Clinic {organization_id}",
                "tin": f"{100000000 + organization_id}",
                "timezone": "America/New_York",
                "created_at": now,
            }
        )
        npis.append({"npi": f"{1000000000 + organization_id}", "organization_id": organization_id})
        for offset, role, user_of in ((0, "AO", ao_user), (1, "DO", do_user)):
            person_id = 2 * organization_id + offset
            add_person(person_id, user_of(organization_id), f"{role} of clinic {organization_id}")
            grants.append(
                {
                    "organization_id": organization_id,
                    "person_id": person_id,
                    "role": role,
                    "surrogate_org": "",
                    "products": [],
                    "granted_at": now,
                    "source": "roster",
                }
            )

    pending: list[PendingRequest] = []
    request_rows = []
    first_requester_id = 2 * organizations + 2
    for number in range(requests):
        organization_id = number % organizations + 1
        person_id = first_requester_id + number
        user_id = requester_user(number)
        add_person(person_id, user_id, f"Requester {number}")
        identifier = request_id(number)
        request_rows.append(
            {
                "id": identifier,
                "kind": "staff",
                "organization_id": organization_id,
                "requester_id": person_id,
                "justification": "Front desk eligibility checks for the benchmark",
                "surrogate_org": "",
                "products": [],
                "status": "pending",
                "created_at": now - dt.timedelta(minutes=30),
            }
        )
        pending.append(
            PendingRequest(
                request_id=identifier,
                organization_id=organization_id,
                approver_user=ao_user(organization_id),
                approver_person_id=2 * organization_id,
                other_approver_person_id=2 * organization_id + 1,
                requester_user=user_id,
                requester_person_id=person_id,
            )
        )

    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            bulk_insert(connection, "organizations", orgs)
            bulk_insert(connection, "organization_npis", npis)
            bulk_insert(connection, "people", people)
            bulk_insert(connection, "chat_accounts", accounts)
            bulk_insert(connection, "grants", grants)
            bulk_insert(connection, "requests", request_rows)
    finally:
        db.dispose()
    fix_postgres_sequences(database_url)
    return Population(pending, users)


async def post_cards(
    database_url: str,
    slack: SlackProcess,
    requests: list[PendingRequest],
    now: dt.datetime,
    concurrency: int = 8,
) -> int:
    """Post each request's card to its AO and DO in the local Slack and record the cards.

    Returns the number of cards. The cards are plain messages that stand for the cards
    Cosigner posts; a decision's chat.update replaces them with Cosigner's own blocks.
    """
    semaphore = asyncio.Semaphore(concurrency)
    cards: list[dict[str, Any]] = []

    async def post(request: PendingRequest, user_id: str, person_id: int) -> None:
        text = f"Access request {request.request_id}: Staff End User"
        message = {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }
        async with semaphore:
            response = await slack.post_message(user_id, message)
        cards.append(
            {
                "request_id": request.request_id,
                "platform": "slack",
                "person_id": person_id,
                "channel": response["channel"],
                "message_id": response["ts"],
                "shown_status": "pending",
                "created_at": now,
                "updated_at": now,
            }
        )

    await asyncio.gather(
        *(
            post(request, user_id, person_id)
            for request in requests
            for user_id, person_id in (
                (request.approver_user, request.approver_person_id),
                (do_user(request.organization_id), request.other_approver_person_id),
            )
        )
    )
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            bulk_insert(connection, "cards", cards)
    finally:
        db.dispose()
    fix_postgres_sequences(database_url)
    return len(cards)
