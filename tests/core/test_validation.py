"""Validation of what people type or import: NPI, TIN, email, names and request ids."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import (
    MAX_NAME_LENGTH,
    REQUEST_ID_PATTERN,
    ValidationError,
    mask_tin,
    new_request_id,
    normalize_request_id,
    validate_email,
    validate_name,
    validate_npi,
    validate_products,
    validate_tin,
)

ASCII_DIGITS = "0123456789"
digit_strings = st.text(alphabet=ASCII_DIGITS, min_size=9, max_size=9)
# Any character that is not an ASCII digit, including other scripts' digits such as "٣".
non_digits = st.characters(blacklist_characters=ASCII_DIGITS, blacklist_categories=("Cs",))


def _is_valid_npi(text: str) -> bool:
    try:
        validate_npi(text)
    except ValidationError:
        return False
    return True


# NPI ---------------------------------------------------------------------------------


@settings(deadline=None)
@given(prefix=digit_strings)
def test_validate_npi_one_check_digit(prefix: str) -> None:
    valid = [digit for digit in ASCII_DIGITS if _is_valid_npi(prefix + digit)]

    assert len(valid) == 1, valid


@pytest.mark.parametrize("npi", ["1234567893", "1555555550", "1666666668", " 1245319599 "])
def test_validate_npi_accepts_known(npi: str) -> None:
    assert validate_npi(npi) == npi.strip()


@pytest.mark.parametrize("npi", ["1234567890", "1234567894", "1555555551"])
def test_validate_npi_wrong_check_digit(npi: str) -> None:
    with pytest.raises(ValidationError, match="wrong check digit: check it against the NPPES"):
        validate_npi(npi)


@settings(deadline=None)
@given(prefix=digit_strings, position=st.integers(0, 9), intruder=non_digits)
def test_validate_npi_rejects_non_digit(prefix: str, position: int, intruder: str) -> None:
    # Put one non-digit into an otherwise valid NPI.
    valid_npi = next(prefix + d for d in ASCII_DIGITS if _is_valid_npi(prefix + d))
    candidate = valid_npi[:position] + intruder + valid_npi[position + 1 :]

    assert not _is_valid_npi(candidate), repr(candidate)


@settings(deadline=None)
@given(digits=st.text(alphabet=ASCII_DIGITS, max_size=20).filter(lambda d: len(d) != 10))
def test_validate_npi_rejects_wrong_length(digits: str) -> None:
    assert not _is_valid_npi(digits)


def test_validate_npi_missing() -> None:
    with pytest.raises(ValidationError, match="NPI is missing"):
        validate_npi("  ")


# TIN ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tin", ["123456789", "12-3456789", "123-45-6789", " 12-3456789 "])
def test_validate_tin_accepts_dashes(tin: str) -> None:
    assert validate_tin(tin) == "123456789"


@pytest.mark.parametrize("tin", ["12345678", "1234567890", "12-345678x", "12 3456789", "١٢٣٤٥٦٧٨٩"])
def test_validate_tin_rejects_malformed(tin: str) -> None:
    with pytest.raises(ValidationError, match="a TIN is 9 digits"):
        validate_tin(tin)


def test_validate_tin_missing() -> None:
    with pytest.raises(ValidationError, match="TIN is missing"):
        validate_tin("")


@pytest.mark.parametrize(
    ("tin", "masked"), [("123456789", "***-**-6789"), ("981234321", "***-**-4321")]
)
def test_mask_tin_shows_last_four(tin: str, masked: str) -> None:
    assert mask_tin(tin) == masked


# Email -------------------------------------------------------------------------------


def test_validate_email_lowercases() -> None:
    assert (
        validate_email("  Dana.Whitfield@Riverbend.EXAMPLE ") == "dana.whitfield@riverbend.example"
    )


@pytest.mark.parametrize(
    "email", ["dana", "dana@riverbend", "dana@@riverbend.example", "da na@riverbend.example"]
)
def test_validate_email_rejects_malformed(email: str) -> None:
    with pytest.raises(ValidationError, match=re.escape("is invalid: use name@example.org")):
        validate_email(email)


def test_validate_email_rejects_too_long() -> None:
    email = "a" * 250 + "@x.org"

    with pytest.raises(ValidationError, match="is invalid"):
        validate_email(email)


# Names -------------------------------------------------------------------------------


def test_validate_name_trims() -> None:
    assert validate_name("  Dana \t  Whitfield \n") == "Dana Whitfield"


def test_validate_name_drops_control_characters() -> None:
    assert validate_name("Dana\x00 Whit\u200bfield") == "Dana Whitfield"


def test_validate_name_at_limit() -> None:
    name = "x" * MAX_NAME_LENGTH

    assert validate_name(name) == name


def test_validate_name_over_limit() -> None:
    with pytest.raises(ValidationError, match="201 characters long: shorten it to 200"):
        validate_name("x" * (MAX_NAME_LENGTH + 1))


def test_validate_name_limit_after_trimming() -> None:
    name = "  " + "x" * MAX_NAME_LENGTH + "  "

    assert validate_name(name) == name.strip()


def test_validate_name_missing() -> None:
    with pytest.raises(ValidationError, match="organization is missing"):
        validate_name(" \t ", "organization")


# Products and request ids ------------------------------------------------------------


def test_validate_products_orders_and_dedupes() -> None:
    assert validate_products(["ehr", " pecos ", "EHR"]) == ["PECOS", "EHR"]


def test_validate_products_unknown() -> None:
    with pytest.raises(ValidationError, match="product 'Medicaid' is unknown") as raised:
        validate_products(["Medicaid"])

    assert raised.value.field == "Products"


def test_new_request_id_format() -> None:
    ids = [new_request_id() for _ in range(200)]

    assert all(REQUEST_ID_PATTERN.match(request_id) for request_id in ids), ids


@pytest.mark.parametrize("typed", ["REQ-7K3QX", "req-7k3qx", " 7k3qx "])
def test_normalize_request_id_accepts(typed: str) -> None:
    assert normalize_request_id(typed) == "REQ-7K3QX"


@pytest.mark.parametrize("typed", ["REQ-7K3Q", "REQ-7K3QO", "REQ-7K3Q1", "7K3QXX"])
def test_normalize_request_id_rejects(typed: str) -> None:
    with pytest.raises(ValidationError, match="is not a request id"):
        normalize_request_id(typed)
