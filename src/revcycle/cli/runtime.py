"""How CLI commands run: one engine from Settings, one unit of work per command, DomainErrors as
a message on stderr and exit code 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import typer
from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import get_settings
from revcycle.crypto import keyring as phi_keyring
from revcycle.db import make_engine, make_session_factory, unit_of_work
from revcycle.errors import DomainError

T = TypeVar("T")


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    settings = get_settings()
    phi_keyring.install(phi_keyring.load_keyring(settings))  # PHI columns need it
    return make_session_factory(make_engine(settings.database_url, pool_size=2))


def run(work: Callable[[Session], T]) -> T:
    try:
        with unit_of_work(session_factory()) as session:
            return work(session)
    except DomainError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(code=1) from None


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(1)
