from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput


class InvalidAppointment(InvalidInput):
    code = "appointment.invalid"


class DuplicateAppointment(Conflict):
    code = "appointment.duplicate"
