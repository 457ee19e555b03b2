"""The gateway webhook receiver. No bearer token: the signature is the authentication."""

from __future__ import annotations

import logging

import anyio.to_thread
from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import JSONResponse, Response

from revcycle.api.problems import domain_error_body, problem_response
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError, InvalidInput
from revcycle.gateway import service, signing
from revcycle.kit.clock import utcnow
from revcycle.security import events as security_events
from revcycle.security.events import SecurityEventKind

router = APIRouter(tags=["gateway"])
log = logging.getLogger("revcycle.gateway")


def _refuse(request: Request, exc: DomainError) -> Response:
    """A refused delivery: a security event in a transaction of its own, nothing else written."""
    factory = request.app.state.session_factory
    try:
        with unit_of_work(factory) as session:
            security_events.record(
                session,
                SecurityEventKind.ACCESS_DENIED,
                user_id=None,
                role=None,
                client_addr=request.client.host if request.client else None,
                request_id=getattr(request.state, "request_id", None),
                detail={
                    "code": exc.code,
                    "status": exc.status,
                    "method": "POST",
                    "route": "/api/v1/webhooks/gateway",
                },
            )
    except Exception as record_exc:  # noqa: BLE001 - the refusal itself must stand
        log.warning("webhook refusal not recorded: %s", type(record_exc).__name__)
    return problem_response(domain_error_body(exc, request))


@router.post(
    "/webhooks/gateway",
    status_code=200,
    responses={
        400: {"description": "Unsigned, bad or stale signature; malformed event"},
        409: {"description": "Event already processed (replay)"},
    },
)
async def gateway_webhook(request: Request) -> Response:
    """Events from the payment gateway, signed ``Gateway-Signature: t=...,v1=...``
    (HMAC-SHA256 over ``f"{t}.{body}"``). Each event is processed exactly once."""
    settings: Settings = request.app.state.settings
    body = await request.body()
    try:
        signing.verify(
            settings.gateway_webhook_secret.get_secret_value(),
            body,
            request.headers.get(signing.HEADER),
            now=int(utcnow().timestamp()),
            tolerance=settings.gateway_webhook_tolerance_seconds,
        )
    except signing.SignatureError as exc:
        return _refuse(request, InvalidInput(exc.message, code=exc.code))
    try:
        event = service.parse_event(body)
    except DomainError as exc:
        return _refuse(request, exc)
    gateway = request.app.state.gateway
    factory = request.app.state.session_factory

    def work() -> str:
        with unit_of_work(factory) as session:
            return service.process_event(session, gateway.provider, event)

    def duplicate() -> bool:
        with unit_of_work(factory) as session:
            return service.already_processed(session, gateway.provider, event["id"])

    try:
        outcome = await anyio.to_thread.run_sync(work)
    except IntegrityError:
        # A concurrent delivery of the same event committed first: this one had no effect.
        if not await anyio.to_thread.run_sync(duplicate):
            raise
        return _refuse(request, service.EventReplayed("This event was already processed"))
    except DomainError as exc:
        return _refuse(request, exc)
    return JSONResponse({"received": True, "outcome": outcome})
