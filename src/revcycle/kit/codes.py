"""Format checks for the identifiers and code sets billing depends on.

Each function returns the normalised value or raises ValueError with a human message; schemas wrap
them into pydantic errors with stable types, services into DomainErrors.
"""

from __future__ import annotations

import re

from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.us import ein

# ICD-10-CM: a letter (U is WHO emergency use, valid in CM, e.g. U07.1), a digit,
# alphanumeric, optionally a dot and 1-4 alphanumerics (7th characters, X placeholders).
# The 2026 code set adds category QA0 (genetic disorders NEC), whose second character is a letter.
_ICD10CM = re.compile(r"^(?:[A-Z][0-9][0-9A-Z]|QA[0-9])(?:\.[0-9A-Z]{1,4})?$")
# CPT Category I (5 digits), Category II (4 digits + F), Category III (4 digits + T),
# PLA codes (4 digits + U); HCPCS Level II: a letter A-V then 4 digits.
_CPT = re.compile(r"^(?:[0-9]{5}|[0-9]{4}[FTU])$")
_HCPCS = re.compile(r"^[A-V][0-9]{4}$")
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
_TAXONOMY = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")


def icd10cm(code: str) -> str:
    """Normalise (upper case, dot after the third character) and check an ICD-10-CM code."""
    value = code.strip().upper()
    if "." not in value and len(value) > 3:
        value = f"{value[:3]}.{value[3:]}"
    if not _ICD10CM.match(value):
        raise ValueError("not an ICD-10-CM code (e.g. E11.9, S52.521A)")
    return value


def procedure_code(code: str) -> str:
    value = code.strip().upper()
    if not (_CPT.match(value) or _HCPCS.match(value)):
        raise ValueError("not a CPT or HCPCS Level II code (e.g. 99213, J1100)")
    return value


def modifier(code: str) -> str:
    value = code.strip().upper()
    if not _MODIFIER.match(value):
        raise ValueError("not a two-character procedure modifier (e.g. 25, LT)")
    return value


def npi(value: str) -> str:
    """A National Provider Identifier: 10 digits, Luhn check over the '80840' prefix."""
    digits = value.strip()
    if not re.fullmatch(r"[0-9]{10}", digits):
        raise ValueError("an NPI is exactly 10 digits")
    if not _luhn_valid("80840" + digits):
        raise ValueError("the NPI check digit does not match")
    return digits


def npi_check_digit(first_nine: str) -> str:
    """The check digit that completes a 9-digit NPI body (used by the demo data generator)."""
    for d in "0123456789":
        if _luhn_valid("80840" + first_nine + d):
            return d
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def tin(value: str) -> str:
    """A federal Tax Identification Number (EIN), returned as NN-NNNNNNN."""
    try:
        return str(ein.format(ein.validate(value)))
    except StdnumValidationError as exc:
        raise ValueError("not a valid EIN (NN-NNNNNNN)") from exc


def taxonomy(value: str) -> str:
    code = value.strip().upper()
    if not _TAXONOMY.match(code):
        raise ValueError("not a provider taxonomy code (e.g. 207Q00000X)")
    return code


def _luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
