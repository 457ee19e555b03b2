"""The client address of a payment attempt, kept as a keyed digest (a blind index), never as the
address: an IP address is personal data, and the fraud rules only need "same address or not".

``payments.client_addr_bidx`` = ``<key id>:<32 hex>`` = HMAC-SHA256 under the keyring's
``payments.client_addr`` index key (crypto.blind_index). Lookups compare with the digest under
every key in the keyring (:func:`candidates`), so a key rotation does not break the per-address
count; digests are not recomputed by ``revcycle keys rotate`` (the plain address is not kept),
which is fine for a rule whose window is minutes. docs/fraud.md.
"""

from __future__ import annotations

from revcycle.crypto import blind_index
from revcycle.crypto.keyring import installed_or_none

INDEX = blind_index.BlindIndex("client_addr_bidx", "payments.client_addr", ("client_addr",))


def digest(client_addr: str | None) -> str | None:
    """The stored form of ``client_addr`` (None without an address or a keyring)."""
    keyring = installed_or_none()
    if not client_addr or keyring is None:
        return None
    return blind_index.compute(keyring, INDEX, client_addr)


def candidates(client_addr: str | None) -> tuple[str, ...]:
    """Every stored form ``client_addr`` can have while keys rotate (empty: nothing to match)."""
    keyring = installed_or_none()
    if not client_addr or keyring is None:
        return ()
    return tuple(blind_index.candidates(keyring, INDEX, client_addr))
