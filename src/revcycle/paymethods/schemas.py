from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import StringConstraints

from revcycle.kit.schemas import ReadSchema, Schema, Text500

# A card token from the gateway's tokenisation page (``tok_``), or a bank-account token from its
# bank page (``btok_``, ACH debits: docs/bank-transfers.md).
StoredToken = Annotated[
    str, StringConstraints(pattern=r"^b?tok_[A-Za-z0-9_]{8,64}$", max_length=69)
]


class PaymentMethodCreate(Schema):
    token: StoredToken
    # The authorisation text the patient agreed to (shown to them, stored verbatim).
    consent_text: Text500


class PaymentMethodRead(ReadSchema):
    id: uuid.UUID
    patient_id: uuid.UUID
    kind: str
    status: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    consent_text: str
    consented_at: dt.datetime
    created_by: uuid.UUID | None
    created_at: dt.datetime
    removed_at: dt.datetime | None


class PaymentMethodList(ReadSchema):
    items: list[PaymentMethodRead]
