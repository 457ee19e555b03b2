"""Clearinghouse connectivity: the interface revcycle talks to payers through (base) and the
built-in payer simulator used by default (simulator). See docs/eligibility.md."""
