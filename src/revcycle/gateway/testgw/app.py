"""The test gateway's own web front: a tokenisation API and a hosted card-form page, mounted as a
separate sub-application at ``/testgw``. The card number is posted here, to the gateway
component, and never to revcycle's API; the answer is an opaque ``tok_...`` with brand, last 4
and expiry. Nothing here logs a request body, and refusals never repeat the input."""

from __future__ import annotations

import hashlib
import html
from typing import Annotated

from fastapi import FastAPI, Form, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from revcycle.db import unit_of_work
from revcycle.gateway.base import ChargeStatus, GatewayRefused
from revcycle.gateway.testgw import bank, service, threeds

CSP = (
    "default-src 'none'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; "
    "style-src 'unsafe-inline'"
)
NO_STORE = {"Cache-Control": "no-store", "Content-Security-Policy": CSP}


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=30)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=0, le=9999)
    cvc: str = Field(min_length=1, max_length=8)


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing_number: str = Field(min_length=1, max_length=20)
    account_number: str = Field(min_length=1, max_length=30)
    account_type: str = Field(default="checking", max_length=10)
    account_holder_name: str = Field(min_length=1, max_length=100)


def fingerprint_key(webhook_secret: str) -> bytes:
    return hashlib.sha256(b"testgw-card-fingerprint:" + webhook_secret.encode()).digest()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Test gateway: card</title></head><body style="font-family:sans-serif;max-width:28rem">
<h1>Test gateway</h1><p>This page belongs to the payment gateway, not to revcycle.
Card details entered here are exchanged for a token.</p>{result}
<form method="post" action="/testgw/card-form" autocomplete="off">
<p><label>Card number <input name="number" inputmode="numeric" maxlength="23" required></label></p>
<p><label>Expiry month <input name="exp_month" inputmode="numeric" maxlength="2" required></label>
<label>year <input name="exp_year" inputmode="numeric" maxlength="4" required></label></p>
<p><label>CVC <input name="cvc" inputmode="numeric" maxlength="4" required></label></p>
<p><button type="submit">Get token</button></p></form></body></html>"""


_CHALLENGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Test gateway: 3-D Secure</title></head><body style="font-family:sans-serif;max-width:28rem">
<h1>3-D Secure check</h1><p>This page belongs to the payment gateway (the card issuer's check),
not to revcycle.</p>{body}</body></html>"""

_CHALLENGE_FORM = """<p>Confirm the payment of <strong>{amount}</strong>?</p>
<form method="post" action="/testgw/3ds/{charge_id}">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" name="outcome" value="approve">Approve</button>
<button type="submit" name="outcome" value="fail">Fail</button></form>"""


def _challenge_page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_CHALLENGE.format(body=body), status_code=status, headers=NO_STORE)


def _same_origin(request: Request) -> bool:
    """Browsers send Sec-Fetch-Site / Origin on a form post: refuse one from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.headers.get("host")


def create_testgw_app(factory: sessionmaker[Session], webhook_secret: str) -> FastAPI:
    app = FastAPI(title="test gateway", docs_url=None, redoc_url=None, openapi_url=None)
    key = fingerprint_key(webhook_secret)
    challenge_key = hashlib.sha256(b"testgw-3ds:" + webhook_secret.encode()).digest()
    gateway = service.TestGateway(factory)

    @app.get("/3ds/{charge_id}")
    def challenge(charge_id: Annotated[str, Path(max_length=40)]) -> HTMLResponse:
        try:
            charge = gateway.retrieve(charge_id)
        except GatewayRefused:
            return _challenge_page('<p role="alert">No such payment.</p>', 404)
        if charge.status is not ChargeStatus.REQUIRES_ACTION:
            return _challenge_page(f"<p>This check is closed ({html.escape(charge.status)}).</p>")
        amount = f"{charge.amount_minor // 100}.{charge.amount_minor % 100:02d} {charge.currency}"
        form = _CHALLENGE_FORM.format(
            amount=html.escape(amount),
            charge_id=html.escape(charge.id),
            csrf=threeds.csrf_token(challenge_key, charge.id),
        )
        return _challenge_page(form)

    @app.post("/3ds/{charge_id}")
    def challenge_answer(
        request: Request,
        charge_id: Annotated[str, Path(max_length=40)],
        outcome: Annotated[str, Form(max_length=10)],
        csrf: Annotated[str, Form(max_length=80)],
    ) -> HTMLResponse:
        if not (_same_origin(request) and threeds.csrf_ok(challenge_key, charge_id, csrf)):
            return _challenge_page('<p role="alert">This form has expired.</p>', 403)
        if outcome not in {"approve", "fail"}:
            return _challenge_page('<p role="alert">Choose approve or fail.</p>', 400)
        try:
            charge = gateway.complete_action(charge_id, approve=outcome == "approve")
        except GatewayRefused:
            return _challenge_page('<p role="alert">No such payment.</p>', 404)
        done = "approved" if charge.status is ChargeStatus.SUCCEEDED else "not approved"
        return _challenge_page(
            f'<p role="status">Payment {done}. You can return to the merchant.</p>'
        )

    def _tokenize(card: CardIn) -> service.TokenResult:
        with unit_of_work(factory) as s:
            return service.tokenize(
                s,
                fingerprint_key=key,
                number=card.number,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                cvc=card.cvc,
            )

    @app.post("/v1/tokens")
    async def create_token(request: Request) -> Response:
        try:
            card = CardIn.model_validate_json(await request.body())
        except ValidationError:
            return _error(400, "invalid_request", "Send number, exp_month, exp_year and cvc")
        try:
            tok = _tokenize(card)
        except service.CardRefused as exc:
            return _error(402, exc.code, exc.message)
        return JSONResponse(
            {
                "id": tok.id,
                "object": "token",
                "card": {
                    "brand": tok.card.brand,
                    "last4": tok.card.last4,
                    "exp_month": tok.card.exp_month,
                    "exp_year": tok.card.exp_year,
                },
            },
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/card-form")
    def card_form() -> HTMLResponse:
        return HTMLResponse(_PAGE.format(result=""), headers=NO_STORE)

    @app.post("/card-form")
    def card_form_submit(
        number: Annotated[str, Form(max_length=30)],
        exp_month: Annotated[str, Form(max_length=4)],
        exp_year: Annotated[str, Form(max_length=4)],
        cvc: Annotated[str, Form(max_length=8)],
    ) -> HTMLResponse:
        try:
            card = CardIn(
                number=number,
                exp_month=int(exp_month) if exp_month.isdigit() else 0,
                exp_year=int(exp_year) if exp_year.isdigit() else 0,
                cvc=cvc,
            )
            tok = _tokenize(card)
        except ValidationError:
            result = '<p role="alert">Check the expiry date.</p>'
            return HTMLResponse(_PAGE.format(result=result), status_code=400, headers=NO_STORE)
        except service.CardRefused as exc:
            result = f'<p role="alert">{html.escape(exc.message)} ({exc.code}).</p>'
            return HTMLResponse(_PAGE.format(result=result), status_code=402, headers=NO_STORE)
        result = (
            f"<p>Token <code>{html.escape(tok.id)}</code>: {html.escape(tok.card.brand)} "
            f"ending {html.escape(tok.card.last4)}, expires "
            f"{tok.card.exp_month:02d}/{tok.card.exp_year}.</p>"
        )
        return HTMLResponse(_PAGE.format(result=result), status_code=201, headers=NO_STORE)

    _add_bank_routes(app, factory, key)
    return app


def _add_bank_routes(app: FastAPI, factory: sessionmaker[Session], key: bytes) -> None:
    """``POST /testgw/v1/bank-tokens``: a bank account -> ``btok_...`` (docs/bank-transfers.md).
    Refusals are 422 with a stable code and never repeat the input."""

    @app.post("/v1/bank-tokens")
    async def create_bank_token(request: Request) -> Response:
        try:
            account = BankAccountIn.model_validate_json(await request.body())
        except ValidationError:
            return _error(
                400,
                "invalid_request",
                "Send routing_number, account_number, account_type and account_holder_name",
            )
        try:
            with unit_of_work(factory) as s:
                tok = bank.tokenize_bank(
                    s,
                    fingerprint_key=key,
                    routing_number=account.routing_number,
                    account_number=account.account_number,
                    account_type=account.account_type,
                    holder_name=account.account_holder_name,
                )
        except bank.BankAccountRefused as exc:
            return _error(422, exc.code, exc.message)
        return JSONResponse(
            {
                "id": tok.id,
                "object": "bank_token",
                "bank_account": {
                    "last4": tok.bank.last4,
                    "routing_number": tok.bank.routing_number,
                    "account_type": tok.bank.account_type,
                    "bank_name": tok.bank.bank_name,
                },
            },
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )
