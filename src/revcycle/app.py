"""create_app(settings) -> the ASGI application: API under /api/v1, OpenAPI and offline docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.responses import HTMLResponse, RedirectResponse, Response

from revcycle import __version__
from revcycle.api import problems
from revcycle.api.middleware import (
    BodyLimitMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
    docs_csp,
    rate_rules,
)
from revcycle.appeals.endpoints import router as appeals_router
from revcycle.appointments.endpoints import router as appointments_router
from revcycle.approvals.endpoints import router as approvals_router
from revcycle.audit import service as audit_service
from revcycle.audit.endpoints import router as audit_router
from revcycle.auth.endpoints import router as auth_router
from revcycle.auth.service import make_hasher
from revcycle.authorizations.endpoints import router as authorizations_router
from revcycle.cash.endpoints import router as cash_router
from revcycle.charges.endpoints import router as charges_router
from revcycle.claims.endpoints import router as claims_router
from revcycle.claims.endpoints import submission_router as claim_submission_router
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.codesets.endpoints import router as codesets_router
from revcycle.config import Settings, get_settings
from revcycle.crypto import keyring as phi_keyring
from revcycle.db import make_engine, make_session_factory
from revcycle.eligibility.endpoints import router as eligibility_router
from revcycle.estimates.endpoints import router as estimates_router
from revcycle.fraud.endpoints import router as fraud_router
from revcycle.gateway.endpoints import router as gateway_router
from revcycle.gateway.factory import build_gateway
from revcycle.gateway.testgw.app import create_testgw_app
from revcycle.insurance.endpoints import router as insurance_router
from revcycle.invoices.endpoints import router as invoices_router
from revcycle.ledger.endpoints import router as ledger_router
from revcycle.patients.endpoints import router as patients_router
from revcycle.payments.endpoints import router as payments_router
from revcycle.plans.endpoints import router as plans_router
from revcycle.practices.endpoints import router as practices_router
from revcycle.receipts.endpoints import router as receipts_router
from revcycle.reconciliation.endpoints import router as reconciliation_router
from revcycle.refunds.endpoints import router as refunds_router
from revcycle.remittances.endpoints import router as remittances_router
from revcycle.web.views import install as install_web

DESCRIPTION = """
Healthcare revenue-cycle billing. Amounts are exact decimal strings in the resource's currency
(`"125.00"`); errors are RFC 9457 `application/problem+json` with a stable `code`. Every POST
accepts an `Idempotency-Key` header (IETF draft semantics). Sign in with the OAuth2 password flow
at `/api/v1/auth/token` and send `Authorization: Bearer <token>`.
"""


def _swagger_dir() -> Path:
    """Swagger UI 5.x (OpenAPI 3.1) as static files from the pinned ``fastapi-offline`` package
    (docs/decisions.md); served by us, never from a CDN."""
    static = Path(fastapi_offline.__file__).parent / "static"
    if not (static / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"Swagger UI assets missing from {static}")
    return static


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    session_factory: object | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    # PHI encryption keys (docs/phi-encryption.md): refuses to start without them.
    phi_keyring.install(phi_keyring.load_keyring(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="revcycle",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    if session_factory is None:
        engine = engine or make_engine(
            settings.database_url, pool_size=settings.db_pool_size, echo=settings.db_echo
        )
        session_factory = make_session_factory(engine)
    app.state.settings = settings
    # Thresholds the audit trail reads at COMMIT (sessions carry them in ``info``).
    session_factory.configure(  # type: ignore[attr-defined]
        info={
            audit_service.READ_VOLUME_THRESHOLD: settings.audit_read_volume_threshold,
            audit_service.READ_VOLUME_WINDOW: settings.audit_read_volume_window_minutes,
        }
    )
    app.state.session_factory = session_factory
    app.state.hasher = make_hasher(settings)
    # Payment gateway (docs/payments.md): card payments go through app.state.gateway.
    app.state.gateway = build_gateway(settings, session_factory)  # type: ignore[arg-type]
    # Clearinghouse for 270/271 (docs/eligibility.md): the payer simulator by default.
    app.state.clearinghouse = build_clearinghouse(settings, session_factory)  # type: ignore[arg-type]

    problems.install(app)
    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_router,
        practices_router,
        patients_router,
        invoices_router,
        payments_router,
        refunds_router,
        plans_router,
        approvals_router,
        ledger_router,
        audit_router,
        gateway_router,
        codesets_router,
        fraud_router,
        reconciliation_router,
        insurance_router,
        authorizations_router,
        estimates_router,
        eligibility_router,
        appointments_router,
        receipts_router,
        cash_router,
        claim_submission_router,  # before claims_router: /claims/rejections
        claims_router,
        remittances_router,
        appeals_router,
        charges_router,
    ):
        api.include_router(router)
    app.include_router(api)
    install_web(app)

    if settings.gateway == "test":
        # The test gateway's own component (tokenisation API + card form): a separate sub-app,
        # so card numbers never pass through revcycle's API.
        app.mount(
            "/testgw",
            create_testgw_app(
                session_factory,  # type: ignore[arg-type]
                settings.gateway_webhook_secret.get_secret_value(),
            ),
        )
    app.mount("/static/swagger", StaticFiles(directory=_swagger_dir()), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="revcycle API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png",
        )
        # Swagger UI starts from one inline script: allow exactly that script (its hash).
        page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body))
        return page

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/docs")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RateLimitMiddleware, rules=rate_rules(settings))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RequestContextMiddleware,
        hsts_max_age=settings.hsts_max_age_seconds,
        hsts_always=settings.tls_behind_proxy,
    )
    return app
