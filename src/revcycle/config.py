"""One Settings object, read from the environment (prefix ``REVCYCLE_``), built once, passed in."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path("var") / "revcycle.db"
DEV_AUTH_SECRET = "development-only-auth-secret-do-not-use-in-production"
DEV_GATEWAY_WEBHOOK_SECRET = "whsec_development-only-do-not-use-in-production"

_LIMIT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?")


def _limit_amount(value: object) -> str | None:
    """A role's transaction limit: a plain decimal amount (no sign, no exponent), or none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _LIMIT.fullmatch(value):
        raise ValueError('a limit is a decimal amount such as "250.00", or empty for none')
    return value


LimitAmount = Annotated[str | None, BeforeValidator(_limit_amount)]


class Settings(BaseSettings):
    # Errors never echo the input: it holds key material and database passwords.
    model_config = SettingsConfigDict(
        env_prefix="REVCYCLE_", extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///./{DEFAULT_DB_PATH.as_posix()}"
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_echo: bool = False
    # Threads per API process running the (sync) endpoints. Few threads = less GIL contention;
    # requests beyond this wait in the event loop, not in PostgreSQL.
    request_threads: int = Field(default=8, ge=1, le=200)

    # Bearer tokens
    token_ttl_minutes: int = Field(default=60 * 8, ge=1, le=60 * 24 * 30)
    # Request bodies above this size are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    # Idempotency keys are kept at least this long (IETF draft: publish the policy).
    idempotency_retention_hours: int = Field(default=24 * 7, ge=24)
    # A key whose first request has held it longer than this is considered abandoned.
    idempotency_lock_seconds: int = Field(default=60, ge=1)
    # Argon2id cost; OWASP minimum m=19456 KiB, t=2, p=1. Tests lower it to stay fast.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19_456, ge=8)

    # --- Identity and sessions (issue #3; docs/identity.md) ------------------------------------
    # Secret from which the TOTP-sealing key, the CSRF key and the login-throttle key are derived
    # (HKDF). At least 32 characters; production refuses the development default.
    auth_secret_key: SecretStr = SecretStr(DEV_AUTH_SECRET)
    password_min_length: int = Field(default=12, ge=8, le=128)
    password_max_length: int = Field(default=128, ge=64, le=1024)
    # Lockout: after ``lockout_threshold`` failed sign-ins for one user name, or
    # ``lockout_addr_threshold`` from one client address, the key is locked for
    # ``lockout_base_seconds``, doubling with every further lock, up to ``lockout_max_seconds``.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_addr_threshold: int = Field(default=50, ge=1)
    lockout_base_seconds: int = Field(default=60, ge=1)
    lockout_max_seconds: int = Field(default=60 * 60, ge=1)
    totp_issuer: str = "revcycle"
    # Web sessions: idle and absolute lifetime; the TOTP step of a sign-in must finish in time.
    web_session_idle_minutes: int = Field(default=15, ge=1)
    web_session_absolute_minutes: int = Field(default=12 * 60, ge=1)
    web_mfa_step_minutes: int = Field(default=5, ge=1)
    # Fixed-window rate limits (requests per minute; 0 = off): sign-in attempts per client
    # address, payment-recording POSTs per caller.
    rate_limit_login_per_minute: int = Field(default=30, ge=0)
    rate_limit_payments_per_minute: int = Field(default=300, ge=0)
    # TLS: HSTS is sent when the request arrived over TLS (directly, or as reported by a trusted
    # proxy in X-Forwarded-Proto); ``tls_behind_proxy`` sends it on every response.
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)
    tls_behind_proxy: bool = False
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # forwarded_allow_ips): only the TLS-terminating proxy.
    trusted_proxies: str = "127.0.0.1"
    # --- end identity and sessions ----------------------------------------------------------

    # --- Audit trail (docs/audit.md) ----------------------------------------------------------
    # One security event when the patient records a user has read in a fixed window reach this
    # (a list page counts one per patient on it).
    audit_read_volume_threshold: int = Field(default=1000, ge=1)
    audit_read_volume_window_minutes: int = Field(default=10, ge=1, le=24 * 60)

    # --- PHI encryption at rest (docs/phi-encryption.md, revcycle.crypto) -----------------------
    # REVCYCLE_ENCRYPTION_KEYS: JSON object, key id -> base64 of 32 random bytes (`revcycle keys
    # generate`). REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID: the key new values are sealed with (optional
    # with one key). REVCYCLE_KEY_FILE: a JSON key file, used when no keys are set inline. With
    # neither, development generates ./var/keys.json; test and production refuse to run.
    encryption_keys: dict[str, SecretStr] = Field(default_factory=dict)
    encryption_active_key_id: str | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _require_phi_keys(self) -> Settings:
        active = self.encryption_active_key_id
        if active is not None and self.encryption_keys and active not in self.encryption_keys:
            raise ValueError("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID names no configured key")
        if self.environment == "production" and not self.encryption_keys and not self.key_file:
            raise ValueError(
                "PHI encryption keys are required in production: "
                "set REVCYCLE_ENCRYPTION_KEYS or REVCYCLE_KEY_FILE"
            )
        return self

    # --- end PHI encryption ----------------------------------------------------------------------

    # --- Payment gateway (issue #4; docs/payments.md) -------------------------------------------
    # Which gateway card payments go through; "test" is the built-in test gateway (its own
    # testgw_* tables, tokenisation page at /testgw/card-form).
    gateway: Literal["test"] = "test"
    # Webhook signing secret shared with the gateway (production refuses the development value),
    # and how far a signature's timestamp may be from now (replays outside it are refused).
    gateway_webhook_secret: SecretStr = SecretStr(DEV_GATEWAY_WEBHOOK_SECRET)
    gateway_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # Where `revcycle gateway deliver-webhooks` sends the test gateway's events.
    gateway_webhook_url: str = "http://127.0.0.1:8000/api/v1/webhooks/gateway"
    # --- end payment gateway ---------------------------------------------------------------------

    # --- Eligibility (issue #5; docs/eligibility.md) ---------------------------------------------
    # Which clearinghouse 270/271 go through; "simulator" answers from the plans in the database.
    clearinghouse: Literal["simulator", "directory"] = "simulator"
    clearinghouse_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # Payer simulator batch files (docs/payer-simulator.md): seconds after a submission at which
    # its 999, 277CA and 835 become available (0: at once, the whole cycle in one worker pass),
    # and how much later the second payment run (reversals) comes.
    clearinghouse_999_delay_seconds: float = Field(default=0, ge=0, le=86400 * 30)
    clearinghouse_277ca_delay_seconds: float = Field(default=0, ge=0, le=86400 * 30)
    clearinghouse_835_delay_seconds: float = Field(default=0, ge=0, le=86400 * 30)
    clearinghouse_reversal_delay_seconds: float = Field(default=0, ge=0, le=86400 * 30)
    # Directory drop (REVCYCLE_CLEARINGHOUSE=directory): 837s written to the outbox, answers read
    # from the inbox and moved to the archive once acknowledged.
    clearinghouse_outbox_dir: str = "var/clearinghouse/outbox"
    clearinghouse_inbox_dir: str = "var/clearinghouse/inbox"
    clearinghouse_archive_dir: str = "var/clearinghouse/archive"
    # A coverage whose latest check is older than this (or missing) is flagged ``stale``.
    eligibility_stale_days: int = Field(default=30, ge=1, le=365)
    # The daily re-verification re-checks tomorrow's appointments unless checked this recently.
    eligibility_reverify_fresh_hours: int = Field(default=24, ge=1, le=24 * 30)
    # --- end eligibility --------------------------------------------------------------------
    # --- Claim submission (docs/claim-submission.md) -------------------------------------------
    # Who we are to the clearinghouse: the submitter id it assigned (1000A NM109, the ETIN), the
    # contact on the files, and the receiver (ISA08 and 1000B). ISA06 is the practice's NPI.
    submitter_id: str = Field(default="REVCYCLE", min_length=2, max_length=80)
    submitter_contact_name: str = Field(default="BILLING OFFICE", min_length=1, max_length=60)
    submitter_phone: str = Field(default="8005550100", pattern=r"^[0-9]{10,15}$")
    claims_receiver_id: str = Field(default="CLEARINGHOUSE", min_length=2, max_length=15)
    claims_receiver_name: str = Field(default="CLEARINGHOUSE", min_length=1, max_length=60)
    # ISA15: P production, T test files.
    claims_x12_usage: Literal["P", "T"] = "P"
    # At most this many claims per 837P batch; acknowledgement files read per poll.
    claims_batch_size: int = Field(default=500, ge=1, le=5000)
    claims_poll_limit: int = Field(default=50, ge=1, le=1000)
    # --- end claim submission -------------------------------------------------------------------
    # --- Payment plans and autopay (docs/payment-plans.md, docs/worker.md) ----------------------
    # Days after the due date on which a declined autopay installment is retried ("3,7").
    plan_retry_days: str = Field(default="3,7", pattern=r"^[0-9]{1,3}(,[0-9]{1,3}){0,9}$")
    # An unpaid installment is missed this many days after its due date (once no retry is left);
    # this many missed installments default the plan (its invoices return to normal collections).
    plan_grace_days: int = Field(default=10, ge=0, le=365)
    plan_default_after_missed: int = Field(default=2, ge=1, le=100)
    # Installments one autopay claim takes: charged in one gateway call (a batch call where the
    # gateway has one) and settled in one transaction (docs/payment-plans.md, "Autopay").
    autopay_batch_size: int = Field(default=500, ge=1, le=1000)
    # --- end payment plans ---------------------------------------------------------------------

    # --- Financial controls: per-role transaction limits (docs/refunds-approvals.md) ----------
    # A refund or a write-off above the caller's role limit is not executed: it becomes an
    # approval request that another user with money:approve (admin, signed in with MFA) approves.
    # Amounts are decimal strings in the practice's currency ("500.00"); empty = no limit.
    # "0" sends every such operation of that role to approval.
    refund_limit_admin: LimitAmount = None
    refund_limit_billing_staff: LimitAmount = "500.00"
    write_off_limit_admin: LimitAmount = None
    write_off_limit_billing_staff: LimitAmount = "500.00"
    # --- end financial controls ------------------------------------------------------------

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.db_echo:
                raise ValueError("REVCYCLE_DB_ECHO must be off in production (it would log PHI)")
            if self.argon2_memory_kib < 19_456 or self.argon2_time_cost < 2:
                raise ValueError("argon2 cost below the OWASP minimum in production")
            if self.auth_secret_key.get_secret_value() == DEV_AUTH_SECRET:
                raise ValueError("set REVCYCLE_AUTH_SECRET_KEY in production")
            if self.gateway_webhook_secret.get_secret_value() == DEV_GATEWAY_WEBHOOK_SECRET:
                raise ValueError("set REVCYCLE_GATEWAY_WEBHOOK_SECRET in production")
        if len(self.auth_secret_key.get_secret_value()) < 32:
            raise ValueError("REVCYCLE_AUTH_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
