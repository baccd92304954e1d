"""Roles, request kinds, statuses and the validation of what people type or import."""

from __future__ import annotations

import re
import secrets
import unicodedata
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
# The Slack form accepts 3,000 characters; other front ends and imports may send more.
MAX_JUSTIFICATION_LENGTH = 10_000
MAX_REASON_LENGTH = 2000
DEFAULT_TIMEZONE = "America/New_York"


class Role(StrEnum):
    """A role a person has in an organization."""

    AO = "AO"
    DO = "DO"
    SEU = "SEU"
    SURROGATE = "SURROGATE"
    SURROGATE_STAFF = "SURROGATE_STAFF"


ROLE_LABELS = {
    Role.AO: "Authorized Official",
    Role.DO: "Delegated Official",
    Role.SEU: "Staff End User",
    Role.SURROGATE: "Surrogate",
    Role.SURROGATE_STAFF: "Surrogate staff",
}


class RequestKind(StrEnum):
    STAFF = "staff"
    SURROGACY = "surrogacy"
    SURROGATE_STAFF = "surrogate_staff"
    DELEGATED_OFFICIAL = "delegated_official"
    AUTHORIZED_OFFICIAL = "authorized_official"


KIND_LABELS = {
    RequestKind.STAFF: "Staff End User",
    RequestKind.SURROGACY: "Surrogate",
    RequestKind.SURROGATE_STAFF: "Surrogate staff",
    RequestKind.DELEGATED_OFFICIAL: "Delegated Official",
    RequestKind.AUTHORIZED_OFFICIAL: "Authorized Official",
}

# The role an approved request grants.
GRANTED_ROLE = {
    RequestKind.STAFF: Role.SEU,
    RequestKind.SURROGACY: Role.SURROGATE,
    RequestKind.SURROGATE_STAFF: Role.SURROGATE_STAFF,
    RequestKind.DELEGATED_OFFICIAL: Role.DO,
    RequestKind.AUTHORIZED_OFFICIAL: Role.AO,
}

# Kinds that name a surrogate firm and the products it acts for.
SURROGATE_KINDS = frozenset({RequestKind.SURROGACY, RequestKind.SURROGATE_STAFF})


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Product(StrEnum):
    PECOS = "PECOS"
    NPPES = "NPPES"
    EHR = "EHR"


class ValidationError(ValueError):
    """Invalid input. The message names the value and how to fix it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Crockford-style alphabet without 0, 1, I, L, O and U, so an id read aloud or
# retyped from a screenshot cannot be confused.
ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 5
REQUEST_ID_PATTERN = re.compile(rf"^REQ-[{ID_ALPHABET}]{{{ID_LENGTH}}}$")
INVITATION_ID_PATTERN = re.compile(rf"^INV-[{ID_ALPHABET}]{{{ID_LENGTH}}}$")


def new_request_id() -> str:
    """Return a random id such as REQ-7K3QX; the caller retries on the rare collision."""
    return "REQ-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def new_invitation_id() -> str:
    return "INV-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def normalize_request_id(text: str) -> str:
    """Upper-case and trim a typed request id; raise ValidationError unless it is well formed."""
    candidate = text.strip().upper()
    if not candidate.startswith("REQ-"):
        candidate = "REQ-" + candidate
    if not REQUEST_ID_PATTERN.match(candidate):
        raise ValidationError(
            f"{text.strip()!r} is not a request id: ids look like REQ-7K3QX "
            "(see `/access status` for yours)",
            field="request_id",
        )
    return candidate


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_npi(text: str) -> str:
    """Return the NPI as 10 digits, or raise ValidationError.

    An NPI's last digit is a Luhn check digit computed over the number with the
    health-industry prefix 80840 in front (CMS, "Requirements for National Provider
    Identifier Check Digit").
    """
    npi = text.strip()
    if not npi:
        raise ValidationError("NPI is missing: give the organization's 10-digit Type 2 NPI")
    if not npi.isascii() or not npi.isdigit() or len(npi) != 10:
        raise ValidationError(f"NPI {npi!r} is invalid: an NPI is exactly 10 digits")
    if not luhn_valid("80840" + npi):
        raise ValidationError(
            f"NPI {npi} has a wrong check digit: check it against the NPPES registry"
        )
    return npi


def validate_tin(text: str) -> str:
    """Return the TIN as 9 digits (dashes removed), or raise ValidationError."""
    raw = text.strip()
    digits = raw.replace("-", "")
    if not raw:
        raise ValidationError("TIN is missing: give the 9-digit EIN (or SSN for a sole proprietor)")
    if not digits.isascii() or not digits.isdigit() or len(digits) != 9:
        raise ValidationError(
            "TIN is invalid: a TIN is 9 digits, with or without dashes (12-3456789)"
        )
    return digits


def mask_tin(tin: str) -> str:
    """Show only the last four digits of a TIN."""
    return "***-**-" + tin[-4:]


EMAIL_PATTERN = re.compile(r"^[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+$")


def validate_email(text: str) -> str:
    """Return the email trimmed and lower-cased, or raise ValidationError."""
    email = text.strip().lower()
    if not email:
        raise ValidationError("email is missing", field="email")
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        raise ValidationError(f"email {text.strip()!r} is invalid: use name@example.org")
    return email


def clean_text(text: str) -> str:
    """Normalize Unicode, drop control characters and trim."""
    normalized = unicodedata.normalize("NFC", text)
    kept = "".join(
        char for char in normalized if char in "\n\t" or unicodedata.category(char)[0] != "C"
    )
    return kept.strip()


def validate_name(text: str, what: str = "name", max_length: int = MAX_NAME_LENGTH) -> str:
    """Return a trimmed single-line name, or raise ValidationError."""
    name = " ".join(clean_text(text).split())
    if not name:
        raise ValidationError(f"{what} is missing", field=what)
    if len(name) > max_length:
        raise ValidationError(
            f"{what} is {len(name)} characters long: shorten it to {max_length} or fewer",
            field=what,
        )
    return name


def validate_free_text(text: str, what: str, *, max_length: int, min_length: int = 1) -> str:
    """Return trimmed multi-line text between min_length and max_length characters."""
    value = clean_text(text)
    if len(value) < min_length:
        raise ValidationError(f"{what} is missing: write at least {min_length} character", what)
    if len(value) > max_length:
        raise ValidationError(
            f"{what} is {len(value):,} characters long: shorten it to {max_length:,} or fewer",
            field=what,
        )
    return value


def validate_timezone(text: str) -> str:
    name = text.strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"timezone {name!r} is unknown: use an IANA name such as America/Chicago"
        ) from None
    return name


def validate_products(values: list[str] | tuple[str, ...]) -> list[str]:
    """Return the named products upper-cased, without repeats, in PECOS, NPPES, EHR order."""
    products: list[Product] = []
    for value in values:
        try:
            product = Product(value.strip().upper())
        except ValueError:
            raise ValidationError(
                f"product {value!r} is unknown: choose from PECOS, NPPES and EHR",
                field="Products",
            ) from None
        if product not in products:
            products.append(product)
    order = list(Product)
    return [str(product) for product in sorted(products, key=order.index)]
