"""Pydantic building blocks shared by every domain's schemas.

Validation failures carry stable error types (``code.icd10_invalid``, ``money.not_a_string``...)
which the API turns into the problem document's ``code``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from revcycle.kit import codes

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Schema(BaseModel):
    """Request schemas: unknown fields are refused (no mass assignment), strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("text.control_characters", "control characters are not allowed")
    return value


Text20 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=20),
    AfterValidator(_no_control_chars),
]
Text60 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=60),
    AfterValidator(_no_control_chars),
]
Text100 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_chars),
]
Text200 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_chars),
]
Text300 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_no_control_chars),
]
Text500 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_control_chars),
]

# A free-text query filter (matched exactly): bounded, no control characters (PostgreSQL refuses
# NUL in a text parameter, and no stored value holds one).
FilterText = Annotated[str, StringConstraints(max_length=64), AfterValidator(_no_control_chars)]


def _wrap(fn: Callable[[str], str], error_type: str) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError(error_type, "expected a string")
        try:
            return fn(value)
        except ValueError as exc:
            raise PydanticCustomError(error_type, str(exc)) from None

    return validate


def _money(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise PydanticCustomError(
            "money.not_a_string",
            'amounts are exact decimal strings such as "125.00" (JSON numbers with a fraction '
            "lose precision)",
        )
    if isinstance(value, int):
        if abs(value) >= 10**15:
            raise PydanticCustomError("money.invalid", "the amount is out of range")
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,15}(\.[0-9]{1,6})?", value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            pass
    raise PydanticCustomError("money.invalid", 'not an amount; use a decimal string like "125.00"')


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("money.not_positive", "the amount must be greater than zero")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError("money.negative", "the amount must not be negative")
    return value


Amount = Annotated[Decimal, BeforeValidator(_money)]
PositiveAmount = Annotated[Decimal, BeforeValidator(_money), AfterValidator(_positive)]
NonNegativeAmount = Annotated[Decimal, BeforeValidator(_money), AfterValidator(_non_negative)]
Icd10Code = Annotated[str, BeforeValidator(_wrap(codes.icd10cm, "code.icd10_invalid"))]
ProcedureCode = Annotated[
    str, BeforeValidator(_wrap(codes.procedure_code, "code.procedure_invalid"))
]
Modifier = Annotated[str, BeforeValidator(_wrap(codes.modifier, "code.modifier_invalid"))]
Npi = Annotated[str, BeforeValidator(_wrap(codes.npi, "code.npi_invalid"))]
Tin = Annotated[str, BeforeValidator(_wrap(codes.tin, "code.tin_invalid"))]
Taxonomy = Annotated[str, BeforeValidator(_wrap(codes.taxonomy, "code.taxonomy_invalid"))]


def _state(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        return value.strip().upper()
    raise PydanticCustomError("address.state_invalid", "a two-letter state code such as CA")


def _postal(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{5}(-?[0-9]{4})?", value.strip()):
        return value.strip().replace("-", "")
    raise PydanticCustomError("address.postal_code_invalid", "a ZIP code: 5 or 9 digits")


def _phone(value: Any) -> str:
    if isinstance(value, str):
        digits = re.sub(r"[\s().+-]", "", value)
        if digits.startswith("1") and len(digits) == 11:
            digits = digits[1:]
        if re.fullmatch(r"[0-9]{10}", digits):
            return digits
    raise PydanticCustomError("contact.phone_invalid", "a 10-digit phone number")


def _email(value: Any) -> str:
    if (
        isinstance(value, str)
        and len(value) <= 254
        and re.fullmatch(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value.strip())
    ):
        return value.strip().lower()
    raise PydanticCustomError("contact.email_invalid", "an e-mail address")


def _currency(value: Any) -> str:
    from revcycle.money import CURRENCY_EXPONENTS

    if isinstance(value, str) and value.upper() in CURRENCY_EXPONENTS:
        return value.upper()
    raise PydanticCustomError("money.unsupported_currency", "an ISO 4217 currency we support")


StateCode = Annotated[str, BeforeValidator(_state)]
PostalCode = Annotated[str, BeforeValidator(_postal)]
Phone = Annotated[str, BeforeValidator(_phone)]
Email = Annotated[str, BeforeValidator(_email)]
CurrencyCode = Annotated[str, BeforeValidator(_currency)]


T = TypeVar("T")


class PageRead(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
