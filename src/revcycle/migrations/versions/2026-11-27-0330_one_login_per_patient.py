"""one login per patient: a unique index on ``users.patient_id``

``auth.service.create_user`` refuses a second login for a patient, but two concurrent requests
could both pass that check; the index settles the race (the loser gets the same 409
``user.patient_has_login``). Staff logins have no patient: NULLs are not equal to each other in a
unique index on both SQLite and PostgreSQL, so any number of staff rows stay allowed. A plain
``CREATE UNIQUE INDEX`` (no batch rebuild of ``users``, which many tables reference).

Should a race have already left two logins for one patient, the upgrade stops with a message
instead of failing inside ``CREATE INDEX``: deactivate or re-point the extra login, then re-run.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    duplicated = op.get_bind().scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT patient_id FROM users WHERE patient_id IS NOT NULL "
            "GROUP BY patient_id HAVING count(*) > 1) AS d"
        )
    )
    if duplicated:
        raise RuntimeError(
            f"{duplicated} patient(s) have more than one login (users.patient_id repeated); "
            "keep one login per patient, then re-run the upgrade"
        )
    op.create_index("uq_users_patient_id", "users", ["patient_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_patient_id", table_name="users")
