"""The request context every endpoint uses: it owns the unit of work, authenticates, and applies
Idempotency-Key semantics to writes. Endpoints call exactly one service function inside it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from revcycle.fraud import screen as fraud_screen
from revcycle.fraud.errors import FraudStopped
from revcycle.idempotency import service as idem
from revcycle.security import events as security_events
from revcycle.security.events import SecurityEventKind

log = logging.getLogger("revcycle.api")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

Work = Callable[[Session, Principal], BaseModel | None]
# Work around a call to another system (the payment gateway): it runs its own transactions and
# answers with the result and its status code.
ExternalWork = Callable[[sessionmaker[Session], Principal], tuple[BaseModel, int]]


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
    _principal: Principal | None = field(default=None, init=False)
    _refusal: tuple[DomainError, Principal | None] | None = field(default=None, init=False)

    @property
    def request_id(self) -> str | None:
        return getattr(self.request.state, "request_id", None)

    @property
    def client_addr(self) -> str | None:
        return self.request.client.host if self.request.client else None

    @property
    def route_template(self) -> str:
        """The path with its parameters named (``/api/v1/invoices/{invoice_id}``): ids of the
        objects asked for are recorded separately, and nothing else of the URL is kept."""
        params = {str(v): k for k, v in self.request.path_params.items()}
        segments = self.request.url.path.split("/")
        return "/".join(f"{{{params[s]}}}" if s in params else s for s in segments)

    def _auth(self, session: Session) -> Principal:
        try:
            principal = auth_service.authenticate(
                session, self.token, request_id=self.request_id, client_addr=self.client_addr
            )
        except Unauthorized as exc:
            self._refusal = (exc, None)
            raise
        self._principal = principal
        return principal

    @contextmanager
    def _watched(self) -> Iterator[None]:
        """Refusals worth a security event (denied access, a bad token) are recorded in a
        transaction of their own after the request's transaction has rolled back."""
        self._principal, self._refusal = None, None
        try:
            yield
        except DomainError as exc:
            if isinstance(exc, FraudStopped):  # its review row outlives the rollback
                fraud_screen.record_stopped(self.factory, exc)
            if self._refusal is None and (exc.status == 403 or exc.denied_object is not None):
                self._refusal = (exc, self._principal)
            if self._refusal is not None:
                try:
                    self._record_refusal(*self._refusal)
                except Exception as record_exc:  # noqa: BLE001 - the refusal itself must stand
                    # E.g. the database went away: answer the refusal, say why it isn't on record.
                    log.warning(
                        "security event for request %s not recorded: %s",
                        self.request_id,
                        type(record_exc).__name__,
                    )
            raise

    def _record_refusal(self, exc: DomainError, principal: Principal | None) -> None:
        detail: dict[str, str | int | bool] = {
            "code": exc.code,
            "status": exc.status,
            "method": self.request.method,
            "route": self.route_template,
        }
        if exc.denied_object is not None:
            detail["object_type"], detail["object_id"] = exc.denied_object
        kind = (
            SecurityEventKind.TOKEN_INVALID
            if isinstance(exc, Unauthorized)
            else SecurityEventKind.ACCESS_DENIED
        )
        with unit_of_work(self.factory) as session:
            security_events.record(
                session,
                kind,
                user_id=principal.user_id if principal else None,
                role=principal.role.value if principal else None,
                client_addr=self.client_addr,
                request_id=self.request_id,
                detail=detail,
            )

    def public(self, work: Callable[[Session], BaseModel]) -> BaseModel:
        """Work that needs no signed-in user (signing in itself)."""
        with unit_of_work(self.factory) as session:
            return work(session)

    def read(self, work: Work) -> BaseModel | None:
        with self._watched(), unit_of_work(self.factory) as session:
            return work(session, self._auth(session))

    def write(self, work: Work, *, status_code: int = 200) -> Response:
        with self._watched():
            return self._write(work, status_code)

    def write_external(self, work: ExternalWork, *, key_required: DomainError) -> Response:
        """A write that calls another system between transactions of its own (a card payment:
        record pending -> gateway -> apply the outcome). An Idempotency-Key is required (refused
        with ``key_required`` otherwise); its stored response is written once the work is done.
        If the process dies in between, the reservation expires and a retry re-runs the work,
        which must itself be idempotent (the card flow finds its pending payment by key)."""
        with self._watched():
            if self.idempotency_key is None:
                with unit_of_work(self.factory) as session:
                    self._auth(session)  # an anonymous caller learns nothing but "sign in"
                raise key_required

            def run(principal: Principal) -> tuple[str, int]:
                result, status = work(self.factory, principal)
                return _dump(result), status

            return self._write_keyed(run)

    def write_phased(self, work: ExternalWork) -> Response:
        """Like :meth:`write_external` for work that is idempotent by itself (approving a card
        refund: the approval request is the key), so an Idempotency-Key is optional."""
        with self._watched():
            if self.idempotency_key is None:
                with unit_of_work(self.factory) as session:
                    principal = self._auth(session)
                result, status = work(self.factory, principal)
                return _respond(status, _dump(result))

            def run(principal: Principal) -> tuple[str, int]:
                result, status = work(self.factory, principal)
                return _dump(result), status

            return self._write_keyed(run)

    def _write(self, work: Work, status_code: int) -> Response:
        if self.idempotency_key is None:
            with unit_of_work(self.factory) as session:
                body = _dump(work(session, self._auth(session)))
            return _respond(status_code, body)
        reserved = self._reserve()
        if isinstance(reserved, Response):
            return reserved
        return self._run_reserved(*reserved, status_code, work)

    def _reserve(self) -> Response | tuple[Principal, idem.Reservation]:
        """Authenticate and reserve the Idempotency-Key: the stored response when the key was
        already answered, else the caller and the reservation to complete."""
        assert self.idempotency_key is not None
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
        return principal, reserved

    def _write_keyed(self, run: Callable[[Principal], tuple[str, int]]) -> Response:
        reserved = self._reserve()
        if isinstance(reserved, Response):
            return reserved
        principal, reservation = reserved
        try:
            body, status_code = run(principal)
            with unit_of_work(self.factory) as session:
                idem.complete(
                    session,
                    reservation,
                    status=status_code,
                    body=body,
                    content_type="application/json",
                )
        except DomainError as exc:
            self._complete_refusal(reservation, exc)
            raise
        except BaseException:
            with unit_of_work(self.factory) as session:
                idem.release(session, reservation)
            raise
        return _respond(status_code, body)

    def _complete_refusal(self, reserved: idem.Reservation, exc: DomainError) -> None:
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

    def _run_reserved(
        self, principal: Principal, reserved: idem.Reservation, status_code: int, work: Work
    ) -> Response:
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
            self._complete_refusal(reserved, exc)
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
