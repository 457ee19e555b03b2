from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class EstimateNotFound(NotFound):
    code = "estimate.not_found"


class NoAllowedAmount(Conflict):
    """In network, the plan's fee schedule has no rate for a line's code on the date."""

    code = "estimate.no_allowed_amount"


class NoPrice(Conflict):
    """Self-pay / out of network: the charge master has no price for a line's code."""

    code = "estimate.no_price"


class InvalidEstimate(InvalidInput):
    code = "estimate.invalid"
