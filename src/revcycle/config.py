"""One Settings object, read from the environment (prefix ``REVCYCLE_``), built once, passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path("var") / "revcycle.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REVCYCLE_", extra="ignore")

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

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.db_echo:
                raise ValueError("REVCYCLE_DB_ECHO must be off in production (it would log PHI)")
            if self.argon2_memory_kib < 19_456 or self.argon2_time_cost < 2:
                raise ValueError("argon2 cost below the OWASP minimum in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
