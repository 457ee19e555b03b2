"""Charges from integrations: FHIR R4 ChargeItems imported as invoice lines (docs/charges.md)."""
