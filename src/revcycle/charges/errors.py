"""Stable error codes of the charge import (docs/charges.md, "Errors")."""

from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class InvalidCharge(InvalidInput):
    code = "charge.invalid"


class UnknownPatient(NotFound):
    code = "charge.patient_not_found"


class UnknownProvider(InvalidInput):
    code = "charge.provider_not_found"


class WrongCurrency(InvalidInput):
    code = "charge.wrong_currency"


class ChargeChanged(Conflict):
    code = "charge.changed"
