from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class PayerNotFound(NotFound):
    code = "payer.not_found"


class PayerIdTaken(Conflict):
    code = "payer.edi_payer_id_taken"


class PlanNotFound(NotFound):
    code = "plan.not_found"


class PlanInactive(Conflict):
    code = "plan.inactive"


class FeeScheduleOverlap(Conflict):
    code = "fee_schedule.overlapping_window"


class CoverageNotFound(NotFound):
    code = "coverage.not_found"


class InvalidSubscriber(InvalidInput):
    code = "coverage.subscriber_invalid"


class PriorityConflict(Conflict):
    """Two coverages of one patient would hold the same priority on the same day."""

    code = "coverage.priority_conflict"


class InvalidOrder(InvalidInput):
    code = "coverage.order_invalid"


class AlreadyTerminated(Conflict):
    code = "coverage.already_terminated"


class InvalidTermination(InvalidInput):
    code = "coverage.termination_invalid"


class InvalidAccumulator(InvalidInput):
    code = "coverage.accumulator_invalid"


class FeeScheduleRateMissing(NotFound):
    code = "fee_schedule.no_rate"
