"""RFC 9457 problem+json rendering for every error the API returns."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from revcycle.errors import DomainError

log = logging.getLogger("revcycle.api")

PROBLEM_JSON = "application/problem+json"

# Our own pydantic error types are stable codes; built-in ones map to a few generic codes.
_BUILTIN = {
    "json_invalid": ("request.malformed_json", 400),
    "missing": ("request.missing_field", 422),
    "extra_forbidden": ("request.unknown_field", 422),
}


def problem_body(
    code: str, status: int, title: str, detail: str, request: Request | None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:revcycle:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    body.update(extra)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=body["status"],
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def domain_error_body(exc: DomainError, request: Request | None) -> dict[str, Any]:
    extra = {"data": exc.data} if exc.data else {}
    return problem_body(exc.code, exc.status, exc.title, exc.message, request, **extra)


def _validation_body(exc: RequestValidationError, request: Request) -> dict[str, Any]:
    errors = []
    for err in exc.errors():
        # Never echo the input back: it may be PHI or a card number.
        errors.append(
            {"loc": list(err.get("loc", ())), "type": err.get("type"), "message": err.get("msg")}
        )
    types = {e["type"] for e in errors}
    code, status = "request.invalid", 422
    if len(types) == 1:
        only = next(iter(types))
        if only in _BUILTIN:
            code, status = _BUILTIN[only]
        elif isinstance(only, str) and "." in only:
            code = only  # one of our own stable types, e.g. "code.icd10_invalid"
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['message']}" for e in errors[:5]
    )
    return problem_body(code, status, "Invalid request", detail, request, errors=errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int):
            headers["Retry-After"] = str(retry_after)  # 429 auth.locked / rate_limited
        return problem_response(domain_error_body(exc, request), headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(_validation_body(exc, request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {
            # the body could not be decoded (invalid UTF-8, nested too deep, a broken form)
            400: "request.malformed_body",
            404: "route.not_found",
            405: "route.method_not_allowed",
            401: "auth.unauthenticated",
            413: "request.too_large",
        }
        code = codes.get(exc.status_code, f"http.{exc.status_code}")
        return problem_response(
            problem_body(code, exc.status_code, str(exc.detail), str(exc.detail), request),
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:  # noqa: ARG001
        # A unique constraint settled a race between two requests: the loser gets a 409.
        log.warning("integrity conflict on %s %s", request.method, request.url.path)
        return problem_response(
            problem_body(
                "conflict.concurrent_update",
                409,
                "Conflict",
                "Another request changed the same data at the same time; retry",
                request,
            )
        )

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> Response:
        log.error(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc.orig).__name__,
        )
        return problem_response(
            problem_body(
                "service.unavailable",
                503,
                "Service unavailable",
                "The database is busy or unreachable; retry shortly",
                request,
            ),
            {"Retry-After": "1"},
        )
