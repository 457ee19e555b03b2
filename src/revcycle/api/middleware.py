"""Pure ASGI middleware: request ids, body-size limit, security headers, rate limits."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revcycle.auth import ratelimit
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.kit.clock import utcnow
from revcycle.security import events
from revcycle.security.events import SecurityEventKind

log = logging.getLogger("revcycle.api")

# A strict policy for every response: scripts and styles only from our own origin (no inline
# code), no plugins, no framing, forms post only to us. The Swagger page sets its own (app.py).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
]


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID) and adds security headers.

    HSTS goes only on responses to requests that arrived over TLS: directly, or through a trusted
    proxy (uvicorn's ``forwarded_allow_ips`` turns its X-Forwarded-Proto into the scope's
    scheme), or always when ``hsts_always`` says a TLS-terminating proxy sits in front."""

    def __init__(self, app: ASGIApp, *, hsts_max_age: int = 0, hsts_always: bool = False) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains".encode() if hsts_max_age else b""
        self.hsts_always = hsts_always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        hsts = self.hsts if (self.hsts_always or scope.get("scheme") == "https") else b""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {h[0].lower() for h in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if hsts:
                    headers.append((b"strict-transport-security", hsts))
                message["headers"] = headers
            await send(message)

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_with_headers(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # The last line of defence: a bare 500 problem with the request id, never a trace.
            log.error(
                "unhandled %s on %s %s (request %s)",
                type(exc).__name__,
                scope.get("method"),
                scope.get("path"),
                request_id,
            )
            if started:
                raise
            body = json.dumps(
                {
                    "type": "urn:revcycle:problem:internal_error",
                    "title": "Internal error",
                    "status": 500,
                    "code": "internal_error",
                    "request_id": request_id,
                    "detail": "Something went wrong on our side; the request id identifies it in "
                    "our logs",
                }
            ).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses bodies above ``max_bytes`` with 413 before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "urn:revcycle:problem:request.too_large",
                "title": "Request too large",
                "status": 413,
                "detail": f"Request bodies are limited to {self.max_bytes} bytes",
                "code": "request.too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await self._too_large(send)
                    return
        has_length = any(name == b"content-length" for name, _ in scope.get("headers", []))
        if not has_length and scope.get("method") in {"POST", "PUT", "PATCH", "DELETE"}:
            # No declared length (chunked): read up to the limit first, then replay the body.
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await self._too_large(send)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class RateRule:
    """Requests matching ``method`` and a path in ``paths`` (exact, or a prefix when it ends with
    ``/``) count against ``limit`` per minute for one caller (bearer token, else address)."""

    name: str
    method: str
    paths: tuple[str, ...]
    limit: int

    def matches(self, method: str, path: str) -> bool:
        if method != self.method or self.limit <= 0:
            return False
        return any(path == p or (p.endswith("/") and path.startswith(p)) for p in self.paths)


def _caller_key(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return "tok:" + hashlib.sha256(value[7:].strip()).hexdigest()[:32]
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class RateLimitMiddleware:
    """Fixed-window limits counted in the database (revcycle.auth.ratelimit), so every API
    process shares one count; refusals are ``429 rate_limited`` with Retry-After and a
    RATE_LIMITED security event (once per caller and window)."""

    def __init__(self, app: ASGIApp, rules: list[RateRule]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope.get("method", ""), scope.get("path", "")
        rule = next((r for r in self.rules if r.matches(method, path)), None)
        if rule is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        bucket = f"{rule.name}:" + (
            _caller_key(scope) if rule.name != "login" else f"addr:{client[0] if client else '-'}"
        )
        request_id = scope.get("state", {}).get("request_id")
        factory = scope["app"].state.session_factory
        wait = await anyio.to_thread.run_sync(
            _count, factory, bucket, rule, client[0] if client else None, request_id
        )
        if wait is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "type": "urn:revcycle:problem:rate_limited",
                "title": "Too many requests",
                "status": 429,
                "detail": f"Too many requests; try again in {wait} seconds",
                "code": "rate_limited",
                "instance": path,
                "request_id": request_id,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(wait).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _count(
    factory: object, bucket: str, rule: RateRule, client_addr: str | None, request_id: str | None
) -> int | None:
    assert isinstance(factory, sessionmaker)
    with unit_of_work(factory) as s:
        count, wait = ratelimit.hit(s, bucket, limit=rule.limit, window_seconds=60, now=utcnow())
        if wait is not None and count == rule.limit + 1:
            events.record(
                s,
                SecurityEventKind.RATE_LIMITED,
                user_id=None,
                role=None,
                client_addr=client_addr,
                request_id=request_id,
                detail={"rule": rule.name, "limit": rule.limit, "window_seconds": 60},
            )
    return wait


def rate_rules(settings: Settings) -> list[RateRule]:
    return [
        RateRule(
            "login",
            "POST",
            ("/api/v1/auth/token", "/login", "/login/totp"),
            settings.rate_limit_login_per_minute,
        ),
        RateRule(
            "payments",
            "POST",
            ("/api/v1/payments", "/api/v1/payments/"),
            settings.rate_limit_payments_per_minute,
        ),
    ]


_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_csp(page: bytes) -> str:
    """The Swagger page's policy: its own inline bootstrap script by hash, and the inline styles
    Swagger UI sets on its elements; everything else as strict as the rest."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
