"""Issue #6: post 835 remittances at >= 5,000 claims/s into PostgreSQL (service layer).

Setup (not timed, ``bench/post835_setup.py``): one practice, provider, payer and PPO plan (fee
schedule 99213 100.00, 80053 40.00), ``N / 10`` patients with the plan as primary coverage, and
per claim one issued invoice (99213 150.00 + 80053 60.00) with its claim ``submitted``: the first
through the services, the others bulk copies of it; then ``ANALYZE`` and a ``CHECKPOINT``. The
835 is written by ``x12.payer_files.build_835`` (the payer simulator's writer, which checks every
balancing equation) in sets of 1,000 claims: paid claims with CO-45 and PR-1 / PR-2 / PR-3 in
turn, claims paid at the contract, underpaid claims (an underpayment row each), claim-level
CO-253, denials (CLP02 4, CO-50) and per set a PLB WO recoupment and an L6 interest payment.

Timed: ``remittances.service.post_file(factory, ...)`` on that file, one transaction per set,
exactly as ``revcycle era post`` does; the CPU of this process and of the scratch database's
PostgreSQL backends is read from /proc around it. Afterwards: every claim posted exactly once
(one ``remittance_claims`` row per claim, the claim statuses, one payer transition each), every
account's closing balance equal to what the file says (computed from the claims written, not
read back), ``revcycle check`` (integrity) clean, and the same file posted again changes nothing
(every set ``duplicate``).

Same-run baseline: ``ledger.service.post_entries_bulk`` of as many two-leg entries (with the
same patient and invoice dimensions) as the posting wrote, one transaction per set's worth, so
``posting / baseline`` is the cost of everything posting does beyond the ledger rows.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench import pg, procstat
from bench.http_bench import SYSTEM
from bench.post835_setup import DOS, PAYER_ID, Seeded, seed
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.db import make_engine, make_session_factory, migrate, unit_of_work
from revcycle.integrity import service as integrity
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import JournalEntry
from revcycle.money import Money
from revcycle.remittances import service as remittances
from revcycle.remittances.models import RemittanceClaim, Underpayment
from revcycle.x12 import payer_files as pf
from revcycle.x12.writer import Envelope

TARGET_CLAIMS_PER_S = 5_000
CLAIMS_PER_SET = 1_000
PAY_DAY = dt.date(2026, 2, 10)
PLB_WO = 500  # recouped from each set's payment (debit 2300)
PLB_L6 = -123  # interest added to each set's payment (credit 4500)


# -- the 835 -----------------------------------------------------------------------------------
def _cas(group: str, reason: str, minor: int) -> pf.Cas:
    return pf.Cas(group, reason, minor)


def _line(code: str, charge: int, lcn: str, adjustments: list[pf.Cas]) -> pf.ServicePayment:
    paid = charge - sum(a.amount_minor for a in adjustments)
    return pf.ServicePayment(
        procedure=code,
        modifiers=(),
        charge_minor=charge,
        paid_minor=paid,
        units=Decimal(1),
        service_date=DOS,
        line_control_number=lcn,
        adjustments=tuple(adjustments),
    )


def claim_payment(i: int, control: str, lcns: tuple[str, str]) -> pf.ClaimPaymentOut:
    """One CLP. i % 20: 0-11 paid with CO-45 and PR-1 / PR-2 / PR-3 in turn, 12-13 paid in
    full (allowed), 14-15 underpaid (CO-45 beyond the contract), 16 with a claim-level CO-253,
    17-19 denied (CO-50 on every line)."""
    kind = i % 20
    claim_adj: list[pf.Cas] = []
    status = "1"
    if kind < 12:
        pr = ("1", "2", "3")[kind % 3]
        l1 = _line("99213", 15000, lcns[0], [_cas("CO", "45", 5000), _cas("PR", pr, 2000)])
        l2 = _line("80053", 6000, lcns[1], [_cas("CO", "45", 2000), _cas("PR", "2", 800)])
    elif kind < 14:
        l1 = _line("99213", 15000, lcns[0], [_cas("CO", "45", 5000)])
        l2 = _line("80053", 6000, lcns[1], [_cas("CO", "45", 2000)])
    elif kind < 16:
        l1 = _line("99213", 15000, lcns[0], [_cas("CO", "45", 6000), _cas("PR", "2", 1800)])
        l2 = _line("80053", 6000, lcns[1], [_cas("CO", "45", 2500), _cas("PR", "2", 700)])
    elif kind == 16:
        l1 = _line("99213", 15000, lcns[0], [_cas("CO", "45", 5000), _cas("PR", "2", 2000)])
        l2 = _line("80053", 6000, lcns[1], [_cas("CO", "45", 2000), _cas("PR", "2", 800)])
        claim_adj = [_cas("CO", "253", 143)]
    else:
        status = "4"
        l1 = _line("99213", 15000, lcns[0], [_cas("CO", "50", 15000)])
        l2 = _line("80053", 6000, lcns[1], [_cas("CO", "50", 6000)])
    lines = (l1, l2)
    paid = sum(ln.paid_minor for ln in lines) - sum(a.amount_minor for a in claim_adj)
    pr_total = sum(a.amount_minor for ln in lines for a in ln.adjustments if a.group == "PR") + sum(
        a.amount_minor for a in claim_adj if a.group == "PR"
    )
    return pf.ClaimPaymentOut(
        patient_control_number=control,
        status_code=status,
        charge_minor=21000,
        paid_minor=paid,
        patient_responsibility_minor=pr_total,
        payer_claim_number=f"ICN{i:012d}",
        patient_last_name="BENCH",
        patient_first_name="PATIENT",
        member_id=f"M{i - i % 10:09d}",
        adjustments=tuple(claim_adj),
        lines=lines,
    )


def build_file(seeded: Seeded) -> tuple[str, list[pf.Remittance835]]:
    rems = []
    ids = seeded.control_numbers
    for k, start in enumerate(range(0, len(ids), CLAIMS_PER_SET), 1):
        claims = tuple(
            claim_payment(i, ids[i], seeded.line_numbers[i])
            for i in range(start, min(start + CLAIMS_PER_SET, len(ids)))
        )
        rems.append(
            pf.Remittance835(
                payer_name="BENCH HEALTH PLAN",
                payer_id=PAYER_ID,
                payer_tax_id="987654321",
                payee_name="REMITTANCE BENCH CLINIC",
                payee_npi=seeded.npi,
                trace_number=f"EFT{k:08d}",
                payment_date=PAY_DAY,
                claims=claims,
                provider_adjustments=(
                    pf.ProviderAdjustmentOut("WO", f"RECOUP{k}", PLB_WO),
                    pf.ProviderAdjustmentOut("L6", f"INT{k}", PLB_L6),
                ),
            )
        )
    envelope = Envelope(
        sender_id="BENCHPAYER",
        receiver_id="REVCYCLE",
        interchange_control_number=1,
        group_control_number=1,
        created_at=dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC),
    )
    return pf.build_835(rems, envelope), rems


def expected_balances(rems: list[pf.Remittance835], n: int) -> dict[str, int]:
    """Closing balance per account code (debit positive) after issuing, billing and posting,
    derived from the file alone (docs/remittance-posting.md, "Ledger")."""
    bal: Counter[str] = Counter()
    bal["4000"] -= 21000 * n  # issued invoices
    bal["1200"] += 21000 * n
    for rem in rems:
        for c in rem.claims:
            bal["1210"] += c.charge_minor  # billed at posting (claim.bill)
            bal["1200"] -= c.charge_minor
            bal["1020"] += c.paid_minor
            bal["1210"] -= c.paid_minor
            bal["1200"] += c.patient_responsibility_minor
            bal["1210"] -= c.patient_responsibility_minor
            if c.status_code != "4":  # a denial's CO is not written off
                co = c.charge_minor - c.paid_minor - c.patient_responsibility_minor
                bal["4200"] += co
                bal["1210"] -= co
        for p in rem.provider_adjustments:
            bal["2300" if p.reason == "WO" else "4500"] += p.amount_minor
            bal["1020"] -= p.amount_minor
    return {k: v for k, v in bal.items() if v}


def expected_underpayments(rems: list[pf.Remittance835]) -> int:
    """Adjudicated claims whose paid + patient responsibility is below the contract (14000)."""
    return sum(
        1
        for rem in rems
        for c in rem.claims
        if c.status_code == "1" and c.paid_minor + c.patient_responsibility_minor < 14000
    )


# -- run ---------------------------------------------------------------------------------------
def _balances(s: Session, practice_id: uuid.UUID) -> dict[str, int]:
    tb = ledger.trial_balance(s, practice_id, date_from=None, date_to=dt.date(2100, 1, 1))
    return {r.code: r.closing_minor for r in tb.rows if r.closing_minor}


def _count(s: Session, model: Any, *where: Any) -> int:
    return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _baseline(
    factory: sessionmaker[Session], practice_id: uuid.UUID, entries: int, per_tx: int
) -> dict[str, Any]:
    """post_entries_bulk of ``entries`` two-leg entries carrying patient and invoice dims."""
    with unit_of_work(factory) as s:
        dims = s.execute(
            select(Claim.patient_id, Claim.invoice_id).where(Claim.practice_id == practice_id)
        ).all()
    specs = []
    for i in range(entries):
        patient_id, invoice_id = dims[i % len(dims)]
        amount = Money(1_000 + i % 9_000, "USD")
        specs.append(
            ledger.EntrySpec(
                practice_id=practice_id,
                kind="bench.baseline",
                legs=[
                    ledger.debit(AccountCode.CARD_CLEARING, amount, patient_id=patient_id),
                    ledger.credit(AccountCode.SERVICE_REVENUE, amount, invoice_id=invoice_id),
                ],
                effective_date=PAY_DAY,
                memo=f"bench baseline {i}",
            )
        )
    t0 = time.perf_counter()
    for start in range(0, entries, per_tx):
        with unit_of_work(factory) as s:
            ledger.post_entries_bulk(s, specs[start : start + per_tx])
    seconds = time.perf_counter() - t0
    return {
        "entries": entries,
        "entries_per_tx": per_tx,
        "seconds": round(seconds, 3),
        "entries_per_s": round(entries / seconds),
    }


def _backend_cpu(engine: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this scratch database (our
    pooled connections; other databases' backends and the server's own processes excluded)."""
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        return sum(procstat._proc_cpu(int(pid))[1] for pid in pids)


def run(admin_url: str, *, claims: int) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": {"claims": claims, "claims_per_set": CLAIMS_PER_SET}}
    with pg.scratch_database(admin_url, "post835") as url:
        print(f"[post835] scratch database ready; migrating {url.rsplit('/', 1)[-1]}")
        migrate(url)
        engine = make_engine(url, pool_size=2)
        factory = make_session_factory(engine)
        t0 = time.perf_counter()
        seeded = seed(factory, claims)
        setup_s = time.perf_counter() - t0
        content, rems = build_file(seeded)
        data = content.encode("ascii")
        with unit_of_work(factory) as s:
            entries_before = _count(s, JournalEntry)
        with engine.connect() as conn:  # statistics as a live database has them
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        pg.checkpoint(admin_url)
        print(f"[post835] post_file: {claims:,} claims in {len(rems)} sets ({len(data):,} bytes)")
        pg_cpu0, cpu0 = _backend_cpu(engine), time.process_time()
        t0 = time.perf_counter()
        result = remittances.post_file(factory, SYSTEM, data, practice_id=seeded.practice_id)
        post_s = time.perf_counter() - t0
        cpu_s, pg_cpu_s = time.process_time() - cpu0, _backend_cpu(engine) - pg_cpu0
        rate = claims / post_s
        outcomes = Counter(s.outcome for s in result.sets)

        # --- verification ----------------------------------------------------------------------
        statuses = Counter(c.status_code for r in rems for c in r.claims)
        with unit_of_work(factory) as s:
            entries_posted = _count(s, JournalEntry) - entries_before
            per_claim = s.execute(
                select(RemittanceClaim.claim_id, func.count()).group_by(RemittanceClaim.claim_id)
            ).all()
            claim_status = Counter(st for (st,) in s.execute(select(Claim.status)).all())
            transitions = _count(
                s,
                ClaimEvent,
                ClaimEvent.actor_kind == "payer",
                ClaimEvent.kind == "transition",
            )
            underpayments = _count(s, Underpayment)
            balances = _balances(s, seeded.practice_id)
            t1 = time.perf_counter()
            report = integrity.run(s)
            integrity_s = time.perf_counter() - t1
        expected = expected_balances(rems, claims)
        t1 = time.perf_counter()
        again = remittances.post_file(factory, SYSTEM, data, practice_id=seeded.practice_id)
        again_s = time.perf_counter() - t1
        with unit_of_work(factory) as s:
            unchanged = _count(s, JournalEntry) - entries_before == entries_posted
        verification = {
            "outcomes": dict(outcomes),
            "file_errors": result.errors[:5],
            "claims_posted_once": len(per_claim) == claims
            and all(c == 1 and cid is not None for cid, c in per_claim),
            "claim_statuses": dict(claim_status),
            "statuses_match": claim_status
            == Counter({"adjudicated": statuses["1"], "denied": statuses["4"]}),
            "payer_transitions": transitions,
            "transitions_match": transitions == claims,
            "underpayments": underpayments,
            "underpayments_match": underpayments == expected_underpayments(rems),
            "balances": balances,
            "balances_match": balances == expected,
            "integrity_ok": report.ok,
            "integrity_s": round(integrity_s, 2),
            "integrity_violations": report.violations[:10],
            "rerun_all_duplicate": all(x.outcome == "duplicate" for x in again.sets),
            "rerun_s": round(again_s, 3),
            "rerun_wrote_nothing": unchanged,
        }
        if balances != expected:
            verification["balances_expected"] = expected

        print(f"[post835] baseline: post_entries_bulk x {entries_posted:,}")
        per_tx = max(1, round(entries_posted / max(len(rems), 1)))
        baseline = _baseline(factory, seeded.practice_id, entries_posted, per_tx)
        engine.dispose()
    out["setup_s"] = round(setup_s, 1)
    out["post"] = {
        "claims": claims,
        "sets": len(rems),
        "bytes": len(data),
        "entries": entries_posted,
        "seconds": round(post_s, 3),
        "claims_per_s": round(rate),
        "entries_per_s": round(entries_posted / post_s),
        "python_cpu_s": round(cpu_s, 2),
        "postgres_cpu_s": round(pg_cpu_s, 2),
    }
    out["baseline"] = baseline
    out["ratio_entries_to_baseline"] = round(
        (entries_posted / post_s) / baseline["entries_per_s"], 3
    )
    out["verification"] = verification
    out["target_claims_per_s"] = TARGET_CLAIMS_PER_S
    checks = (
        outcomes == Counter({"posted": len(rems)}),
        not result.errors,
        verification["claims_posted_once"],
        verification["statuses_match"],
        verification["transitions_match"],
        verification["underpayments_match"],
        verification["balances_match"],
        verification["integrity_ok"],
        verification["rerun_all_duplicate"],
        verification["rerun_wrote_nothing"],
    )
    out["verified"] = all(checks)
    out["pass"] = bool(out["verified"] and rate >= TARGET_CLAIMS_PER_S)
    return out


def summary(r: dict[str, Any]) -> None:
    p, b, v = r["post"], r["baseline"], r["verification"]
    print(
        f"POST835 post_file: {p['claims']:,} claims in {p['sets']} sets ({p['bytes']:,} bytes), "
        f"{p['entries']:,} journal entries, in {p['seconds']:.2f}s = {p['claims_per_s']:,} "
        f"claims/s (target >= {r['target_claims_per_s']:,}) "
        f"{'PASS' if p['claims_per_s'] >= r['target_claims_per_s'] else 'FAIL'}"
    )
    print(
        f"  baseline post_entries_bulk of the same {b['entries']:,} entries "
        f"({b['entries_per_tx']:,} per transaction): {b['seconds']:.2f}s = "
        f"{b['entries_per_s']:,} entries/s; posting "
        f"writes {p['entries_per_s']:,} entries/s = {r['ratio_entries_to_baseline']:.3f} of it "
        f"({p['seconds'] / b['seconds']:.1f}x the time)"
    )
    print(
        f"  CPU while posting: this process {p['python_cpu_s']:.1f}s "
        f"({1000 * p['python_cpu_s'] / p['claims']:.2f} ms/claim), its PostgreSQL backends "
        f"{p['postgres_cpu_s']:.1f}s ({1000 * p['postgres_cpu_s'] / p['claims']:.2f} ms/claim)"
    )
    print(
        f"  verified: claims posted once {v['claims_posted_once']}, statuses "
        f"{v['claim_statuses']} {'match' if v['statuses_match'] else 'MISMATCH'}, underpayments "
        f"{v['underpayments']} {'match' if v['underpayments_match'] else 'MISMATCH'}, balances "
        f"{'match' if v['balances_match'] else 'MISMATCH'}, integrity "
        f"{'ok' if v['integrity_ok'] else 'VIOLATIONS'}, rerun all duplicate "
        f"{v['rerun_all_duplicate']} ({v['rerun_s']:.2f}s) and wrote nothing "
        f"{v['rerun_wrote_nothing']}; setup {r['setup_s']:.0f}s"
    )
    print(f"  POST835 overall: {'PASS' if r['pass'] else 'FAIL'}")
