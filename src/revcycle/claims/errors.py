"""Stable error codes of the claims domain (docs/claims.md, "Errors")."""

from __future__ import annotations

from revcycle.errors import Conflict, DomainError, InvalidInput, NotFound


class ClaimNotFound(NotFound):
    code = "claim.not_found"


class IllegalClaimTransition(Conflict):
    code = "claim.illegal_transition"


class InvalidClaim(InvalidInput):
    code = "claim.invalid"


class ClaimRuleNotFound(NotFound):
    code = "claim_rules.not_found"


class ClaimRuleDuplicate(Conflict):
    code = "claim_rules.duplicate"


class NoCoverage(InvalidInput):
    code = "claim.no_coverage"


class NoSecondaryCoverage(InvalidInput):
    code = "claim.no_secondary_coverage"


class NotAdjudicated(Conflict):
    code = "claim.not_adjudicated"


class NotPrimary(Conflict):
    code = "claim.not_primary"


class LineAlreadyClaimed(Conflict):
    code = "claim.line_already_claimed"


class InvoiceNotBillable(Conflict):
    code = "claim.invoice_not_billable"


class ClaimStatusFailed(DomainError):
    """The clearinghouse did not answer or refused a 276 (the attempt is recorded on the claim);
    ``code`` is the clearinghouse's (``clearinghouse.timeout``, ``.unavailable``, ``.rejected``)."""

    code = "clearinghouse.error"
    status = 502
    title = "Clearinghouse failure"


class CannotSubmit(Conflict):
    """The batch as a whole cannot be written (the practice's billing provider data)."""

    code = "claim.cannot_submit"


class BatchNotFound(NotFound):
    code = "claim_batch.not_found"


class NotCorrectable(Conflict):
    """A corrected (7) or void (8) claim needs an original the payer has, with its claim number,
    and no other live replacement."""

    code = "claim.not_correctable"


class IdempotencyKeyRequired(DomainError):
    code = "claim.idempotency_key_required"
    status = 428
    title = "Idempotency-Key required"


class CarcDefaultReadOnly(Conflict):
    """The CARC -> action defaults ship with the migration; a practice overrides them."""

    code = "claim_rules.default_read_only"
