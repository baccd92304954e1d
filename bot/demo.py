"""`cosigner demo`: the whole approval story against a local Slack, printed as a transcript.

It runs the real server (Bolt over HTTP with signed requests, SQLite, the outbox and
the Slack transport) on loopback; only Slack is the project's local one.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import audit
from bot.localstack import ADMIN_CHANNEL, LocalStack
from handlers.slack.localslack import PostedMessage
from storage import repo

SAMPLE_ROSTER = Path(__file__).parent / "data" / "sample_roster.csv"
RIVERBEND_NPI = "1234567893"
LAKESIDE_NPI = "1555555550"

# The demo's Slack users: id, handle, name, email, and what they are in the story.
CAST = (
    ("U0DANA", "dana", "Dana Whitfield", "dana.whitfield@riverbend.example", "AO, Riverbend"),
    ("U0MARCUS", "marcus", "Marcus Lee", "marcus.lee@riverbend.example", "DO, Riverbend"),
    ("U0PRIYA", "priya", "Priya Raman", "priya.raman@lakeside.example", "AO, Lakeside"),
    ("U0TOM", "tom", "Tom Becker", "tom.becker@lakeside.example", "DO, Lakeside"),
    ("U0NINA", "nina", "Nina Alvarez", "nina.alvarez@riverbend.example", "front-desk staff"),
    ("U0SAM", "sam", "Sam Ortiz", "sam.ortiz@acmebilling.example", "Acme Billing, surrogate"),
    ("U0OMAR", "omar", "Omar Haddad", "omar.haddad@elsewhere.example", "not in any roster"),
)
ROLES = {user_id: role for user_id, _, _, _, role in CAST}
NAMES = {user_id: name for user_id, _, name, _, _ in CAST}


ROLE_OPTION_LABELS = {"staff": "Staff End User", "surrogacy": "Surrogate"}


class StoryFailed(Exception):
    """A demo step whose result differs from the story."""


class Transcript:
    def __init__(self, out: io.TextIOBase | Any) -> None:
        self.out = out
        self.step = 0

    def chapter(self, title: str) -> None:
        self.step += 1
        self.out.write(f"\n{'=' * 78}\n{self.step}. {title}\n{'=' * 78}\n")

    def say(self, text: str) -> None:
        self.out.write(textwrap.fill(text, width=78) + "\n")

    def saw(
        self, user_id: str, how: str, blocks: list[dict[str, Any]] | None, text: str = ""
    ) -> None:
        who = f"{NAMES.get(user_id, user_id)} ({ROLES.get(user_id, user_id)})"
        self.out.write(f"\n--- {who} sees {how} ---\n")
        rendered = render_blocks(blocks) if blocks else text
        for line in rendered.splitlines():
            self.out.write(f"  | {line}\n")


def render_blocks(blocks: list[dict[str, Any]]) -> str:
    """Render Block Kit as plain text, roughly as Slack lays it out."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"## {block['text']['text']}")
        elif kind == "section":
            if "text" in block:
                lines.extend(_unescape(block["text"]["text"]).splitlines())
            for field in block.get("fields", []):
                lines.append(_unescape(field["text"]).replace("\n", ": ", 1))
        elif kind == "context":
            lines.append("  " + " ".join(_unescape(e.get("text", "")) for e in block["elements"]))
        elif kind == "actions":
            lines.append(
                "  "
                + "  ".join(f"[ {e['text']['text']} ]" for e in block["elements"] if "text" in e)
            )
        elif kind == "input":
            lines.append(f"  {block['label']['text']}: ____")
        elif kind == "divider":
            lines.append("  " + "-" * 40)
    return "\n".join(lines)


MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def _unescape(text: str) -> str:
    """Show mentions as @Name and entities as the characters a reader sees in Slack."""
    text = MENTION.sub(lambda match: "@" + NAMES.get(match.group(1), match.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def _expect(
    what: str, check: Callable[[], Any], stack: LocalStack, timeout: float = 10
) -> Any:
    try:
        return await stack.slack.wait_for(check, timeout=timeout)
    except TimeoutError as error:
        raise StoryFailed(f"{what}: {error}") from error


def _card(stack: LocalStack, user_id: str, request_id: str) -> Callable[[], PostedMessage | None]:
    def find() -> PostedMessage | None:
        for message in stack.slack.dm_messages(user_id):
            if request_id in message.text and message.thread_ts is None:
                return message
        return None

    return find


def _updated(
    stack: LocalStack, card: PostedMessage, word: str
) -> Callable[[], PostedMessage | None]:
    def find() -> PostedMessage | None:
        current = stack.slack.message(card.channel, card.ts)
        return current if word in str(current.blocks) else None

    return find


def _organization_name(stack: LocalStack, organization_id: int) -> str:
    from storage.models import Organization

    with stack.services.db.transaction() as session:
        organization = session.get(Organization, organization_id)
        return organization.legal_name if organization else str(organization_id)


def _organization_id(stack: LocalStack, npi: str) -> int:
    with stack.services.db.transaction() as session:
        organization = repo.organization_by_npi(session, npi)
        if organization is None:
            raise StoryFailed(f"the roster did not create the organization with NPI {npi}")
        return organization.id


async def _request(
    stack: LocalStack, out: Transcript, user_id: str, inputs: dict[str, dict[str, Any]]
) -> str:
    response = await stack.sender.slash_command(user_id, "request")
    if response.status != 200:
        raise StoryFailed(f"/access request returned HTTP {response.status}")
    views = await _expect("the request form opens", lambda: stack.slack.open_views(user_id), stack)
    out.saw(user_id, "the form after typing /access request", views[-1].view["blocks"])
    entered = {
        "organization": "Organization",
        "role": "Role requested",
        "justification": "Justification",
        "surrogate_org": "Surrogate organization",
        "products": "Products",
    }
    typed = []
    for block_id, label in entered.items():
        for value in inputs.get(block_id, {}).values():
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            if block_id == "organization":
                shown = _organization_name(stack, int(shown))
            if block_id == "role":
                shown = ROLE_OPTION_LABELS.get(shown, shown)
            typed.append(f"{label}: {shown}")
    out.say(f"{NAMES[user_id]} fills in the form. " + "; ".join(typed))
    submitted = await stack.sender.submit_last_view(user_id, inputs)
    body = submitted.json() or {}
    if body.get("response_action") != "update":
        raise StoryFailed(f"the form was not accepted: {submitted.body}")
    out.saw(user_id, "after pressing Submit", body["view"]["blocks"])
    return str(body["view"]["blocks"][0]["text"]["text"]).split("*")[1]


async def tell_story(stack: LocalStack, out: Transcript) -> None:
    for user_id, handle, name, email, _ in CAST:
        stack.slack.add_user(user_id, handle, email, real_name=name)

    out.chapter("An admin imports the organizations' officials from their enrollment records")
    report = stack.services.roster.import_file(SAMPLE_ROSTER)
    if not report.ok:
        raise StoryFailed("the sample roster did not import: " + "; ".join(report.errors))
    out.say(
        f"cosigner roster import {SAMPLE_ROSTER.name}: {report.rows} rows, "
        f"{report.organizations_created} organizations, {report.grants_created} officials."
    )
    out.say(
        "Riverbend Family Clinic: Dana Whitfield (AO), Marcus Lee (DO). "
        "Lakeside Cardiology: Priya Raman (AO), Tom Becker (DO)."
    )

    out.chapter("Nina, front-desk staff at Riverbend, asks for Staff End User access")
    riverbend = str(_organization_id(stack, RIVERBEND_NPI))
    staff_request = await _request(
        stack,
        out,
        "U0NINA",
        {
            "organization": {"organization_select": riverbend},
            "role": {"role_select": "staff"},
            "justification": {
                "justification_input": "I check Medicare eligibility and enrollment status "
                "for new patients at the front desk."
            },
        },
    )

    out.chapter("Both Riverbend officials, the AO and the DO, get a card in a direct message")
    dana_card = await _expect("Dana gets a card", _card(stack, "U0DANA", staff_request), stack)
    marcus_card = await _expect(
        "Marcus gets a card", _card(stack, "U0MARCUS", staff_request), stack
    )
    out.saw("U0DANA", "in her DM with Cosigner", dana_card.blocks)
    out.saw("U0MARCUS", "in his DM with Cosigner", marcus_card.blocks)

    out.chapter("Omar, who is no official of Riverbend, clicks Approve on a card")
    await stack.sender.click("U0OMAR", dana_card, "request_approve")
    refusal = await _expect("Omar is refused", lambda: stack.slack.ephemerals("U0OMAR"), stack)
    out.saw("U0OMAR", "privately (only he sees it)", refusal[-1].blocks, refusal[-1].text)
    status = stack.services.workflow.get(staff_request)
    if status is None or status.status != "pending":
        raise StoryFailed("the outsider's click changed the request")
    out.say(f"{staff_request} is still pending: the click changed nothing.")

    out.chapter("Marcus, the DO, approves; every card and the requester are brought up to date")
    await stack.sender.click("U0MARCUS", marcus_card, "request_approve")
    marcus_after = await _expect(
        "Marcus's card shows the approval", _updated(stack, marcus_card, "Approved"), stack
    )
    dana_after = await _expect(
        "Dana's card shows the approval", _updated(stack, dana_card, "Approved"), stack
    )
    out.saw("U0MARCUS", "his card, updated", marcus_after.blocks)
    out.saw("U0DANA", "her card, updated: the buttons are gone", dana_after.blocks)
    told = await _expect(
        "Nina is told",
        lambda: [m for m in stack.slack.dm_messages("U0NINA") if staff_request in m.text],
        stack,
    )
    out.saw("U0NINA", "in her DM with Cosigner", told[-1].blocks)

    out.chapter("Sam of Acme Billing asks for a surrogacy connection to Lakeside Cardiology")
    lakeside = str(_organization_id(stack, LAKESIDE_NPI))
    surrogacy = await _request(
        stack,
        out,
        "U0SAM",
        {
            "organization": {"organization_select": lakeside},
            "role": {"role_select": "surrogacy"},
            "justification": {
                "justification_input": "Acme Billing files Lakeside's revalidations and "
                "updates its practice locations."
            },
            "surrogate_org": {"surrogate_org_input": "Acme Billing Services LLC"},
            "products": {"products_select": ["PECOS", "NPPES"]},
        },
    )
    priya_card = await _expect("Priya gets a card", _card(stack, "U0PRIYA", surrogacy), stack)
    tom_card = await _expect("Tom gets a card", _card(stack, "U0TOM", surrogacy), stack)
    out.saw("U0PRIYA", "in her DM with Cosigner", priya_card.blocks)
    out.saw("U0TOM", "in his DM with Cosigner: the same card", tom_card.blocks)

    out.chapter("Priya, the AO, rejects it with a reason")
    await stack.sender.click("U0PRIYA", priya_card, "request_reject")
    reject_form = await _expect(
        "the reason form opens", lambda: stack.slack.open_views("U0PRIYA"), stack
    )
    out.saw("U0PRIYA", "the rejection form", reject_form[-1].view["blocks"])
    reason = "Lakeside has not signed a billing agreement with Acme; send it to me first."
    await stack.sender.submit_last_view("U0PRIYA", {"reason": {"reason_input": reason}})
    tom_after = await _expect(
        "Tom's card shows the rejection", _updated(stack, tom_card, "Rejected"), stack
    )
    await _expect(
        "Priya's card shows the rejection", _updated(stack, priya_card, "Rejected"), stack
    )
    out.saw("U0TOM", "his card, updated", tom_after.blocks)
    sam_told = await _expect(
        "Sam is told",
        lambda: [m for m in stack.slack.dm_messages("U0SAM") if surrogacy in m.text],
        stack,
    )
    out.saw("U0SAM", "in his DM with Cosigner", sam_told[-1].blocks)

    out.chapter("Tom clicks Approve on his old copy of the card, too late")
    await stack.sender.click("U0TOM", tom_card, "request_approve")
    late = await _expect("Tom is told who decided", lambda: stack.slack.ephemerals("U0TOM"), stack)
    out.saw("U0TOM", "privately", late[-1].blocks, late[-1].text)

    out.chapter("The audit log, and its verification")
    with stack.services.db.transaction() as session:
        for entry in audit.select_entries(session):
            details = ", ".join(f"{k}={v}" for k, v in sorted(entry.details.items()))
            out.out.write(
                f"  #{entry.seq:<3} {entry.at:%H:%M:%S} {entry.action:<18} "
                f"{entry.request_id or '-':<10} {entry.actor}\n"
            )
            out.out.write(textwrap.indent(textwrap.fill(details, width=70), "        ") + "\n")
        result = audit.verify(session)
    if not result.ok:
        raise StoryFailed(f"the audit log does not verify: {result.problem}")
    out.say(f"cosigner audit verify: audit log intact, {result.checked} entries verified.")
    admin_posts = stack.slack.messages(ADMIN_CHANNEL)
    out.say(f"Admin channel messages: {len(admin_posts)} (no request lacked an approver).")


async def _run(out: Transcript, workdir: Path) -> None:
    stack = LocalStack(f"sqlite:///{workdir / 'demo.db'}", post_interval=0.0)
    await stack.start()
    try:
        out.say(
            f"Cosigner is serving Slack at {stack.url}/slack/events; a local Slack on "
            f"{stack.slack.base_url} plays Slack, signing every request as Slack does. "
            "The database is a new SQLite file."
        )
        await tell_story(stack, out)
    finally:
        await stack.stop()


def run_demo() -> int:
    # The transcript is the output; keep the server's own logs to warnings.
    logging.getLogger().setLevel(logging.WARNING)
    out = Transcript(sys.stdout)
    with tempfile.TemporaryDirectory(prefix="cosigner-demo-") as workdir:
        try:
            asyncio.run(_run(out, Path(workdir)))
        except StoryFailed as error:
            print(f"\ndemo failed: {error}", file=sys.stderr)
            return 1
    print("\nThe demo finished: every step happened as described.")
    return 0
