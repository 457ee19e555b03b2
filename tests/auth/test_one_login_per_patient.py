"""One login per patient, enforced by the database (migration 0006's unique index on
``users.patient_id``): a request that passed the service's check too late gets the same 409
``user.patient_has_login`` as one the check refuses; staff logins (no patient) are unaffected."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Uuid, bindparam, delete, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth import errors
from revcycle.auth.models import User
from revcycle.auth.repository import AuthRepository
from revcycle.db import unit_of_work
from tests.factories.auth import make_user
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

Committed = tuple[str, Engine, sessionmaker[Session]]


def _logins(factory: sessionmaker[Session], patient_id: uuid.UUID) -> list[str]:
    with unit_of_work(factory) as s:
        return list(s.scalars(select(User.username).where(User.patient_id == patient_id)))


@pytest.mark.committed
def test_the_index_refuses_a_second_login_the_check_missed(
    committed_db: Committed, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        make_user(s, "patient", patient=patient, username="first.login")
        # staff have no patient: any number of NULLs
        make_user(s, "billing_staff", practices=[practice], username="staff.one")
        make_user(s, "billing_staff", practices=[practice], username="staff.two")
    with unit_of_work(factory) as s:
        users_before = s.scalar(select(func.count()).select_from(User))
    # The service's check answers "no login yet", as it does for a request racing another.
    monkeypatch.setattr(AuthRepository, "by_patient", lambda _self, _pid: None)

    with pytest.raises(errors.PatientHasLogin) as caught, unit_of_work(factory) as s:
        make_user(s, "patient", patient=patient, username="second.login")

    assert (caught.value.code, caught.value.status) == ("user.patient_has_login", 409)
    assert _logins(factory, patient.id) == ["first.login"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(User)) == users_before


@pytest.mark.committed
def test_two_concurrent_logins_for_one_patient(
    committed_db: Committed, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        patient = make_patient(s, make_practice(s))
    start = threading.Barrier(2, timeout=30)
    if backend == "postgresql":
        # Hold both requests right after their "already has a login?" check, so both pass it
        # and the unique index must decide. (SQLite serialises write transactions with BEGIN
        # IMMEDIATE: there the second request waits before its check, and the check answers.)
        checked = threading.Barrier(2, timeout=30)
        original = AuthRepository.by_patient

        def by_patient(self: AuthRepository, patient_id: uuid.UUID) -> User | None:
            found = original(self, patient_id)
            checked.wait()
            return found

        monkeypatch.setattr(AuthRepository, "by_patient", by_patient)

    def one(i: int) -> str:
        start.wait()
        try:
            with unit_of_work(factory) as s:
                make_user(s, "patient", patient=patient, username=f"racer{i}")
        except errors.PatientHasLogin as exc:
            return exc.code
        return "created"

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(one, range(2)))

    assert results == ["created", "user.patient_has_login"]
    logins = _logins(factory, patient.id)
    assert len(logins) == 1
    assert logins[0] in {"racer0", "racer1"}


@pytest.mark.committed
def test_migration_0006_adds_the_index_and_stops_on_existing_duplicates(
    committed_db: Committed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command

    from tests.crypto.test_migration import _alembic

    url, engine, factory = committed_db
    cfg = _alembic(url)
    # Data made with today's models, then the schema taken back to 0005 (models of later
    # revisions cannot write to the old schema).
    with unit_of_work(factory) as s:
        patient = make_patient(s, make_practice(s))
        make_user(s, "patient", patient=patient, username="dup.one")
        make_user(s, "admin", username="staff.admin")
    engine.dispose()
    command.downgrade(cfg, "0005")
    assert "uq_users_patient_id" not in {i["name"] for i in inspect(engine).get_indexes("users")}
    # A race before 0006 left two logins for one patient: a copy of the first under another name.
    columns = [
        c["name"]
        for c in inspect(engine).get_columns("users")
        if c["name"] not in {"id", "username"}
    ]
    listed = ", ".join(columns)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO users (id, username, {listed}) "
                f"SELECT :id, 'dup.two', {listed} FROM users WHERE username = 'dup.one'"
            ).bindparams(bindparam("id", type_=Uuid())),
            {"id": uuid.uuid4()},
        )
    engine.dispose()

    with pytest.raises(RuntimeError, match=r"^1 patient\(s\) have more than one login"):
        command.upgrade(cfg, "head")

    with unit_of_work(factory) as s:
        s.execute(delete(User).where(User.username == "dup.two"))
    engine.dispose()
    command.upgrade(cfg, "head")
    [index] = [
        i for i in inspect(engine).get_indexes("users") if i["name"] == "uq_users_patient_id"
    ]
    assert (index["column_names"], bool(index["unique"])) == (["patient_id"], True)
    assert _logins(factory, patient.id) == ["dup.one"]
