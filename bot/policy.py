"""The authority table: which roles may decide each request kind. Every check uses it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import KIND_LABELS, RequestKind, Role

# For each request kind, the organization roles whose holders may approve, reject
# or revoke it. An Authorized Official designation is decided by a Cosigner admin
# instead, who acts for CMS in validating the AO.
APPROVER_ROLES: dict[RequestKind, frozenset[Role]] = {
    RequestKind.STAFF: frozenset({Role.AO, Role.DO}),
    RequestKind.SURROGACY: frozenset({Role.AO, Role.DO}),
    RequestKind.SURROGATE_STAFF: frozenset({Role.AO, Role.DO}),
    # A DO never approves another DO.
    RequestKind.DELEGATED_OFFICIAL: frozenset({Role.AO}),
    RequestKind.AUTHORIZED_OFFICIAL: frozenset(),
}

ADMIN_DECIDES: frozenset[RequestKind] = frozenset({RequestKind.AUTHORIZED_OFFICIAL})

# The PECOS filings each role may sign, shown by the help text only. Nothing enforces them.
PECOS_SIGNING = (
    ("Initial enrollment", "Authorized Official only"),
    ("Changes, updates and revalidations", "Authorized Official or Delegated Official"),
)


@dataclass(frozen=True)
class Authority:
    allowed: bool
    reason: str


def check_authority(
    kind: RequestKind, roles: frozenset[Role], *, is_admin: bool, is_requester: bool
) -> Authority:
    """Decide whether a person may approve or reject a request of `kind`.

    `roles` are the person's active roles in the request's organization, read from
    the database at the time of the click.
    """
    label = KIND_LABELS[kind]
    if is_requester:
        return Authority(False, "You cannot decide your own request.")
    if kind in ADMIN_DECIDES:
        if is_admin:
            return Authority(True, "admin")
        return Authority(
            False,
            f"Only a Cosigner admin can decide an {label} designation "
            "(admins stand in for CMS's validation).",
        )
    allowed_roles = APPROVER_ROLES[kind]
    held = roles & allowed_roles
    if held:
        return Authority(True, "+".join(sorted(held)))
    if kind is RequestKind.DELEGATED_OFFICIAL and Role.DO in roles:
        return Authority(
            False, "A Delegated Official cannot appoint another Delegated Official: an AO must."
        )
    names = " or ".join(
        "an Authorized Official" if role is Role.AO else "a Delegated Official"
        for role in sorted(allowed_roles, key=list(Role).index)
    )
    return Authority(False, f"Only {names} of this organization can decide a {label} request.")


def approver_roles(kind: RequestKind) -> frozenset[Role]:
    return APPROVER_ROLES[kind]
