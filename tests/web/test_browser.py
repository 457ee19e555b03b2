"""A real browser (Debian's chromium through Playwright) against the app served by uvicorn over
TLS on 127.0.0.1: sign-in, cookies, TOTP enrolment and the TOTP sign-in step, logout, the CSP
(no violation on our pages or on the Swagger page), and the API docs rendering our OpenAPI 3.1
document from local assets only."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from revcycle.app import create_app
from revcycle.db import unit_of_work
from tests.auth.helpers import code, secret_of
from tests.conftest import IN_CI
from tests.conftest import test_settings as settings_for
from tests.factories.auth import PASSWORD, make_user
from tests.factories.practices import make_practice

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not (os.path.exists(CHROMIUM) and shutil.which("chromium")):
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs it)", pytrace=False)
    pytest.skip(
        f"{CHROMIUM} not installed (apt-get install -y chromium); browser test skipped",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")


def _self_signed(tmp: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(certfile), str(keyfile)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(
    committed_db: tuple[str, Engine, sessionmaker[Session]], tmp_path: Path
) -> Iterator[tuple[str, str, str]]:
    import uvicorn

    url, _engine, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s, name="Browser Clinic")
        admin = make_user(s, "admin", practices=[practice]).username
        staff = make_user(s, "billing_staff", practices=[practice]).username
    app = create_app(settings_for(url), session_factory=factory)
    certfile, keyfile = _self_signed(tmp_path)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}", admin, staff
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_sign_in_totp_and_logout_in_a_browser(served: tuple[str, str, str]) -> None:
    base, admin, staff = served
    csp_errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()

            def on_console(msg: Any) -> None:
                if "Content Security Policy" in msg.text or "Refused to" in msg.text:
                    csp_errors.append(msg.text)

            page.on("console", on_console)

            # wrong password: the form again, with the error
            page.goto(f"{base}/home")
            assert page.url == f"{base}/login"
            page.fill("#username", staff)
            page.fill("#password", "not the password at all")
            page.click("#sign-in")
            assert page.locator("#error").get_attribute("data-code") == "auth.invalid_credentials"

            # admin signs in, sets up TOTP
            page.fill("#username", admin)
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/home")
            assert page.text_content("#who") == admin
            assert "Browser Clinic" in (page.text_content("#practices") or "")
            [cookie] = [c for c in context.cookies() if c["name"] == "__Host-revcycle_session"]
            assert cookie["httpOnly"]
            assert cookie["secure"]
            assert cookie["sameSite"] == "Strict"
            assert page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts

            page.click("a[href='/account/mfa']")
            page.click("#enrol")
            assert (
                page.locator("#qr")
                .get_attribute("src", timeout=5000)
                .startswith("data:image/svg+xml")
            )
            secret = secret_of(page.text_content("#otpauth") or "")
            page.fill("#code", code(secret))
            page.click("#confirm")
            assert "on" in (page.text_content("#mfa-status") or "")
            page.click("#logout")
            page.wait_for_url(f"{base}/login")

            # sign in again: the TOTP step
            page.fill("#username", admin)
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/login/totp")
            page.fill("#code", code(secret, 1))
            page.click("#verify")
            page.wait_for_url(f"{base}/home")
            assert "two-factor" in (page.text_content("main") or "")
            page.click("#logout")
            page.wait_for_url(f"{base}/login")
            page.goto(f"{base}/home")
            assert page.url == f"{base}/login"

            # the API docs still work under their own policy
            response = page.goto(f"{base}/docs")
            assert response is not None
            assert "strict-transport-security" in response.headers
            # Swagger UI's script ran (it built its DOM) under the page's hash-based policy;
            # test_api_docs_render_in_a_browser checks what it renders.
            page.wait_for_selector(".swagger-ui svg.svg-assets", state="attached", timeout=15000)
        finally:
            browser.close()
    assert csp_errors == []


# Registered before any page script runs (Playwright init scripts are not subject to the page's
# CSP), so every violation the browser reports is collected, not only those it logs.
_COLLECT_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def test_api_docs_render_in_a_browser(served: tuple[str, str, str]) -> None:
    """/docs renders the OpenAPI 3.1 document (Swagger UI 5.x), operations included, with no
    "Unable to render" notice, no CSP violation and no request leaving our origin."""
    base, _admin, _staff = served
    console_csp: list[str] = []
    foreign: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(ignore_https_errors=True)
            context.add_init_script(_COLLECT_CSP_VIOLATIONS)
            page = context.new_page()
            page.on(
                "console",
                lambda msg: (
                    console_csp.append(msg.text)
                    if "Content Security Policy" in msg.text or "Refused to" in msg.text
                    else None
                ),
            )
            page.on(
                "request",
                lambda req: (
                    None
                    if req.url.startswith((f"{base}/", "data:", "blob:"))
                    else foreign.append(req.url)
                ),
            )

            response = page.goto(f"{base}/docs")
            assert response is not None
            assert response.status == 200
            assert (
                "'unsafe-inline'"
                not in response.headers["content-security-policy"]
                .split("script-src", 1)[1]
                .split(";", 1)[0]
            )

            # operations, or Swagger UI's refusal (an old UI's version notice, a broken spec)
            page.wait_for_selector(
                ".swagger-ui .opblock, .swagger-ui .version-pragma, .swagger-ui .errors-wrapper",
                timeout=20000,
            )
            body = page.text_content("body") or ""
            assert "Unable to render this definition" not in body
            assert page.locator(".swagger-ui .errors-wrapper").count() == 0
            assert "OAS 3.1" in (page.text_content(".swagger-ui .info") or "")
            create_invoice = page.locator(
                ".opblock.opblock-post:has(.opblock-summary-path[data-path='/api/v1/invoices'])"
            )
            assert create_invoice.count() == 1
            assert create_invoice.locator(".opblock-summary-method").text_content() == "POST"
            assert page.locator(".opblock").count() > 20  # the whole API, not one tag

            # expanding an operation renders its request body schema from the 3.1 document
            create_invoice.locator(".opblock-summary").first.click()
            page.wait_for_selector(".opblock.is-open .opblock-section-request-body", timeout=10000)

            assert page.locator(".swagger-ui .errors-wrapper").count() == 0
            violations = page.evaluate("window.__cspViolations")
        finally:
            browser.close()
    assert violations == []
    assert console_csp == []
    assert foreign == []
