"""The 837P rules checked before anything is written (x12-field-notes.md sections 2.2-2.6).

A :class:`Checker` lives for one ``build_837p`` call: code values it has already accepted (ICD-10-CM
codes with their undotted form, procedure codes, modifiers, NPIs) are not checked again for the
next claim of the batch. Only values that passed are remembered, so a bad value raises the same
:class:`ClaimBuildError` wherever it appears; nothing outlives the call.
"""

from __future__ import annotations

from collections.abc import Sequence

from revcycle.kit import codes as idcodes
from revcycle.x12.claim837_model import (
    CAS_GROUPS,
    FILING_CODES,
    MAX_DIAGNOSES,
    MAX_LINES,
    PATIENT_RELATIONSHIPS,
    RESPONSIBILITY,
    Address,
    Adjustment,
    Batch,
    Claim,
    ClaimBuildError,
)


# -- checks ----------------------------------------------------------------------------------
def _npi(claim_id: str | None, what: str, value: str) -> None:
    try:
        idcodes.npi(value)
    except ValueError as exc:
        raise ClaimBuildError(claim_id, what, str(exc)) from None


def _zip9(claim_id: str | None, what: str, address: Address) -> None:
    if not (len(address.postal_code) == 9 and address.postal_code.isdigit()):
        raise ClaimBuildError(claim_id, what, "the ZIP code must have 9 digits (ZIP+4)")
    if address.line1.replace(".", "").replace(" ", "").upper().startswith(("POBOX", "PMB")):
        raise ClaimBuildError(claim_id, what, "must be a street address, not a PO box")


def _adjustments(claim_id: str, what: str, adjustments: Sequence[Adjustment]) -> None:
    for adj in adjustments:
        if adj.group not in CAS_GROUPS:
            raise ClaimBuildError(
                claim_id, what, f"adjustment group {adj.group!r} is not CO/OA/PI/PR"
            )
        if adj.amount_minor == 0:
            raise ClaimBuildError(claim_id, what, "zero adjustment amounts are not sent")
    groups = {a.group for a in adjustments}
    if len(groups) > 5:
        raise ClaimBuildError(claim_id, what, "at most 5 adjustment groups")
    for g in groups:
        if sum(1 for a in adjustments if a.group == g) > 6:
            raise ClaimBuildError(claim_id, what, f"at most 6 {g} adjustments")


def _claim_id_ok(cid: str) -> bool:
    return cid.isalnum() or all(c.isalnum() or c in "-." for c in cid)


class Checker:
    """The rules, with the code values already accepted in this batch remembered."""

    __slots__ = ("billing_npi", "icd", "modifiers", "npis", "pointers", "procedures")

    def __init__(self, billing_npi: str) -> None:
        self.billing_npi = billing_npi
        self.icd: dict[str, str] = {}  # code as given -> undotted, upper-case code
        self.procedures: set[str] = set()
        self.modifiers: set[str] = set()
        self.npis: set[str] = set()
        self.pointers: set[tuple[tuple[int, ...], int]] = set()  # (pointers, diagnosis count)

    def npi(self, claim_id: str | None, what: str, value: str) -> None:
        if value not in self.npis:
            _npi(claim_id, what, value)
            self.npis.add(value)

    def claim(self, claim: Claim) -> None:  # noqa: C901, PLR0912 - one rule list
        cid = claim.claim_id
        if not cid or len(cid) > 20 or not _claim_id_ok(cid):
            raise ClaimBuildError(
                cid or None, "claim_id", "1-20 letters, digits, '-' or '.' (receivers keep 20)"
            )
        lines = claim.lines
        if not 1 <= len(lines) <= MAX_LINES:
            raise ClaimBuildError(cid, "lines", f"a claim has 1 to {MAX_LINES} service lines")
        total = sum(line.charge_minor for line in lines)
        if total != claim.charge_minor:
            raise ClaimBuildError(
                cid, "charge", f"CLM02 {claim.charge_minor} must equal the sum of the lines {total}"
            )
        diagnoses = claim.diagnoses
        if not 1 <= len(diagnoses) <= MAX_DIAGNOSES:
            raise ClaimBuildError(cid, "diagnoses", f"1 to {MAX_DIAGNOSES} ICD-10-CM codes")
        icd = self.icd
        for code in diagnoses:
            if code not in icd:
                try:
                    icd[code] = idcodes.icd10cm(code).replace(".", "")
                except ValueError as exc:
                    raise ClaimBuildError(cid, "diagnoses", f"{code!r}: {exc}") from None
        if len(claim.place_of_service) != 2 or not claim.place_of_service.isdigit():
            raise ClaimBuildError(cid, "place_of_service", "a 2-digit CMS place of service code")
        if claim.frequency not in ("1", "7", "8"):
            raise ClaimBuildError(cid, "frequency", "1 original, 7 replacement or 8 void")
        if claim.frequency in ("7", "8") and not claim.original_claim_number:
            raise ClaimBuildError(
                cid, "original_claim_number", "a replacement or void needs the payer's claim number"
            )
        if claim.rendering is not None:
            self.npi(cid, "rendering.npi", claim.rendering.npi)
            if claim.rendering.npi == self.billing_npi:
                raise ClaimBuildError(cid, "rendering", "omit it when it is the billing provider")
        if claim.referring is not None:
            self.npi(cid, "referring.npi", claim.referring.npi)
        if claim.service_location is not None:
            self.npi(cid, "service_location.npi", claim.service_location[1])
            _zip9(cid, "service_location.address", claim.service_location[2])
        numbers = [line.line_control_number for line in lines]
        if len(set(numbers)) != len(numbers) or not all(numbers):
            raise ClaimBuildError(cid, "lines", "every line needs its own line_control_number")
        procedures, modifiers, pointers = self.procedures, self.modifiers, self.pointers
        n_diagnoses = len(diagnoses)
        for n, line in enumerate(lines, 1):
            try:
                if line.procedure not in procedures:
                    idcodes.procedure_code(line.procedure)
                    procedures.add(line.procedure)
                for m in line.modifiers:
                    if m not in modifiers:
                        idcodes.modifier(m)
                        modifiers.add(m)
            except ValueError as exc:
                raise ClaimBuildError(cid, f"lines[{n}]", str(exc)) from None
            if len(line.modifiers) > 4:
                raise ClaimBuildError(cid, f"lines[{n}]", "at most 4 modifiers")
            if line.charge_minor < 0 or line.units <= 0:
                raise ClaimBuildError(cid, f"lines[{n}]", "charge >= 0 and units > 0")
            key = (line.diagnosis_pointers, n_diagnoses)
            if key not in pointers:
                if not 1 <= len(line.diagnosis_pointers) <= 4 or not all(
                    1 <= p <= n_diagnoses for p in line.diagnosis_pointers
                ):
                    raise ClaimBuildError(
                        cid, f"lines[{n}]", f"1 to 4 diagnosis pointers, each 1..{n_diagnoses}"
                    )
                pointers.add(key)
            if line.service_date_to is not None and line.service_date_to < line.service_date:
                raise ClaimBuildError(
                    cid, f"lines[{n}]", "the service period ends before it starts"
                )
            if line.rendering is not None:
                self.npi(cid, f"lines[{n}].rendering.npi", line.rendering.npi)
            if line.ndc is not None and not (len(line.ndc) == 11 and line.ndc.isdigit()):
                raise ClaimBuildError(
                    cid, f"lines[{n}]", "an NDC has 11 digits (5-4-2, no hyphens)"
                )
            for adj in line.prior_payments:
                _adjustments(cid, f"lines[{n}].prior_payments", adj.adjustments)
        if claim.other_payers:
            _check_cob(claim)


def check_claim(claim: Claim, billing_npi: str) -> None:
    """The rules for one claim (``ClaimBuildError`` on the first one broken)."""
    Checker(billing_npi).claim(claim)


def _check_cob(claim: Claim) -> None:
    """COB balancing per prior payer (x12-field-notes.md 2.4)."""
    cid = claim.claim_id
    orders = [o.responsibility for o in claim.other_payers]
    if len(set(orders)) != len(orders):
        raise ClaimBuildError(cid, "other_payers", "each other payer needs its own SBR01 order")
    for o in claim.other_payers:
        what = f"other_payers[{o.payer.payer_id}]"
        if o.responsibility not in RESPONSIBILITY:
            raise ClaimBuildError(cid, what, f"SBR01 {o.responsibility!r} is not a payer order")
        if o.filing_code not in FILING_CODES:
            raise ClaimBuildError(cid, what, f"SBR09 {o.filing_code!r} is not a filing code")
        _adjustments(cid, what, o.adjustments)
        if o.paid_minor is None:
            continue
        claim_cas = sum(a.amount_minor for a in o.adjustments)
        line_parts = [
            (line, [p for p in line.prior_payments if p.payer_id == o.payer.payer_id])
            for line in claim.lines
        ]
        line_cas = sum(a.amount_minor for _, ps in line_parts for p in ps for a in p.adjustments)
        if claim.charge_minor != o.paid_minor + claim_cas + line_cas:
            raise ClaimBuildError(
                cid,
                what,
                f"CLM02 {claim.charge_minor} must equal paid {o.paid_minor} + claim adjustments "
                f"{claim_cas} + line adjustments {line_cas}",
            )
        if any(ps for _, ps in line_parts):
            svd = sum(p.paid_minor for _, ps in line_parts for p in ps)
            if o.paid_minor != svd - claim_cas:
                raise ClaimBuildError(
                    cid, what, f"AMT*D {o.paid_minor} must equal line payments {svd} - {claim_cas}"
                )
            for n, (line, ps) in enumerate(line_parts, 1):
                got = sum(p.paid_minor + sum(a.amount_minor for a in p.adjustments) for p in ps)
                if ps and got != line.charge_minor:
                    raise ClaimBuildError(
                        cid,
                        f"lines[{n}].prior_payments",
                        f"line charge {line.charge_minor} must equal paid + adjustments {got}",
                    )


def check_batch(batch: Batch) -> Checker:
    """Every rule of every claim, before anything is written; returns the checker (its accepted
    ICD-10-CM codes give the HI segment)."""
    bp = batch.billing_provider
    _npi(None, "billing_provider.npi", bp.npi)
    _zip9(None, "billing_provider.address", bp.address)
    if not (len(bp.tax_id.replace("-", "")) == 9 and bp.tax_id.replace("-", "").isdigit()):
        raise ClaimBuildError(None, "billing_provider.tax_id", "an EIN has 9 digits")
    if bp.taxonomy is not None:
        try:
            idcodes.taxonomy(bp.taxonomy)
        except ValueError as exc:
            raise ClaimBuildError(None, "billing_provider.taxonomy", str(exc)) from None
    checker = Checker(bp.npi)
    seen: set[str] = set()
    for tx in batch.transactions:
        if not tx.groups:
            raise ClaimBuildError(None, "transactions", f"set {tx.control_number} has no claims")
        for group in tx.groups:
            sub = group.subscriber
            if sub.filing_code not in FILING_CODES:
                raise ClaimBuildError(None, "subscriber.filing_code", f"{sub.filing_code!r}")
            if sub.responsibility not in RESPONSIBILITY:
                raise ClaimBuildError(None, "subscriber.responsibility", f"{sub.responsibility!r}")
            patient = group.patient
            if patient is not None and patient.relationship not in PATIENT_RELATIONSHIPS:
                raise ClaimBuildError(
                    None,
                    "patient.relationship",
                    f"{patient.relationship!r} is not a PAT01 code",
                )
            if sub.person.gender not in ("F", "M", "U") or (
                patient is not None and patient.person.gender not in ("F", "M", "U")
            ):
                raise ClaimBuildError(None, "gender", "F, M or U")
            if not 1 <= len(group.claims) <= 100:
                raise ClaimBuildError(None, "claims", "1 to 100 claims per subscriber loop")
            for claim in group.claims:
                if claim.claim_id in seen:
                    raise ClaimBuildError(claim.claim_id, "claim_id", "appears twice in the batch")
                seen.add(claim.claim_id)
                checker.claim(claim)
    return checker
