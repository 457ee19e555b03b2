from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class PracticeNotFound(NotFound):
    code = "practice.not_found"


class ProviderNotFound(NotFound):
    code = "provider.not_found"


class ServiceItemNotFound(NotFound):
    code = "service_item.not_found"


class DuplicateNpi(Conflict):
    code = "practice.npi_taken"


class OverlappingPrice(Conflict):
    code = "service_item.overlapping_window"


class PriceChangeRefused(InvalidInput):
    code = "service_item.price_immutable"
