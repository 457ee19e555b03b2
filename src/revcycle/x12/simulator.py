"""Payer simulator: answer every inquiry of a 270 with a valid 271. Pure and deterministic.

``simulate_271(x270_text, config)`` reads the 270 (``parse_270``), looks each subscriber's
member ID up in ``config.members`` and writes one 271 set per 270 set, mirroring its HL tree.
Nothing comes from a clock or a random source: the 271's dates and interchange control number
are the 270's, so the same 270 and configuration always give byte-identical output.

What a plan produces (see docs/x12.md for the full table), per patient:

* active member: ``EB*1`` plan coverage (EB03 30, plan name), ``EB*1`` for the standard service
  types (or the ones asked for), deductible and out-of-pocket (``C``/``G``) for IND and FAM,
  calendar year (23) and remaining (29), in and out of network; coinsurance (``A``) in and out
  of network; copays (``B``) per service type; one ``EB*CB`` with ``EB11=Y`` and the procedure
  in EB13 per prior-authorisation code; messages; a PCP in a 2120 loop when configured.
* inactive or terminated member: ``EB*6`` with the plan end date (DTP*347).
* a member ID configured with a reject reason (e.g. 72, 75), or not configured at all (75):
  the subscriber NM1 echoed with ``AAA`` and no benefits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from revcycle.x12.core import Source, X12Error
from revcycle.x12.eligibility import (
    VERSION,
    EligibilityInquiry,
    Person,
    Request270,
    parse_270,
)
from revcycle.x12.writer import Composite, Envelope, InterchangeWriter, Repeated, TransactionWriter

STANDARD_SERVICE_TYPES = ("1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC")
_FOLLOW_UP = {"42": "R", "72": "C", "73": "C", "75": "C", "76": "C", "58": "C", "71": "C"}
_VALID_REQUEST = {"75", "76", "42", "71", "78"}  # the request was well formed; the data was not


@dataclass(frozen=True, slots=True)
class PrimaryCareProvider:
    last_name: str
    first_name: str
    npi: str


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan's benefits. Amounts are dollars (Decimal, at most 2 places); percents are the
    patient's share as a fraction (0.2 = 20 %)."""

    name: str = "GOLD PPO"
    insurance_type: str = "PR"
    group_number: str | None = None
    plan_begin: dt.date = dt.date(2026, 1, 1)
    deductible_individual: Decimal = Decimal("1500.00")
    deductible_individual_met: Decimal = Decimal("0.00")
    deductible_family: Decimal | None = Decimal("3000.00")
    deductible_family_met: Decimal = Decimal("0.00")
    oop_individual: Decimal = Decimal("6000.00")
    oop_individual_met: Decimal = Decimal("0.00")
    oop_family: Decimal | None = Decimal("12000.00")
    oop_family_met: Decimal = Decimal("0.00")
    coinsurance: Decimal = Decimal("0.2")
    out_of_network: bool = True
    out_of_network_factor: Decimal = Decimal("2")  # OON deductible/OOP = in-network x factor
    out_of_network_coinsurance: Decimal = Decimal("0.4")
    copays: Mapping[str, Decimal] = field(default_factory=dict)  # service type -> copay
    prior_auth_procedures: tuple[str, ...] = ()  # CPT/HCPCS codes needing authorisation
    messages: tuple[str, ...] = ()
    pcp: PrimaryCareProvider | None = None


@dataclass(frozen=True, slots=True)
class MemberConfig:
    """How the payer knows a member ID. ``status``: active, inactive or terminated (then
    ``plan_end`` is the last covered day). ``reject_reason``: answer with AAA instead."""

    plan: str = "default"
    status: str = "active"
    plan_end: dt.date | None = None
    reject_reason: str | None = None
    relationship_code: str = "19"  # INS02 for a dependent in the response


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    plans: Mapping[str, Plan]
    members: Mapping[str, MemberConfig]
    unknown_member_reason: str = "75"  # AAA03 for IDs not in ``members``
    source_reject_reason: str | None = None  # e.g. "42": the payer cannot answer now

    def check(self) -> None:
        for member_id, m in self.members.items():
            if m.status not in ("active", "inactive", "terminated"):
                raise X12Error(
                    "x12.bad_simulator_config",
                    f"member {member_id!r}: status must be active, inactive or terminated",
                )
            if m.reject_reason is None and m.plan not in self.plans:
                raise X12Error(
                    "x12.bad_simulator_config",
                    f"member {member_id!r} refers to unknown plan {m.plan!r}",
                )


def simulate_271(x270: Source, config: SimulatorConfig) -> str:
    """A 271 interchange answering every inquiry of ``x270`` (raises X12Error if the 270 cannot
    be read or its envelope is broken)."""
    config.check()
    parsed = parse_270(x270)
    if parsed.errors:
        raise parsed.errors[0]
    if not parsed.requests:
        raise X12Error("x12.empty", "the 270 holds no inquiries")
    first = parsed.requests[0].interchange
    created = _created(first.date, first.time)
    envelope = Envelope(
        sender_id=first.receiver_id or "PAYER",
        receiver_id=first.sender_id or "PROVIDER",
        sender_qualifier=first.receiver_qualifier or "ZZ",
        receiver_qualifier=first.sender_qualifier or "ZZ",
        interchange_control_number=_int(first.control_number, 1),
        group_control_number=max(1, _int(first.control_number, 1) % 1_000_000_000),
        created_at=created,
        usage=first.usage if first.usage in ("P", "T") else "P",
    )
    out = InterchangeWriter(envelope, functional_id="HB", version=VERSION)
    for n, request in enumerate(parsed.requests, start=1):
        tx = out.transaction("271", f"{n:04d}")
        _respond(tx, request, config)
        out.append(tx)
    return out.render()


def _created(date: str, time: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(date + time, "%y%m%d%H%M").replace(tzinfo=dt.UTC)
    except ValueError:
        return dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _int(value: str, default: int) -> int:
    return int(value) if value.isascii() and value.isdigit() else default


def _d8(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _respond(tx: TransactionWriter, request: Request270, config: SimulatorConfig) -> None:
    inquiries = request.inquiries
    tx.add("BHT", "0022", "11", request.reference, request.date, request.time)
    if not inquiries:
        return
    q0 = inquiries[0]
    tx.add("HL", "1", "", "20", "1")
    tx.add(
        "NM1", "PR", "2", q0.payer.name, "", "", "", "", q0.payer.id_qualifier, q0.payer.payer_id
    )
    if config.source_reject_reason:
        source_reason = config.source_reject_reason
        tx.add("AAA", "Y", "", source_reason, _FOLLOW_UP.get(source_reason, "R"))
        return
    tx.add("HL", "2", "1", "21", "1")
    pv = q0.provider
    tx.add(
        "NM1",
        "1P",
        "1" if pv.first_name else "2",
        pv.name,
        pv.first_name or "",
        "",
        "",
        "",
        pv.id_qualifier,
        pv.npi,
    )
    hl = 2
    # Group the inquiries by subscriber (a 270 may ask about several dependents of one).
    groups: list[tuple[Person, list[EligibilityInquiry]]] = []
    for q in inquiries:
        if groups and q.dependent is not None and groups[-1][0] == q.subscriber:
            groups[-1][1].append(q)
        else:
            groups.append((q.subscriber, [q]))
    for subscriber, qs in groups:
        hl += 1
        sub_hl = hl
        has_dependents = qs[0].dependent is not None
        tx.add("HL", str(sub_hl), "2", "22", "1" if has_dependents else "0")
        member_id = subscriber.member_id or ""
        member = config.members.get(member_id)
        if not has_dependents:
            _trn(tx, qs[0])
        _person_nm1(tx, "IL", subscriber)
        reason = (
            member.reject_reason if member is not None else config.unknown_member_reason
        ) or None
        if reason is not None:
            tx.add(
                "AAA",
                "Y" if reason in _VALID_REQUEST else "N",
                "",
                reason,
                _FOLLOW_UP.get(reason, "C"),
            )
            for q in qs if has_dependents else []:
                hl += 1
                tx.add("HL", str(hl), str(sub_hl), "23", "0")
                _trn(tx, q)
                assert q.dependent is not None
                _person_nm1(tx, "03", q.dependent)
            continue
        assert member is not None
        plan = config.plans[member.plan]
        if not has_dependents:
            _member_details(tx, plan, member, subscriber, None)
            _benefits(tx, qs[0], plan, member)
            continue
        if plan.group_number:
            tx.add("REF", "6P", plan.group_number)
        for q in qs:
            hl += 1
            tx.add("HL", str(hl), str(sub_hl), "23", "0")
            _trn(tx, q)
            assert q.dependent is not None
            _person_nm1(tx, "03", q.dependent)
            _member_details(tx, plan, member, q.dependent, member.relationship_code)
            _benefits(tx, q, plan, member)


def _trn(tx: TransactionWriter, q: EligibilityInquiry) -> None:
    if q.trace_number:
        tx.add("TRN", "2", q.trace_number, q.trace_originator_id)


def _person_nm1(tx: TransactionWriter, code: str, p: Person) -> None:
    if code == "IL":
        tx.add(
            "NM1", code, "1", p.last_name, p.first_name, p.middle_name, "", "", "MI", p.member_id
        )
    else:
        tx.add("NM1", code, "1", p.last_name, p.first_name, p.middle_name)


def _dmg(tx: TransactionWriter, p: Person) -> None:
    if p.birth_date or p.gender:
        tx.add(
            "DMG", "D8" if p.birth_date else "", _d8(p.birth_date) if p.birth_date else "", p.gender
        )


def _member_details(
    tx: TransactionWriter,
    plan: Plan,
    member: MemberConfig,
    person: Person,
    relationship: str | None,
) -> None:
    """2100C/D after NM1, in the guide's order: REF, DMG, INS, DTP."""
    if plan.group_number and relationship is None:
        tx.add("REF", "6P", plan.group_number)
    _dmg(tx, person)
    if relationship:
        tx.add("INS", "N", relationship)
    tx.add("DTP", "346", "D8", _d8(plan.plan_begin))
    if member.status != "active" and member.plan_end is not None:
        tx.add("DTP", "347", "D8", _d8(member.plan_end))


def _benefits(
    tx: TransactionWriter, q: EligibilityInquiry, plan: Plan, member: MemberConfig
) -> None:
    ins, name = plan.insurance_type, plan.name
    if member.status != "active":
        tx.add("EB", "6", "IND", "30", ins, name)  # the end date is in 2100C/D (DTP*347)
        return
    asked = [c for c in q.service_types if c != "30"]
    level = "FAM" if plan.deductible_family is not None else "IND"
    tx.add("EB", "1", level, "30", ins, name)
    for text in plan.messages:
        tx.add("MSG", text)
    if plan.pcp is not None:
        tx.add("EB", "L")
        tx.add("LS", "2120")
        pcp = plan.pcp
        tx.add("NM1", "P3", "1", pcp.last_name, pcp.first_name, "", "", "", "XX", pcp.npi)
        tx.add("LE", "2120")
    tx.add("EB", "1", "", Repeated(*(asked or STANDARD_SERVICE_TYPES)), ins, name)
    networks = [("Y", Decimal(1))]
    if plan.out_of_network:
        networks.append(("N", plan.out_of_network_factor))
    for code, amounts in (
        (
            "C",
            [
                ("IND", plan.deductible_individual, plan.deductible_individual_met),
                ("FAM", plan.deductible_family, plan.deductible_family_met),
            ],
        ),
        (
            "G",
            [
                ("IND", plan.oop_individual, plan.oop_individual_met),
                ("FAM", plan.oop_family, plan.oop_family_met),
            ],
        ),
    ):
        for network, factor in networks:
            for cov, total, met in amounts:
                if total is None:
                    continue
                limit = total * factor
                tx.add(
                    "EB", code, cov, "30", ins, name, "23", _money(limit), "", "", "", "", network
                )
                remaining = max(Decimal(0), limit - met)
                tx.add(
                    "EB",
                    code,
                    cov,
                    "30",
                    ins,
                    name,
                    "29",
                    _money(remaining),
                    "",
                    "",
                    "",
                    "",
                    network,
                )
    tx.add("EB", "A", "IND", "30", ins, name, "27", "", str(plan.coinsurance), "", "", "", "Y")
    if plan.out_of_network:
        tx.add(
            "EB",
            "A",
            "IND",
            "30",
            ins,
            name,
            "27",
            "",
            str(plan.out_of_network_coinsurance),
            "",
            "",
            "",
            "N",
        )
    for service_type, copay in plan.copays.items():
        if asked and service_type not in asked:
            continue
        tx.add("EB", "B", "IND", service_type, ins, name, "27", _money(copay), "", "", "", "", "Y")
    for proc in plan.prior_auth_procedures:
        tx.add(
            "EB", "CB", "IND", "1", ins, name, "", "", "", "", "", "Y", "Y", Composite("HC", proc)
        )
        tx.add("MSG", "PRIOR AUTHORIZATION REQUIRED")


def demo_config() -> SimulatorConfig:
    """A small configuration used by tests, the benchmark and docs: one rich PPO plan."""
    plan = Plan(
        name="GOLD PPO",
        insurance_type="PR",
        group_number="GRP12345",
        plan_begin=dt.date(2026, 1, 1),
        deductible_individual=Decimal("1500.00"),
        deductible_individual_met=Decimal("350.25"),
        deductible_family=Decimal("3000.00"),
        deductible_family_met=Decimal("700.50"),
        oop_individual=Decimal("6000.00"),
        oop_individual_met=Decimal("1200.00"),
        oop_family=Decimal("12000.00"),
        oop_family_met=Decimal("2400.00"),
        coinsurance=Decimal("0.2"),
        copays={
            "98": Decimal("25.00"),
            "UC": Decimal("50.00"),
            "86": Decimal("250.00"),
            "88": Decimal("10.00"),
        },
        prior_auth_procedures=("70553",),
        messages=("DEDUCTIBLE APPLIES TO OUT OF NETWORK",),
        pcp=PrimaryCareProvider("WELBY", "MARCUS", "1234567893"),
    )
    return SimulatorConfig(
        plans={"default": plan},
        members={
            "M10001": MemberConfig(),
            "M10002": MemberConfig(status="terminated", plan_end=dt.date(2026, 3, 31)),
            "M10003": MemberConfig(status="inactive"),
            "M10072": MemberConfig(reject_reason="72"),
        },
    )
