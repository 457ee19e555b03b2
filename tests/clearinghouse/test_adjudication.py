"""Pure adjudication: exact CAS per line, the order of decisions, secondary claims (OA-23),
the out-of-pocket maximum, and balancing of every outcome (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from revcycle.clearinghouse import adjudication as adj
from revcycle.x12.claim837_reader import read_837
from tests.x12.claim_samples import sample_837

TERMS = adj.PlanTerms(
    currency="USD",
    deductible_minor=5000,
    coinsurance_bp=2000,
    copays={"office_visit": 2500},
    cost_share_order="copay_then_deductible",
    auth_required_codes=frozenset({"70553"}),
    timely_filing_days=90,
    coverage_from=dt.date(2026, 1, 1),
    coverage_to=None,
    oop_max_minor=300000,
)
SETS = read_837(sample_837())
VISIT = SETS[0].claims[0]  # 99214-25 150.00 + 83036 50.00, REF*G1
SECONDARY = SETS[1].claims[0]  # the same lines, primary paid 80 + 20
RECEIVED = dt.date(2026, 11, 27)


def cas(outcome: adj.ClaimOutcome) -> list[list[tuple[str, str, int]]]:
    return [[(a.group, a.reason, a.amount_minor) for a in x.adjustments] for x in outcome.lines]


def test_paid_claim_exact() -> None:
    out = adj.adjudicate(VISIT, TERMS, adj.Accumulators(), [12000, 3000], received_on=RECEIVED)
    assert (out.status_code, out.paid_minor, out.patient_minor, out.deductible_minor) == (
        "1",
        6000,
        9000,
        5000,
    )
    assert cas(out) == [
        [("CO", "45", 3000), ("PR", "1", 5000), ("PR", "2", 900), ("PR", "3", 2500)],
        [("CO", "45", 2000), ("PR", "2", 600)],
    ]


def test_oop_maximum_caps_the_patient() -> None:
    acc = adj.Accumulators(deductible_met_minor=5000, oop_met_minor=299000)
    out = adj.adjudicate(VISIT, TERMS, acc, [12000, 3000], received_on=RECEIVED)
    assert [x.patient_minor for x in out.lines] == [1000, 0]
    assert out.paid_minor == 14000


def test_allowed_above_the_charge_pays_the_charge() -> None:
    out = adj.adjudicate(
        VISIT, TERMS, adj.Accumulators(5000, 5000), [20000, 3000], received_on=RECEIVED
    )
    assert cas(out)[0] == [("PR", "2", 2500), ("PR", "3", 2500)]
    assert out.lines[0].allowed_minor == 15000


def test_decision_order() -> None:
    acc = adj.Accumulators()
    dup = adj.adjudicate(
        VISIT, TERMS, acc, [12000, 3000], received_on=RECEIVED, duplicate=True, scenario="XDN"
    )
    assert (dup.status_code, dup.reason, dup.remarks) == ("4", "18", ("N522",))
    late = adj.adjudicate(VISIT, TERMS, acc, [12000, 3000], received_on=dt.date(2027, 3, 1))
    assert late.reason == "29"
    early = adj.adjudicate(
        VISIT,
        dataclasses.replace(TERMS, coverage_from=dt.date(2026, 12, 1)),
        acc,
        [12000, 3000],
        received_on=RECEIVED,
    )
    assert (early.reason, cas(early)[1]) == ("26", [("CO", "26", 5000)])
    no_rate = adj.adjudicate(VISIT, TERMS, acc, [12000, None], received_on=RECEIVED)
    assert (no_rate.status_code, cas(no_rate)[1], no_rate.lines[1].remarks) == (
        "1",
        [("CO", "96", 5000)],
        ("N130",),
    )
    assert no_rate.paid_minor == 3600


def test_secondary_claim_pays_what_the_primary_left() -> None:
    # Allowed 120 and 30; the primary paid 80 and 20 (OA-23); the rest (40 and 10) is shared:
    # copay 25 + deductible 15 on line 1, deductible 10 on line 2: nothing left to pay.
    out = adj.adjudicate(SECONDARY, TERMS, adj.Accumulators(), [12000, 3000], received_on=RECEIVED)
    assert out.status_code == "2"
    assert cas(out) == [
        [("CO", "45", 3000), ("OA", "23", 8000), ("PR", "1", 1500), ("PR", "3", 2500)],
        [("CO", "45", 2000), ("OA", "23", 2000), ("PR", "1", 1000)],
    ]
    met = adj.adjudicate(
        SECONDARY, TERMS, adj.Accumulators(5000, 5000), [12000, 3000], received_on=RECEIVED
    )
    assert [x.paid_minor for x in met.lines] == [1200, 800]


def test_payment_out_and_reversal_sign() -> None:
    out = adj.adjudicate(VISIT, TERMS, adj.Accumulators(), [12000, 3000], received_on=RECEIVED)
    clp = adj.payment_out(VISIT, out, "SIM1", received_on=RECEIVED)
    assert (clp.patient_control_number, clp.payer_claim_number, clp.filing_indicator) == (
        "INV-1001",
        "SIM1",
        "12",
    )
    assert [ln.line_control_number for ln in clp.lines] == ["L1", "L2"]
    assert [ln.modifiers for ln in clp.lines] == [("25",), ()]
    rev = adj.payment_out(VISIT, out, "SIM1", received_on=RECEIVED, sign=-1)
    assert (rev.status_code, rev.paid_minor, rev.patient_responsibility_minor) == (
        "22",
        -6000,
        -9000,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 500_000)), min_size=2, max_size=2),
    st.integers(0, 10_000),
    st.integers(0, 400_000),
    st.sampled_from([None, "XPP", "XDN"]),
    st.booleans(),
)
def test_every_outcome_balances(
    allowed: list[int | None], ded_met: int, oop_met: int, scenario: str | None, secondary: bool
) -> None:
    claim = SECONDARY if secondary else VISIT
    out = adj.adjudicate(
        claim,
        TERMS,
        adj.Accumulators(ded_met, oop_met),
        allowed,
        received_on=RECEIVED,
        scenario=scenario,
    )
    for x in out.lines:
        assert x.line.charge_minor - sum(a.amount_minor for a in x.adjustments) == x.paid_minor
        assert x.paid_minor >= 0
        assert all(a.amount_minor > 0 for a in x.adjustments)
        assert x.patient_minor == sum(a.amount_minor for a in x.adjustments if a.group == "PR")
    assert sum(x.patient_minor for x in out.lines) <= max(0, 300000 - oop_met)
    assert Decimal(out.paid_minor) >= 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2000), st.text(max_size=6) | st.sampled_from(["|", "*", "~", ":"]))
def test_any_submitted_content_gets_a_readable_999(cut: int, junk: str) -> None:
    """Whatever arrives, the simulator's reading never raises and its 999 reads back."""
    import datetime as _dt

    from revcycle.clearinghouse import payer
    from revcycle.x12.acks import iter_999
    from revcycle.x12.payer_files import build_999
    from revcycle.x12.writer import Envelope

    text = sample_837()
    data = (text[:cut] + junk + text[cut:]).encode("utf-8", "replace")
    result = payer._read(data)
    sender = result.header.sender_id if result.header else "UNKNOWN"
    env = Envelope("CHSIM", payer.clean_receiver(sender), 1, 1, _dt.datetime(2026, 1, 1))
    acks = list(iter_999(build_999(payer._verdicts(result), env)))
    assert len(acks) == 1
