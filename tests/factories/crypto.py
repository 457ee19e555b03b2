"""The fixed test keyring (never used outside tests) and a second key for rotation tests."""

from __future__ import annotations

import base64
import json

from revcycle.crypto.keyring import Keyring

KEY_A_ID = "test-a"
KEY_B_ID = "test-b"
KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()

TEST_KEYRING = Keyring.from_encoded({KEY_A_ID: KEY_A}, KEY_A_ID)
# After `revcycle keys rotate` to B: both keys known, B active.
ROTATED_KEYRING = Keyring.from_encoded({KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}, KEY_B_ID)
ONLY_B_KEYRING = Keyring.from_encoded({KEY_B_ID: KEY_B}, KEY_B_ID)

# What the test environment exports, so every Settings() (CLI tests too) finds these keys.
TEST_ENV = {
    "REVCYCLE_ENCRYPTION_KEYS": json.dumps({KEY_A_ID: KEY_A}),
    "REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID": KEY_A_ID,
}
