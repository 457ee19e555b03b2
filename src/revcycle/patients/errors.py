from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class PatientNotFound(NotFound):
    code = "patient.not_found"


class AccountNumberTaken(Conflict):
    code = "patient.account_number_taken"


class InvalidGuarantor(InvalidInput):
    code = "patient.guarantor_invalid"
