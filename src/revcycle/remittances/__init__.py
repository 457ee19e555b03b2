"""Remittance advice (835): reading ERA files and, with the claims domain, posting them."""
