"""App-level behaviour: offline docs, OpenAPI, problem+json for framework errors, headers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.app import create_app
from revcycle.config import Settings
from tests.factories.auth import auth_header, make_user
from tests.factories.practices import make_practice


def test_docs_are_served_from_local_assets(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", r.text)
    assert urls, "the docs page references no assets?"
    for url in urls:
        assert url.startswith("/"), f"docs reference a remote asset: {url}"
        assert client.get(url).status_code == 200, url
    assert "/static/swagger/swagger-ui-bundle.js" in urls
    # OpenAPI 3.1 (what FastAPI generates) needs Swagger UI 5; 4.x shows "Unable to render".
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1.")
    bundle = client.get("/static/swagger/swagger-ui-bundle.js").text
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)


def test_openapi_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "revcycle"
    assert "/api/v1/invoices" in spec["paths"]
    assert "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]
    post = spec["paths"]["/api/v1/payments"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_framework_errors_are_problem_json(client: TestClient) -> None:
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "route.not_found"
    r = client.delete("/api/v1/invoices")
    assert r.status_code == 405
    assert r.json()["code"] == "route.method_not_allowed"


def test_security_headers_and_request_id(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_chunked_oversized_body_is_refused(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    headers = auth_header(session, make_user(session, "billing_staff", practices=[practice]))
    session.commit()

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 100_000

    r = client.post(
        "/api/v1/payments",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "request.too_large"


def test_unexpected_errors_are_a_bare_500(settings: Settings, factory: object) -> None:
    app = create_app(settings, session_factory=factory)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail: Jane Doe 1980-05-17")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "internal_error"
    assert "Jane" not in r.text
    assert "Traceback" not in r.text
    assert body["request_id"] == r.headers["x-request-id"]
