"""The request context every endpoint uses: it owns the unit of work, authenticates, and applies
Idempotency-Key semantics to writes. Endpoints call exactly one service function inside it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from argon2 import PasswordHasher
from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.problems import domain_error_body
from revcycle.auth import service as auth_service
from revcycle.auth.principal import Principal
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError, Unauthorized
from revcycle.idempotency import service as idem

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

Work = Callable[[Session, Principal], BaseModel | None]


def _dump(result: BaseModel | None) -> str:
    if result is None:
        return ""
    return json.dumps(result.model_dump(mode="json"), separators=(",", ":"))


@dataclass
class Ctx:
    request: Request
    settings: Settings
    factory: sessionmaker[Session]
    hasher: PasswordHasher
    token: str | None
    idempotency_key: str | None
    body: bytes

    @property
    def request_id(self) -> str | None:
        return getattr(self.request.state, "request_id", None)

    @property
    def client_addr(self) -> str | None:
        return self.request.client.host if self.request.client else None

    def _auth(self, session: Session) -> Principal:
        return auth_service.authenticate(
            session, self.token, request_id=self.request_id, client_addr=self.client_addr
        )

    def public(self, work: Callable[[Session], BaseModel]) -> BaseModel:
        """Work that needs no signed-in user (signing in itself)."""
        with unit_of_work(self.factory) as session:
            return work(session)

    def read(self, work: Work) -> BaseModel | None:
        with unit_of_work(self.factory) as session:
            return work(session, self._auth(session))

    def write(self, work: Work, *, status_code: int = 200) -> Response:
        if self.idempotency_key is None:
            with unit_of_work(self.factory) as session:
                body = _dump(work(session, self._auth(session)))
            return _respond(status_code, body)
        key = idem.parse_key(self.idempotency_key)
        fp = idem.fingerprint(
            self.request.method, self.request.url.path, self.request.url.query, self.body
        )
        with unit_of_work(self.factory) as session:
            principal = self._auth(session)
            assert principal.user_id is not None
            reserved = idem.reserve(
                session,
                user_id=principal.user_id,
                key=key,
                method=self.request.method,
                path=self.request.url.path,
                fp=fp,
                lock_seconds=self.settings.idempotency_lock_seconds,
            )
        if isinstance(reserved, idem.StoredResponse):
            return Response(
                reserved.body or None,
                status_code=reserved.status,
                media_type=reserved.content_type,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            with unit_of_work(self.factory) as session:
                body = _dump(work(session, principal))
                idem.complete(
                    session,
                    reserved,
                    status=status_code,
                    body=body,
                    content_type="application/json",
                )
        except DomainError as exc:
            # A refusal is a result too: the same key replays the same refusal.
            problem = json.dumps(domain_error_body(exc, self.request), separators=(",", ":"))
            with unit_of_work(self.factory) as session:
                idem.complete(
                    session,
                    reserved,
                    status=exc.status,
                    body=problem,
                    content_type="application/problem+json",
                )
            raise
        except BaseException:
            with unit_of_work(self.factory) as session:
                idem.release(session, reserved)
            raise
        return _respond(status_code, body)


def _respond(status_code: int, body: str) -> Response:
    if status_code == 204 or not body:
        return Response(status_code=status_code)
    return Response(body, status_code=status_code, media_type="application/json")


async def _build_ctx(request: Request, token: str | None, idempotency_key: str | None) -> Ctx:
    body = await request.body() if idempotency_key is not None else b""
    state = request.app.state
    return Ctx(
        request, state.settings, state.session_factory, state.hasher, token, idempotency_key, body
    )


async def get_ctx(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Makes a POST safe to retry (IETF draft)"),
    ] = None,
) -> Ctx:
    if not token:
        # Refuse before the body is validated: anonymous callers learn nothing but "sign in".
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>'")
    return await _build_ctx(request, token, idempotency_key)


async def get_public_ctx(request: Request) -> Ctx:
    return await _build_ctx(request, None, None)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
PublicCtxDep = Annotated[Ctx, Depends(get_public_ctx)]
