"""Stable error codes of the claims domain (docs/claims.md, "Errors")."""

from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class ClaimNotFound(NotFound):
    code = "claim.not_found"


class IllegalClaimTransition(Conflict):
    code = "claim.illegal_transition"


class InvalidClaim(InvalidInput):
    code = "claim.invalid"


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
