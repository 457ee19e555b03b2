"""All SQL of appointments."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.appointments.models import Appointment


class AppointmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_external_ref(self, practice_id: uuid.UUID, ref: str) -> Appointment | None:
        return self.session.scalar(
            select(Appointment).where(
                Appointment.practice_id == practice_id, Appointment.external_ref == ref
            )
        )

    def in_window(
        self,
        practice_id: uuid.UUID,
        start: dt.datetime,
        end: dt.datetime,
        *,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Appointment]:
        q = select(Appointment).where(
            Appointment.practice_id == practice_id,
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        if after is not None:
            q = q.where(Appointment.id > after)
        return self.session.scalars(q.order_by(Appointment.id).limit(limit)).all()
