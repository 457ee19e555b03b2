"""837P submission and acknowledgements: claims mapped to 837P (every generated file validated by
pyx12's 005010X222A1 map), control numbers persisted and unique, the crash between the commit
and the send recovered by a resend of the same bytes with the same key, 999 and 277CA answers
applied to exactly the claims they name, a file processed twice changing nothing, concurrent
submitters never sending a claim twice, and the routes.

The clearinghouse is :class:`FakeClearinghouse`, a small in-test client that records what was
submitted (and, like a real one, answers a known idempotency key with its first receipt) and
offers canned acknowledgement files written here as literal X12 text (fine for unit tests: the
payer simulator's own 999/277CA are tested with the simulator).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.claims import commands as claims_commands
from revcycle.claims import states, submission
from revcycle.claims import tasks as claims_tasks
from revcycle.claims.models import Claim, ClaimBatch, ClaimEvent, ClaimSubmission
from revcycle.clearinghouse.base import (
    ClearinghouseError,
    ClearinghouseRejected,
    ClearinghouseTimeout,
    InboundFile,
    SubmittedFile,
)
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import Settings, get_settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from tests.factories.auth import auth_header, make_user
from tests.factories.claims import World, make_claim, make_world
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

pytest.importorskip("pyx12", reason="pyx12 (dev extra) is not installed")
from tests.claims837.test_build_837p import pyx12_errors  # noqa: E402

WHEN = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
SETTINGS = Settings(claims_x12_usage="T")


# -- the fake clearinghouse ----------------------------------------------------------------------
@dataclass
class FakeClearinghouse:
    name: str = "fake"
    calls: list[tuple[bytes, str, str]] = field(default_factory=list)
    receipts: dict[str, SubmittedFile] = field(default_factory=dict)
    failures: list[ClearinghouseError] = field(default_factory=list)
    inbound: list[InboundFile] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def eligibility(self, x270: str, *, timeout_seconds: float) -> str:  # pragma: no cover
        raise NotImplementedError

    def claim_status(self, x276: str, *, timeout_seconds: float) -> str:  # pragma: no cover
        raise NotImplementedError

    def submit_file(self, content: bytes, *, kind: str, idempotency_key: str) -> SubmittedFile:
        with self.lock:
            self.calls.append((content, kind, idempotency_key))
            if self.failures:
                raise self.failures.pop(0)
            if idempotency_key not in self.receipts:
                self.receipts[idempotency_key] = SubmittedFile(f"F{len(self.receipts) + 1}", WHEN)
            return self.receipts[idempotency_key]

    def poll_files(self, *, kinds: tuple[str, ...], limit: int) -> list[InboundFile]:
        return [f for f in self.inbound if f.kind in kinds and f.file_id not in self.acknowledged][
            :limit
        ]

    def acknowledge_file(self, file_id: str) -> None:
        self.acknowledged.append(file_id)

    def sent_control_numbers(self) -> list[str]:
        """CLM01 of every claim the clearinghouse received (a resend with a known key is not
        received again)."""
        out: list[str] = []
        seen: set[str] = set()
        for content, _, key in self.calls:
            if key in seen or key not in self.receipts:
                continue
            seen.add(key)
            out += re.findall(r"~CLM\*([A-Z0-9]+)\*", content.decode())
        return out


def inbound(file_id: str, kind: str, text: str) -> InboundFile:
    return InboundFile(file_id, kind, f"{file_id}.x12", text.encode(), WHEN)


def wrap(npi: str, functional_id: str, version: str, set_id: str, body: list[str]) -> str:
    """An interchange from the clearinghouse to us (ISA08 = the practice's NPI)."""
    segs = [f"ST*{set_id}*0001*{version}", *body]
    segs.append(f"SE*{len(segs) + 1}*0001")
    return (
        f"ISA*00*          *00*          *ZZ*{'CLEARINGHOUSE':<15}*ZZ*{npi:<15}*261127*1200*^*"
        "00501*000000901*0*T*:~"
        f"GS*{functional_id}*CLEARINGHOUSE*{npi}*20261127*1200*9*X*{version}~"
        + "".join(s + "~" for s in segs)
        + "GE*1*9~IEA*1*000000901~"
    )


def ack_999(npi: str, icn: int, sets: list[list[str]], group_status: str) -> str:
    body = [f"AK1*HC*{icn}*005010X222A1", *(s for st in sets for s in st)]
    n = len(sets)
    accepted = sum(1 for st in sets if st[-1].startswith("IK5*A"))
    body.append(f"AK9*{group_status}*{n}*{n}*{accepted}")
    return wrap(npi, "FA", "005010X231A1", "999", body)


def ack_277(npi: str, batch_reference: str, claims: list[list[str]]) -> str:
    body = [
        "BHT*0085*08*277REF01*20261127*1200*TH",
        "HL*1**20*1",
        "NM1*PR*2*LAKESHORE HEALTH PLAN*****PI*LHP",
        "TRN*1*RCPT-9",
        "DTP*050*D8*20261127",
        "DTP*009*D8*20261127",
        "HL*2*1*21*1",
        "NM1*41*2*RIVERSIDE*****46*REVCYCLE",
        f"TRN*2*{batch_reference}",
        "STC*A1:19*20261127*WQ*1",
        "HL*3*2*19*1",
        f"NM1*85*2*RIVERSIDE*****XX*{npi}",
    ]
    hl = 3
    for c in claims:
        hl += 1
        body += [f"HL*{hl}*3*PT", "NM1*QC*1*CASEY*JORDAN****MI*M1", *c]
    return wrap(npi, "HN", "005010X214", "277", body)


# -- worlds --------------------------------------------------------------------------------------
def billable(session: Session, **kwargs: Any) -> World:
    """A claims world whose practice can bill (ZIP+4) and whose patient has an address."""
    w = make_world(session, **kwargs)
    w.practice.postal_code = "627011234"
    w.patient.address_line1 = "5 Oak Ave"
    w.patient.city = "Springfield"
    w.patient.state = "IL"
    w.patient.postal_code = "62702"
    session.flush()
    return w


def scrubbed(session: Session, w: World, **overrides: Any) -> Claim:
    claim = make_claim(session, w, **overrides).claim
    states.transition(session, claim, "scrubbed", actor=SYSTEM, actor_kind="system")
    session.flush()
    return claim


def build(session: Session, w: World, **kwargs: Any) -> submission.BuildResult:
    return submission.build_batch(
        session, SYSTEM, SETTINGS, practice_id=w.practice.id, clearinghouse="fake", **kwargs
    )


def segs(text: str) -> list[str]:
    return [s for s in text.split("~") if s]


def claim_segments(text: str, control_number: str) -> list[str]:
    """The 2300 loop of one claim up to the next HL/CLM/SE."""
    out: list[str] = []
    inside = False
    for s in segs(text):
        if s.startswith(f"CLM*{control_number}*"):
            inside = True
        elif inside and s.startswith(("HL*", "CLM*", "SE*")):
            break
        if inside:
            out.append(s)
    return out


def events(session: Session, claim: Claim) -> list[ClaimEvent]:
    session.flush()
    return list(
        session.scalars(
            select(ClaimEvent).where(ClaimEvent.claim_id == claim.id).order_by(ClaimEvent.id)
        )
    )


def counts(session: Session) -> tuple[int, int, int]:
    session.flush()
    return (
        session.scalar(select(func.count()).select_from(ClaimBatch)) or 0,
        session.scalar(select(func.count()).select_from(ClaimSubmission)) or 0,
        session.scalar(select(func.count()).select_from(ClaimEvent)) or 0,
    )


# -- mapping -------------------------------------------------------------------------------------
def test_self_subscriber_several_lines_modifiers_and_prior_auth_validate(session: Session) -> None:
    w = billable(session)
    extra = make_invoice(
        session,
        w.patient,
        lines=[
            line("99213", "150.00", provider_id=w.provider.id, diagnosis_codes=["E11.9", "I10"]),
            line(
                "80053",
                "60.00",
                provider_id=w.provider.id,
                diagnosis_codes=["E11.9"],
                modifiers=["90", "59"],
            ),
        ],
    )
    w.invoice = extra
    claim = scrubbed(session, w, prior_authorization="PA-7781")
    res = build(session, w)
    batch = res.batch
    assert batch is not None
    assert res.claim_ids == [claim.id]
    assert res.returned == []
    text = batch.content
    assert pyx12_errors(text) == []
    s = segs(text)
    assert s[0].split("*")[6].strip() == w.practice.npi
    assert s[0].split("*")[13] == "000000001"
    assert s[1].split("*")[6] == "1"  # GS06 = ISA13
    assert s[2] == "ST*837*0001*005010X222A1"
    assert s[3].startswith(f"BHT*0019*00*{w.practice.npi}-000000001*")
    assert "NM1*41*2*RIVERSIDE FAMILY MEDICINE*****46*REVCYCLE" in s
    assert "NM1*40*2*CLEARINGHOUSE*****46*CLEARINGHOUSE" in s
    assert f"NM1*85*2*RIVERSIDE FAMILY MEDICINE*****XX*{w.practice.npi}" in s
    assert "N4*SPRINGFIELD*IL*627011234" in s
    assert "REF*EI*123456789" in s
    assert "SBR*P*18*******12" in s  # PPO filing indicator
    member = w.coverage.coverage.member_id
    assert f"NM1*IL*1*CASEY*JORDAN****MI*{member}" in s
    assert "DMG*D8*19800517*F" in s
    assert [x for x in s if x.startswith("HL*")] == ["HL*1**20*1", "HL*2*1*22*0"]
    assert claim_segments(text, claim.control_number) == [
        f"CLM*{claim.control_number}*210***11:B:1*Y*A*Y*Y",
        "REF*G1*PA-7781",
        "HI*ABK:E119*ABF:I10",
        f"NM1*82*1*LOPEZ*ANA****XX*{w.provider.npi}",
        "LX*1",
        "SV1*HC:99213*150*UN*1***1:2",
        "DTP*472*D8*20260105",
        f"REF*6R*C{claim.number}L1",
        "LX*2",
        "SV1*HC:80053:90:59*60*UN*1***1",
        "DTP*472*D8*20260105",
        f"REF*6R*C{claim.number}L2",
    ]
    assert batch.content_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert (batch.claim_count, batch.total_charge_minor, batch.status) == (1, 21000, "built")
    assert batch.idempotency_key == f"837p-{batch.id.hex}"


def test_dependant_patient_gets_the_2000c_loop(session: Session) -> None:
    w = billable(session)
    child = make_patient(
        session,
        w.practice,
        first_name="Sam",
        date_of_birth=dt.date(2015, 6, 9),
        sex="M",
        address_line1="5 Oak Ave",
        city="Springfield",
        state="IL",
        postal_code="62702",
    )
    make_coverage(
        session,
        child,
        w.plan,
        member_id="W99887766",
        relationship="19",
        subscriber={"first_name": "Pat", "last_name": "Casey", "date_of_birth": "1975-02-03"},
    )
    w.invoice = make_invoice(
        session,
        child,
        lines=[line("99213", "150.00", provider_id=w.provider.id, diagnosis_codes=["J02.9"])],
    )
    claim = scrubbed(session, w)
    batch = build(session, w).batch
    assert batch is not None
    text = batch.content
    assert pyx12_errors(text) == []
    s = segs(text)
    assert [x for x in s if x.startswith("HL*")] == ["HL*1**20*1", "HL*2*1*22*1", "HL*3*2*23*0"]
    i = s.index("HL*2*1*22*1")
    assert s[i + 1 : i + 3] == ["SBR*P********12", "NM1*IL*1*CASEY*PAT****MI*W99887766"]
    j = s.index("HL*3*2*23*0")
    assert s[j + 1 : j + 6] == [
        "PAT*19",
        "NM1*QC*1*CASEY*SAM",
        "N3*5 OAK AVE",
        "N4*SPRINGFIELD*IL*62702",
        "DMG*D8*20150609*M",
    ]
    assert s[j + 6].startswith(f"CLM*{claim.control_number}*")


def test_a_claim_the_837p_refuses_goes_back_to_draft_and_the_rest_go(session: Session) -> None:
    w = billable(session)
    bad = scrubbed(session, w, invoice_line_ids=[w.invoice.lines[0].id])
    good = scrubbed(session, w, invoice_line_ids=[w.invoice.lines[1].id])
    bad.place_of_service = "1A"
    session.flush()
    res = build(session, w)
    assert res.claim_ids == [good.id]
    assert [(r.claim_id, r.control_number) for r in res.returned] == [(bad.id, bad.control_number)]
    assert res.returned[0].reason == (
        f"837P: claim {bad.control_number}: place_of_service: a 2-digit CMS place of service code"
    )
    assert (bad.status, good.status) == ("draft", "submitted")
    assert bad.status_reason == res.returned[0].reason
    last = events(session, bad)[-1]
    assert (last.from_status, last.to_status, last.detail["field"]) == (
        "scrubbed",
        "draft",
        "place_of_service",
    )
    assert res.batch is not None
    assert res.batch.claim_count == 1
    assert bad.control_number not in res.batch.content


def test_billing_provider_without_zip4_refuses_the_batch_and_writes_nothing(
    session: Session,
) -> None:
    w = billable(session)
    claim = scrubbed(session, w)
    w.practice.postal_code = "62701"
    session.flush()
    before = counts(session)
    with pytest.raises(DomainError) as exc:
        build(session, w)
    assert exc.value.code == "claim.cannot_submit"
    assert "ZIP code must have 9 digits" in exc.value.message
    assert counts(session) == before
    assert claim.status == "scrubbed"


def test_nothing_scrubbed_builds_nothing(session: Session) -> None:
    w = billable(session)
    make_claim(session, w)  # a draft
    before = counts(session)
    res = build(session, w)
    assert (res.batch, res.claim_ids, res.returned) == (None, [], [])
    assert counts(session) == before


# -- submission: control numbers, attempts, ledger ------------------------------------------
def test_submit_stores_batch_submissions_and_bills_once(
    factory: sessionmaker[Session],
) -> None:
    with unit_of_work(factory) as s:
        w = billable(s)
        payer2 = make_payer(s, w.practice, name="Second Mutual")
        plan2 = make_plan(s, payer2)
        a = scrubbed(s, w, invoice_line_ids=[w.invoice.lines[0].id])
        other = make_patient(s, w.practice, first_name="Robin")
        make_coverage(s, other, plan2)
        w.invoice = make_invoice(
            s,
            other,
            lines=[line("80053", "60.00", provider_id=w.provider.id, diagnosis_codes=["E11.9"])],
        )
        b = scrubbed(s, w)
    client = FakeClearinghouse()
    res = submission.submit_claims(
        factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS
    )
    assert res.batch is not None
    assert sorted(res.claim_ids) == sorted([a.id, b.id])
    ((content, kind, key),) = client.calls
    assert (kind, key) == ("837P", f"837p-{res.batch.id.hex}")
    with unit_of_work(factory) as s:
        batch = s.get(ClaimBatch, res.batch.id)
        assert batch is not None
        assert content == batch.content.encode()
        assert (batch.status, batch.file_id, batch.submitted_at, batch.error) == (
            "submitted",
            "F1",
            WHEN,
            None,
        )
        assert batch.interchange_control_number == 1
        assert pyx12_errors(batch.content) == []
        s_ = segs(batch.content)
        assert [x for x in s_ if x.startswith("ST*")] == [
            "ST*837*0001*005010X222A1",
            "ST*837*0002*005010X222A1",
        ]
        subs = {
            sub.claim_id: sub
            for sub in s.scalars(
                select(ClaimSubmission).where(ClaimSubmission.batch_id == batch.id)
            )
        }
        # Segment ranges: CLM is the first segment, the last REF*6R the last, counted in the set.
        for claim, set_no in ((a, "0001"), (b, "0002")):
            sub = subs[claim.id]
            assert (sub.attempt, sub.set_control_number) == (1, set_no)
            start = s_.index(f"ST*837*{set_no}*005010X222A1")
            in_set = s_[start:]
            assert in_set[sub.first_segment - 1].startswith(f"CLM*{claim.control_number}*")
            assert in_set[sub.last_segment - 1].startswith("REF*6R*")
            assert in_set[sub.last_segment].startswith("SE*")
        for claim in (a, b):
            c = s.get(Claim, claim.id)
            assert c is not None
            assert c.status == "submitted"
            assert c.billed_entry_id is not None
            assert c.submitted_at is not None
    # A second run finds nothing to send; the next batch takes ISA13 2.
    assert (
        submission.submit_claims(
            factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS
        ).batch
        is None
    )
    with unit_of_work(factory) as s:
        c = s.get(Claim, a.id)
        assert c is not None
        states.transition(s, c, "rejected", actor=SYSTEM, actor_kind="payer")
        states.transition(s, c, "draft", actor=SYSTEM, actor_kind="user")
        states.transition(s, c, "scrubbed", actor=SYSTEM, actor_kind="system")
        billed = c.billed_entry_id
    again = submission.submit_claims(
        factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS
    )
    assert again.batch is not None
    assert again.batch.interchange_control_number == 2
    with unit_of_work(factory) as s:
        assert [
            x.attempt
            for x in s.scalars(
                select(ClaimSubmission)
                .where(ClaimSubmission.claim_id == a.id)
                .order_by(ClaimSubmission.attempt)
            )
        ] == [1, 2]
        c = s.get(Claim, a.id)
        assert c is not None
        assert c.billed_entry_id == billed


# -- recovery -------------------------------------------------------------------------------
def test_crash_between_commit_and_send_is_resent_with_the_same_bytes_and_key(
    factory: sessionmaker[Session],
) -> None:
    with unit_of_work(factory) as s:
        w = billable(s)
        scrubbed(s, w)
    with unit_of_work(factory) as s:  # phase 1 commits, then the process dies
        built = build(s, w)
        assert built.batch is not None
        batch_id, stored = built.batch.id, built.batch.content
    client = FakeClearinghouse(failures=[ClearinghouseTimeout("no answer in 20s")])
    (first,) = submission.resend_unsent(factory, client, SYSTEM, older_than=dt.timedelta(0))
    assert (first.status, first.error) == ("built", "clearinghouse.timeout: no answer in 20s")
    (second,) = submission.resend_unsent(factory, client, SYSTEM, older_than=dt.timedelta(0))
    assert (second.status, second.file_id) == ("submitted", "F1")
    key = submission.idempotency_key_of(batch_id)
    assert [(c, k) for c, _, k in client.calls] == [(stored.encode(), key)] * 2
    # Sent and recorded: nothing left to resend.
    assert submission.resend_unsent(factory, client, SYSTEM, older_than=dt.timedelta(0)) == []
    # The answer was lost after the clearinghouse took the file: the resend gets the first
    # receipt, the clearinghouse received the claim once.
    with unit_of_work(factory) as s:
        b = s.get(ClaimBatch, batch_id)
        assert b is not None
        b.status = "built"
    submission.resend_unsent(factory, client, SYSTEM, older_than=dt.timedelta(0))
    assert len(client.receipts) == 1
    assert len(client.sent_control_numbers()) == 1


def test_an_interchange_the_clearinghouse_refuses_rejects_its_claims(
    factory: sessionmaker[Session],
) -> None:
    with unit_of_work(factory) as s:
        w = billable(s)
        claim = scrubbed(s, w)
    client = FakeClearinghouse(failures=[ClearinghouseRejected("TA1 rejected: ISA06 unknown")])
    res = submission.submit_claims(
        factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS
    )
    assert res.batch is not None
    assert (res.batch.status, res.batch.error) == (
        "failed",
        "clearinghouse.rejected: TA1 rejected: ISA06 unknown",
    )
    with unit_of_work(factory) as s:
        c = s.get(Claim, claim.id)
        assert c is not None
        assert c.status == "rejected"
        ev = events(s, c)[-1]
        assert ev.detail["source"] == "clearinghouse"
        assert ev.detail["codes"] == ["clearinghouse.rejected"]


# -- acknowledgements ---------------------------------------------------------------------------
def _submitted_pair(factory: sessionmaker[Session]) -> tuple[World, Claim, Claim, ClaimBatch]:
    """Two claims of one payer in one set, sent."""
    with unit_of_work(factory) as s:
        w = billable(s)
        a = scrubbed(s, w, invoice_line_ids=[w.invoice.lines[0].id])
        b = scrubbed(s, w, invoice_line_ids=[w.invoice.lines[1].id])
    client = FakeClearinghouse()
    res = submission.submit_claims(
        factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS
    )
    assert res.batch is not None
    return w, a, b, res.batch


def _sub(s: Session, claim: Claim) -> ClaimSubmission:
    sub = s.scalar(select(ClaimSubmission).where(ClaimSubmission.claim_id == claim.id))
    assert sub is not None
    return sub


def test_999_set_rejection_maps_to_its_claims_and_ik3_to_the_claim_it_falls_in(
    factory: sessionmaker[Session],
) -> None:
    w, a, b, batch = _submitted_pair(factory)
    with unit_of_work(factory) as s:
        sub_b = _sub(s, b)
        pos = sub_b.first_segment + 2  # inside claim b
    text = ack_999(
        w.practice.npi,
        batch.interchange_control_number,
        [
            [
                "AK2*837*0001*005010X222A1",
                f"IK3*SV1*{pos}*2400*8",
                f"CTX*CLM01:{b.control_number}",
                "IK4*1:2*234*7*XX",
                "IK5*R*5",
            ]
        ],
        "R",
    )
    client = FakeClearinghouse(inbound=[inbound("ACK1", "999", text)])
    res = submission.process_inbound(factory, client)
    assert (res.files, res.acknowledged, res.rejected, res.unmatched) == (1, 1, 2, 0)
    assert client.acknowledged == ["ACK1"]
    with unit_of_work(factory) as s:
        ca, cb = s.get(Claim, a.id), s.get(Claim, b.id)
        assert ca is not None
        assert cb is not None
        assert (ca.status, cb.status) == ("rejected", "rejected")
        eb = events(s, cb)[-1]
        assert (eb.actor_kind, eb.from_status, eb.to_status) == ("payer", "submitted", "rejected")
        assert eb.detail == {
            "source": "999",
            "codes": ["IK5:R", "IK5:5", "IK3:8", "IK4:7"],
            "message": f"SV1 at position {pos}: Segment has data element errors; "
            "element 1:2: Invalid code value ('XX')",
            "segment": "SV1",
            "position": pos,
            "set_control_number": "0001",
            "file_id": "ACK1",
        }
        ea = events(s, ca)[-1]
        assert ea.detail == {
            "source": "999",
            "codes": ["IK5:R", "IK5:5"],
            "message": "transaction set 0001 rejected: One or more segments in error",
            "segment": None,
            "position": None,
            "set_control_number": "0001",
            "file_id": "ACK1",
        }
        before = counts(s)
    # The same file again (the clearinghouse offers it twice): nothing changes.
    again = FakeClearinghouse(inbound=[inbound("ACK1", "999", text)])
    res2 = submission.process_inbound(factory, again)
    assert (res2.rejected, res2.noted, res2.accepted) == (0, 0, 0)
    with unit_of_work(factory) as s:
        assert counts(s) == before


def test_999_accepted_set_notes_and_moves_nothing(factory: sessionmaker[Session]) -> None:
    w, a, b, batch = _submitted_pair(factory)
    text = ack_999(
        w.practice.npi,
        batch.interchange_control_number,
        [["AK2*837*0001*005010X222A1", "IK5*A"]],
        "A",
    )
    res = submission.process_inbound(
        factory, FakeClearinghouse(inbound=[inbound("ACK2", "999", text)])
    )
    assert (res.noted, res.rejected, res.accepted) == (2, 0, 0)
    with unit_of_work(factory) as s:
        for claim in (a, b):
            c = s.get(Claim, claim.id)
            assert c is not None
            assert c.status == "submitted"
            ev = events(s, c)[-1]
            assert (ev.kind, ev.detail) == (
                "acknowledgement",
                {"source": "999", "status": "A", "file_id": "ACK2"},
            )


def test_277ca_accepts_one_claim_with_its_payer_number_and_rejects_the_other(
    factory: sessionmaker[Session],
) -> None:
    w, a, b, batch = _submitted_pair(factory)
    text = ack_277(
        w.practice.npi,
        batch.batch_reference,
        [
            [f"TRN*2*{a.control_number}", "STC*A2:20:PR*20261127*WQ*150", "REF*1K*ICN-555"],
            [
                f"TRN*2*{b.control_number}",
                "STC*A7:562:85*20261127*U*60********NPI CHECK DIGIT",
            ],
        ],
    )
    client = FakeClearinghouse(inbound=[inbound("CA1", "277CA", text)])
    res = submission.process_inbound(factory, client)
    assert (res.accepted, res.rejected, res.acknowledged) == (1, 1, 1)
    with unit_of_work(factory) as s:
        ca, cb = s.get(Claim, a.id), s.get(Claim, b.id)
        assert ca is not None
        assert cb is not None
        assert (ca.status, ca.payer_claim_number) == ("accepted", "ICN-555")
        assert (cb.status, cb.payer_claim_number) == ("rejected", None)
        assert events(s, cb)[-1].detail == {
            "source": "277CA",
            "codes": ["A7:562:85"],
            "message": "Acknowledgement/Rejected for Invalid Information (Billing Provider): "
            "NPI CHECK DIGIT",
            "segment": "STC",
            "position": None,
            "file_id": "CA1",
        }
        before = counts(s)
    submission.process_inbound(factory, FakeClearinghouse(inbound=[inbound("CA1", "277CA", text)]))
    with unit_of_work(factory) as s:
        assert counts(s) == before


def test_277ca_rejection_keeps_the_location_named_in_stc12(
    factory: sessionmaker[Session],
) -> None:
    """An STC12 that starts with the 837 loop, segment and element ("2010BA DMG02 ...") gives
    the rejection its location; the rejection queue shows it."""
    w, a, _b, batch = _submitted_pair(factory)
    text = ack_277(
        w.practice.npi,
        batch.batch_reference,
        [
            [
                f"TRN*2*{a.control_number}",
                "STC*A7:158:IL*20261127*U*150********2010BA DMG02 SUBSCRIBER DATE OF BIRTH "
                "DOES NOT MATCH PAYER RECORDS",
            ],
        ],
    )
    res = submission.process_inbound(
        factory, FakeClearinghouse(inbound=[inbound("CA7", "277CA", text)])
    )
    assert (res.accepted, res.rejected, res.acknowledged) == (0, 1, 1)
    with unit_of_work(factory) as s:
        ca = s.get(Claim, a.id)
        assert ca is not None
        assert ca.status == "rejected"
        assert events(s, ca)[-1].detail == {
            "source": "277CA",
            "codes": ["A7:158:IL"],
            "message": "Acknowledgement/Rejected for Invalid Information (Insured or Subscriber): "
            "2010BA DMG02 SUBSCRIBER DATE OF BIRTH DOES NOT MATCH PAYER RECORDS",
            "segment": "DMG",
            "position": None,
            "loop": "2010BA",
            "element": 2,
            "file_id": "CA7",
        }


def test_unreadable_file_is_left_unacknowledged_and_835s_are_not_touched(
    factory: sessionmaker[Session],
) -> None:
    _submitted_pair(factory)
    client = FakeClearinghouse(
        inbound=[inbound("BAD", "999", "ISA*garbage~"), inbound("ERA", "835", "ISA*...~")]
    )
    with unit_of_work(factory) as s:
        before = counts(s)
    res = submission.process_inbound(factory, client)
    assert (res.files, res.acknowledged, res.unreadable) == (1, 0, ["BAD"])
    assert client.acknowledged == []
    with unit_of_work(factory) as s:
        assert counts(s) == before


def test_an_old_batchs_999_does_not_reject_the_claim_sent_again(
    factory: sessionmaker[Session],
) -> None:
    w, a, b, batch = _submitted_pair(factory)
    with unit_of_work(factory) as s:
        c = s.get(Claim, a.id)
        assert c is not None
        states.transition(s, c, "rejected", actor=SYSTEM, actor_kind="payer")
        states.transition(s, c, "draft", actor=SYSTEM, actor_kind="user")
        states.transition(s, c, "scrubbed", actor=SYSTEM, actor_kind="system")
    submission.submit_claims(
        factory, SYSTEM, FakeClearinghouse(), practice_id=w.practice.id, settings=SETTINGS
    )
    text = ack_999(
        w.practice.npi,
        batch.interchange_control_number,
        [["AK2*837*0001*005010X222A1", "IK5*R*5"]],
        "R",
    )
    submission.process_inbound(factory, FakeClearinghouse(inbound=[inbound("OLD", "999", text)]))
    with unit_of_work(factory) as s:
        ca, cb = s.get(Claim, a.id), s.get(Claim, b.id)
        assert ca is not None
        assert cb is not None
        assert (ca.status, cb.status) == ("submitted", "rejected")


# -- corrected and void claims ----------------------------------------------------------------
@pytest.mark.parametrize("frequency", ["7", "8"])
def test_corrected_and_void_claims_carry_the_payer_claim_number(
    factory: sessionmaker[Session], frequency: str
) -> None:
    w, a, _, batch = _submitted_pair(factory)
    text = ack_277(
        w.practice.npi,
        batch.batch_reference,
        [[f"TRN*2*{a.control_number}", "STC*A2:20*20261127*WQ*150", "REF*1K*ICN-777"]],
    )
    submission.process_inbound(factory, FakeClearinghouse(inbound=[inbound("CA", "277CA", text)]))
    with unit_of_work(factory) as s:
        view = submission.correct_claim(s, SYSTEM, a.id, frequency=frequency)
        copy = view.claim
        assert (copy.frequency_code, copy.replaces_claim_id, copy.control_number) == (
            frequency,
            a.id,
            f"RC{copy.number:08d}",
        )
        assert copy.status == "draft"
        assert copy.number == 3
        assert [ln.line_control_number for ln in view.lines] == [f"C{copy.number}L1"]
        states.transition(s, copy, "scrubbed", actor=SYSTEM, actor_kind="system")
        with pytest.raises(DomainError) as exc:
            submission.correct_claim(s, SYSTEM, a.id, frequency="7")
        assert exc.value.code == "claim.not_correctable"
    client = FakeClearinghouse()
    res = submission.submit_claims(
        factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS
    )
    assert res.batch is not None
    assert res.claim_ids == [copy.id]
    content = res.batch.content
    assert pyx12_errors(content) == []
    loop = claim_segments(content, copy.control_number)
    assert loop[0] == f"CLM*{copy.control_number}*150***11:B:{frequency}*Y*A*Y*Y"
    assert loop[1] == "REF*F8*ICN-777"
    with unit_of_work(factory) as s:
        c = s.get(Claim, copy.id)
        assert c is not None
        assert c.billed_entry_id is None


def test_correcting_a_claim_the_payer_does_not_have_is_refused(session: Session) -> None:
    w = billable(session)
    claim = make_claim(session, w).claim
    before = counts(session)
    with pytest.raises(DomainError) as exc:
        submission.correct_claim(session, SYSTEM, claim.id, frequency="8")
    assert exc.value.code == "claim.not_correctable"
    assert counts(session) == before


# -- concurrency ----------------------------------------------------------------------------
def test_concurrent_submitters_never_send_a_claim_twice_nor_reuse_an_isa13(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        w = billable(s)
        invoice = make_invoice(
            s,
            w.patient,
            lines=[
                line("99213", "150.00", provider_id=w.provider.id, diagnosis_codes=["E11.9"])
                for _ in range(6)
            ],
        )
        w.invoice = invoice
        ids = [scrubbed(s, w, invoice_line_ids=[ln.id]).id for ln in invoice.lines]
    client = FakeClearinghouse()
    barrier = threading.Barrier(4)

    def attempt(_: int) -> list[str]:
        barrier.wait()
        done: list[str] = []
        while True:
            res = submission.submit_claims(
                factory, SYSTEM, client, practice_id=w.practice.id, settings=SETTINGS, limit=2
            )
            if res.batch is None:
                return done
            done.append(res.batch.idempotency_key)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(attempt, range(4)))
    sent = client.sent_control_numbers()
    with unit_of_work(factory) as s:
        claims = [s.get(Claim, i) for i in ids]
        assert sorted(sent) == sorted(c.control_number for c in claims if c is not None)
        assert all(c is not None and c.status == "submitted" for c in claims)
        icns = list(s.scalars(select(ClaimBatch.interchange_control_number)))
        assert sorted(icns) == list(range(1, len(icns) + 1))
        assert s.scalar(select(func.count()).select_from(ClaimSubmission)) == 6


# -- routes -------------------------------------------------------------------------------------
def test_submit_route_batch_route_rejections_and_corrections(
    session: Session, client: TestClient
) -> None:
    w = billable(session)
    a = scrubbed(session, w, invoice_line_ids=[w.invoice.lines[0].id])
    b = scrubbed(session, w, invoice_line_ids=[w.invoice.lines[1].id])
    headers = auth_header(session, make_user(session, "billing_staff", practices=[w.practice]))
    session.commit()
    fake = FakeClearinghouse()
    client.app.state.clearinghouse = fake  # type: ignore[attr-defined]
    body = {"practice_id": str(w.practice.id)}

    before = counts(session)
    r = client.post("/api/v1/claims/submit", json=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (428, "claim.idempotency_key_required")
    assert counts(session) == before
    assert fake.calls == []

    keyed = {**headers, "Idempotency-Key": "submit-1"}
    r = client.post("/api/v1/claims/submit", json=body, headers=keyed)
    assert r.status_code == 201, r.text
    out = r.json()
    batch = out["batch"]
    assert sorted(out["claim_ids"]) == sorted([str(a.id), str(b.id)])
    assert out["returned_to_draft"] == []
    assert {
        k: batch[k]
        for k in (
            "interchange_control_number",
            "status",
            "claim_count",
            "total_charge",
            "currency",
            "file_id",
            "error",
        )
    } == {
        "interchange_control_number": 1,
        "status": "submitted",
        "claim_count": 2,
        "total_charge": "210.00",
        "currency": "USD",
        "file_id": "F1",
        "error": None,
    }
    assert batch["batch_reference"] == f"{w.practice.npi}-000000001"
    replay = client.post("/api/v1/claims/submit", json=body, headers=keyed)
    assert (replay.status_code, replay.json()) == (201, out)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(fake.calls) == 1

    r = client.get(f"/api/v1/claim-batches/{batch['id']}", headers=headers)
    assert r.status_code == 200
    assert [
        (c["control_number"], c["attempt"], c["set_control_number"]) for c in r.json()["claims"]
    ] == [
        (a.control_number, 1, "0001"),
        (b.control_number, 1, "0001"),
    ]
    assert "content" not in r.json()

    # Nothing left: 200 without a batch.
    r = client.post(
        "/api/v1/claims/submit", json=body, headers={**headers, "Idempotency-Key": "submit-2"}
    )
    assert (r.status_code, r.json()["batch"]) == (200, None)

    fake.inbound.append(
        inbound(
            "CA1",
            "277CA",
            ack_277(
                w.practice.npi,
                batch["batch_reference"],
                [
                    [f"TRN*2*{a.control_number}", "STC*A2:20*20261127*WQ*150", "REF*1K*ICN-1"],
                    [f"TRN*2*{b.control_number}", "STC*A8:562:85*20261127*U*60"],
                ],
            ),
        )
    )
    submission.process_inbound(client.app.state.session_factory, fake)  # type: ignore[attr-defined]
    r = client.get(
        "/api/v1/claims/rejections", params={"practice_id": str(w.practice.id)}, headers=headers
    )
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert {k: item[k] for k in ("claim_id", "source", "codes", "segment", "position")} == {
        "claim_id": str(b.id),
        "source": "277CA",
        "codes": ["A8:562:85"],
        "segment": "STC",
        "position": None,
    }
    assert item["message"] == (
        "Acknowledgement/Rejected for relational field in error (Billing Provider)"
    )

    r = client.post(f"/api/v1/claims/{a.id}/correct", headers=headers)
    assert r.status_code == 201, r.text
    assert (r.json()["frequency_code"], r.json()["replaces_claim_id"], r.json()["status"]) == (
        "7",
        str(a.id),
        "draft",
    )
    before = counts(session)
    r = client.post(f"/api/v1/claims/{b.id}/void", headers=headers)
    assert (r.status_code, r.json()["code"]) == (409, "claim.not_correctable")
    assert counts(session) == before


def test_submit_route_refuses_bad_input_without_writing(
    session: Session, client: TestClient
) -> None:
    w = billable(session)
    scrubbed(session, w)
    headers = auth_header(session, make_user(session, "billing_staff", practices=[w.practice]))
    other = make_practice(session, name="Elsewhere")
    session.commit()
    fake = FakeClearinghouse()
    client.app.state.clearinghouse = fake  # type: ignore[attr-defined]
    before = counts(session)
    for n, (body, status, code) in enumerate(
        [
            ({}, 422, "request.missing_field"),
            ({"practice_id": "nope"}, 422, "request.invalid"),
            ({"practice_id": str(w.practice.id), "claim_ids": []}, 422, "request.invalid"),
            ({"practice_id": str(other.id)}, 404, "practice.not_found"),
        ]
    ):
        r = client.post(
            "/api/v1/claims/submit",
            json=body,
            headers={**headers, "Idempotency-Key": f"bad-{n}"},
        )
        assert (r.status_code, r.json()["code"]) == (status, code), body
    assert counts(session) == before
    assert fake.calls == []
    r = client.get("/api/v1/claim-batches/not-a-uuid", headers=headers)
    assert r.status_code == 422


def test_999_group_rejected_without_set_loops_rejects_every_claim_of_the_batch(
    factory: sessionmaker[Session],
) -> None:
    w, a, b, batch = _submitted_pair(factory)
    text = ack_999(w.practice.npi, batch.interchange_control_number, [], "R")
    res = submission.process_inbound(
        factory, FakeClearinghouse(inbound=[inbound("GRP", "999", text)])
    )
    assert (res.rejected, res.unmatched) == (2, 0)
    with unit_of_work(factory) as s:
        for claim in (a, b):
            c = s.get(Claim, claim.id)
            assert c is not None
            assert c.status == "rejected"
            assert events(s, c)[-1].detail["codes"] == ["IK5:R"]


def test_999_for_an_unknown_interchange_is_unmatched_and_acknowledged(
    factory: sessionmaker[Session],
) -> None:
    w, _, _, batch = _submitted_pair(factory)
    text = ack_999(w.practice.npi, 999, [["AK2*837*0001*005010X222A1", "IK5*R*5"]], "R")
    with unit_of_work(factory) as s:
        before = counts(s)
    client = FakeClearinghouse(inbound=[inbound("X", "999", text)])
    res = submission.process_inbound(factory, client)
    assert (res.unmatched, res.acknowledged, client.acknowledged) == (1, 1, ["X"])
    with unit_of_work(factory) as s:
        assert counts(s) == before


# -- worker tasks and CLI -----------------------------------------------------------------------
def test_worker_tasks_submit_and_read_acknowledgements(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work(factory) as s:
        w = billable(s)
        claim = scrubbed(s, w)
    fake = FakeClearinghouse()
    monkeypatch.setattr(claims_tasks, "build_clearinghouse", lambda _s, _f: fake)
    now = dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC)
    assert claims_tasks.submit_run_once(factory, SETTINGS, now) == 1
    assert claims_tasks.submit_run_once(factory, SETTINGS, now) == 0
    with unit_of_work(factory) as s:
        batch = s.scalars(select(ClaimBatch)).one()
        reference = batch.batch_reference
    fake.inbound.append(
        inbound(
            "CA",
            "277CA",
            ack_277(
                w.practice.npi,
                reference,
                [[f"TRN*2*{claim.control_number}", "STC*A1:19*20261127*WQ*210"]],
            ),
        )
    )
    assert claims_tasks.acknowledgements_run_once(factory, SETTINGS, now) == 1
    assert claims_tasks.acknowledgements_run_once(factory, SETTINGS, now) == 0
    with unit_of_work(factory) as s:
        c = s.get(Claim, claim.id)
        assert c is not None
        assert c.status == "accepted"


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[CliRunner, FakeClearinghouse]]:
    url, _, _ = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    fake = FakeClearinghouse()
    monkeypatch.setattr(claims_commands, "build_clearinghouse", lambda _s, _f: fake)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner(), fake
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def test_cli_submit_and_acks(
    cli: tuple[CliRunner, FakeClearinghouse],
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    runner, fake = cli
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        w = billable(s)
        claim = scrubbed(s, w)
    r = runner.invoke(app, ["claims", "submit", "--practice", str(w.practice.id)])
    assert r.exit_code == 0, r.output
    with unit_of_work(factory) as s:
        batch = s.scalars(select(ClaimBatch)).one()
    assert r.output == f"batch {batch.id}: ISA13 1, 1 claims, status submitted\n"
    r = runner.invoke(app, ["claims", "submit", "--practice", str(w.practice.id)])
    assert (r.exit_code, r.output) == (0, "no scrubbed claim to send\n")
    r = runner.invoke(app, ["claims", "submit", "--practice", "nope"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["claims", "submit", "--practice", str(uuid.uuid4())])
    assert r.exit_code == 1
    assert "error [practice.not_found]" in r.output
    fake.inbound.append(
        inbound(
            "CA",
            "277CA",
            ack_277(
                w.practice.npi,
                batch.batch_reference,
                [[f"TRN*2*{claim.control_number}", "STC*A7:562:85*20261127*U*210"]],
            ),
        )
    )
    r = runner.invoke(app, ["claims", "acks"])
    assert (r.exit_code, r.output) == (
        0,
        "1 files, 0 claims accepted, 1 rejected, 0 noted, 0 unmatched\n",
    )
    fake.inbound.append(inbound("BAD", "999", "garbage"))
    r = runner.invoke(app, ["claims", "acks"])
    assert r.exit_code == 1


def test_the_same_file_processed_concurrently_applies_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    w, a, b, batch = _submitted_pair(factory)
    text = ack_277(
        w.practice.npi,
        batch.batch_reference,
        [
            [f"TRN*2*{a.control_number}", "STC*A2:20*20261127*WQ*150", "REF*1K*ICN-1"],
            [f"TRN*2*{b.control_number}", "STC*A7:562:85*20261127*U*60"],
        ],
    )
    barrier = threading.Barrier(4)

    def attempt(_: int) -> tuple[int, int]:
        barrier.wait()
        res = submission.process_inbound(
            factory, FakeClearinghouse(inbound=[inbound("SAME", "277CA", text)])
        )
        return res.accepted, res.rejected

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert sum(acc for acc, _ in results) == 1
    assert sum(rej for _, rej in results) == 1
    with unit_of_work(factory) as s:
        for claim, status in ((a, "accepted"), (b, "rejected")):
            c = s.get(Claim, claim.id)
            assert c is not None
            assert c.status == status
            assert sum(1 for e in events(s, c) if e.detail.get("file_id") == "SAME") == 1


# -- secondary claims (COB) -----------------------------------------------------------------------
def _adjudicate(session: Session, claim: Claim) -> None:
    """What 835 posting records on the primary claim (docs/claims.md, event details)."""
    claim.payer_claim_number = "ICN-P1"
    lcn = [f"C{claim.number}L1", f"C{claim.number}L2"]
    states.transition(
        session,
        claim,
        "adjudicated",
        actor=SYSTEM,
        actor_kind="payer",
        detail={
            "payer_claim_number": "ICN-P1",
            "adjudicated_on": "2026-01-20",
            "status_code": "1",
            "paid_minor": 11200,
            "patient_responsibility_minor": 2800,
            "adjustments": [],
            "remarks": [],
            "lines": [
                {
                    "line_control_number": lcn[0],
                    "procedure": "99213",
                    "modifiers": [],
                    "units": 1,
                    "paid_minor": 8000,
                    "adjustments": [
                        {"group": "CO", "reason": "45", "amount_minor": 5000},
                        {"group": "PR", "reason": "2", "amount_minor": 2000},
                    ],
                },
                {
                    "line_control_number": lcn[1],
                    "procedure": "80053",
                    "modifiers": [],
                    "units": 1,
                    "paid_minor": 3200,
                    "adjustments": [
                        {"group": "CO", "reason": "45", "amount_minor": 2000},
                        {"group": "PR", "reason": "2", "amount_minor": 800},
                    ],
                },
            ],
        },
    )
    session.flush()


def test_secondary_claim_carries_the_primary_adjudication_and_validates(
    session: Session,
) -> None:
    w = billable(session)
    primary = scrubbed(session, w)
    assert build(session, w).batch is not None
    payer2 = make_payer(session, w.practice, name="Second Mutual")
    plan2 = make_plan(session, payer2, product_type="other")
    cov2 = make_coverage(session, w.patient, plan2, priority=2, member_id="S445")
    secondary = make_claim(session, w, coverage_id=cov2.coverage.id).claim
    assert secondary.sequence == "secondary"
    secondary.primary_claim_id = primary.id
    states.transition(session, secondary, "scrubbed", actor=SYSTEM, actor_kind="system")
    session.flush()

    # Not adjudicated yet: back to draft with the reason.
    res = build(session, w)
    assert res.batch is None
    assert [r.reason for r in res.returned] == [
        f"837P: claim {secondary.control_number}: other_payers: the primary payer has not "
        "adjudicated the primary claim yet"
    ]
    states.transition(session, secondary, "scrubbed", actor=SYSTEM, actor_kind="system")
    session.flush()
    _adjudicate(session, primary)

    batch = build(session, w).batch
    assert batch is not None
    text = batch.content
    assert pyx12_errors(text) == []
    s = segs(text)
    assert f"NM1*PR*2*SECOND MUTUAL*****PI*{payer2.edi_payer_id}" in s
    assert "SBR*S*18*******CI" in s
    loop = claim_segments(text, secondary.control_number)
    assert loop[loop.index("SBR*P*18*******12") :][:7] == [
        "SBR*P*18*******12",
        "AMT*D*112",
        "AMT*EAF*28",
        "OI***Y***Y",
        f"NM1*IL*1*CASEY*JORDAN****MI*{w.coverage.coverage.member_id}",
        f"NM1*PR*2*LAKESHORE HEALTH PLAN*****PI*{w.payer.edi_payer_id}",
        "REF*F8*ICN-P1",
    ]
    i = loop.index(f"REF*6R*C{secondary.number}L1")
    assert loop[i + 1 : i + 5] == [
        f"SVD*{w.payer.edi_payer_id}*80*HC:99213**1",
        "CAS*CO*45*50",
        "CAS*PR*2*20",
        "DTP*573*D8*20260120",
    ]
    # A secondary claim bills what the patient still owes on the invoice; this test records the
    # primary's answer without posting it, so the ledger says nothing is owed: nothing billed
    # (tests/remittances/test_posting.py posts a secondary for real).
    assert secondary.billed_entry_id is None
