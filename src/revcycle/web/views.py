"""HTML routes (thin): parse the form, check the session and its CSRF token, call one service or
flow, render. State changes are POST only, each with the session's synchronizer token; a missing
or wrong token is a 403 form error with nothing written but a CSRF_FAILED security event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import HTMLResponse, RedirectResponse, Response

from revcycle.auth import errors, flows, service, sessions
from revcycle.auth.permissions import STAFF_ROLES, Role
from revcycle.auth.principal import Principal
from revcycle.auth.sessions import PRE_SESSION_COOKIE, SESSION_COOKIE, State
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.invoices import service as invoices
from revcycle.kit.clock import utcnow
from revcycle.money import Money
from revcycle.practices import service as practices
from revcycle.security import events
from revcycle.security.events import SecurityEventKind

router = APIRouter(include_in_schema=False)

_env = Environment(
    loader=PackageLoader("revcycle.web", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

Field = Annotated[str, Form()]
CSRF_MESSAGE = "This form has expired or did not come from this site. Reload the page and retry."


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static/web", StaticFiles(packages=[("revcycle.web", "static")]), name="web-static")


@dataclass(frozen=True)
class Web:
    request: Request
    settings: Settings
    factory: sessionmaker[Session]
    hasher: PasswordHasher

    @property
    def client_addr(self) -> str | None:
        return self.request.client.host if self.request.client else None

    @property
    def request_id(self) -> str | None:
        return getattr(self.request.state, "request_id", None)

    @property
    def token(self) -> str | None:
        return self.request.cookies.get(SESSION_COOKIE)

    def attempt(self, username: str) -> flows.Attempt:
        return flows.Attempt(username, self.client_addr, self.request_id, "web")

    def principal(self, s: Session, r: sessions.Resolved) -> Principal:
        assert r.user is not None and r.row is not None
        return service.principal_for(
            s, r.user, request_id=self.request_id, client_addr=self.client_addr, mfa=r.row.mfa
        )

    def event(
        self, s: Session, kind: SecurityEventKind, r: sessions.Resolved | None, **detail: Any
    ) -> None:
        user = r.user if r is not None else None
        events.record(
            s,
            kind,
            user_id=r.row.user_id if r is not None and r.row is not None else None,
            role=user.role if user is not None else None,
            client_addr=self.client_addr,
            request_id=self.request_id,
            detail={"channel": "web", **detail},
        )


def _web(request: Request) -> Web:
    st = request.app.state
    return Web(request, st.settings, st.session_factory, st.hasher)


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("error", None)
    context.setdefault("notice", None)
    return HTMLResponse(_env.get_template(template).render(**context), status_code=status)


def _page(w: Web, r: sessions.Resolved, template: str, status: int = 200, **ctx: Any) -> Response:
    assert r.user is not None and w.token is not None
    return render(
        template,
        status,
        signed_in=True,
        is_staff=Role(r.user.role) in STAFF_ROLES,
        csrf_token=sessions.csrf_token(w.settings, w.token),
        **ctx,
    )


def _set_session(response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=True, samesite="strict", path="/"
    )


def _clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def _to_login(w: Web, s: Session, r: sessions.Resolved) -> Response:
    """Signed out (no session, or it just expired: recorded, and the cookie cleared)."""
    if r.state in {State.IDLE_EXPIRED, State.ABSOLUTE_EXPIRED}:
        w.event(s, SecurityEventKind.SESSION_EXPIRED, r, reason=r.state.value)
    if r.state is State.OK and r.row is not None and r.row.stage == sessions.MFA_PENDING:
        return RedirectResponse("/login/totp", status_code=303)  # the code is still to come
    response = RedirectResponse("/login", status_code=303)
    if w.token:
        _clear_session(response)
    return response


def _home() -> Response:
    return RedirectResponse("/home", status_code=303)


def _csrf_refused(w: Web, r: sessions.Resolved | None, back: str) -> Response:
    with unit_of_work(w.factory) as s:
        w.event(s, SecurityEventKind.CSRF_FAILED, r, path=w.request.url.path)
    return render(
        "error.html",
        403,
        title="Form refused",
        error=CSRF_MESSAGE,
        error_code="csrf.invalid",
        back=back,
        signed_in=False,
    )


def _full(r: sessions.Resolved) -> bool:
    return r.state is State.OK and r.row is not None and r.row.stage == sessions.FULL


def _signed_in_post(
    w: Web, csrf: str, back: str, work: Callable[[Session, sessions.Resolved], Response]
) -> Response:
    """A state-changing form of a signed-in user, in one transaction: session, CSRF, work."""
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=False)
        if not _full(r):
            return _to_login(w, s, r)
        if not sessions.csrf_ok(w.settings, w.token, csrf):
            refused = True
        else:
            refused = False
            sessions.resolve(s, w.token, w.settings, utcnow(), touch=True)
            return work(s, r)
    assert refused
    return _csrf_refused(w, r, back)


def _check_csrf_then(w: Web, csrf: str, back: str) -> tuple[sessions.Resolved, Response | None]:
    """For guarded flows (own transactions): session and CSRF checked first, nothing touched."""
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=False)
        if not _full(r):
            return r, _to_login(w, s, r)
        ok = sessions.csrf_ok(w.settings, w.token, csrf)
    return r, None if ok else _csrf_refused(w, r, back)


# Sign-in -------------------------------------------------------------------------------------


def _login_form(w: Web, status: int = 200, **ctx: Any) -> Response:
    pre = w.request.cookies.get(PRE_SESSION_COOKIE) or sessions.new_token()
    response = render(
        "login.html",
        status,
        signed_in=False,
        csrf_token=sessions.login_csrf_token(w.settings, pre),
        **ctx,
    )
    response.set_cookie(
        PRE_SESSION_COOKIE, pre, httponly=True, secure=True, samesite="strict", path="/"
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    w = _web(request)
    if w.token:
        with unit_of_work(w.factory) as s:
            r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=False)
            if _full(r):
                return RedirectResponse("/home", status_code=303)
    return _login_form(w)


@router.post("/login")
def login_submit(
    request: Request, username: Field = "", password: Field = "", csrf_token: Field = ""
) -> Response:
    w = _web(request)
    if not sessions.login_csrf_ok(w.settings, request.cookies.get(PRE_SESSION_COOKIE), csrf_token):
        return _csrf_refused(w, None, "/login")
    old = w.token

    def work(s: Session, outcome: flows.Outcome) -> tuple[str, str]:
        user = service.verify_password(s, username, password[:1024], w.hasher)
        now = utcnow()
        if service.totp_enrolled(user):
            outcome.release()  # the password was right; the code is still to come
            token = sessions.start(
                s,
                user,
                stage=sessions.MFA_PENDING,
                mfa=False,
                settings=w.settings,
                now=now,
                client_addr=w.client_addr,
                replaces=old,
            )
            return token, "/login/totp"
        token = sessions.start(
            s,
            user,
            stage=sessions.FULL,
            mfa=False,
            settings=w.settings,
            now=now,
            client_addr=w.client_addr,
            replaces=old,
        )
        events.record(
            s,
            SecurityEventKind.LOGIN_SUCCEEDED,
            user_id=user.id,
            role=user.role,
            client_addr=w.client_addr,
            request_id=w.request_id,
            detail={"channel": "web", "mfa": False},
        )
        return token, "/home"

    try:
        token, target = flows.guarded(w.factory, w.settings, w.attempt(username), work)
    except errors.AccountLocked as exc:
        response = _login_form(w, 429, error=exc.message, error_code=exc.code)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except DomainError as exc:
        return _login_form(w, exc.status, error=exc.message, error_code=exc.code)
    response = RedirectResponse(target, status_code=303)
    _set_session(response, token)
    response.delete_cookie(PRE_SESSION_COOKIE, path="/", secure=True, httponly=True)
    return response


@router.get("/login/totp")
def login_totp_page(request: Request) -> Response:
    w = _web(request)
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=False)
        if r.state is not State.OK or r.row is None or r.row.stage != sessions.MFA_PENDING:
            return _to_login(w, s, r) if r.state is not State.OK else _home()
    assert w.token is not None
    return render(
        "login_totp.html",
        signed_in=False,
        csrf_token=sessions.csrf_token(w.settings, w.token),
    )


@router.post("/login/totp")
def login_totp_submit(request: Request, code: Field = "", csrf_token: Field = "") -> Response:
    w = _web(request)
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=False)
        if r.state is not State.OK or r.row is None or r.row.stage != sessions.MFA_PENDING:
            return _to_login(w, s, r) if r.state is not State.OK else _home()
        ok = sessions.csrf_ok(w.settings, w.token, csrf_token)
    if not ok:
        return _csrf_refused(w, r, "/login")
    assert r.user is not None and w.token is not None
    pending = w.token

    def work(s: Session, _outcome: flows.Outcome) -> str:
        now = utcnow()
        again = sessions.resolve(s, pending, w.settings, now, touch=True)
        if again.state is not State.OK or again.user is None:
            raise errors.InvalidToken("The sign-in took too long; start again")
        service.require_totp(s, w.settings, again.user, code)
        token = sessions.start(
            s,
            again.user,
            stage=sessions.FULL,
            mfa=True,
            settings=w.settings,
            now=now,
            client_addr=w.client_addr,
            replaces=pending,
        )
        w.event(s, SecurityEventKind.LOGIN_SUCCEEDED, again, mfa=True)
        return token

    try:
        token = flows.guarded(w.factory, w.settings, w.attempt(r.user.username), work)
    except errors.AccountLocked as exc:
        response = _login_form(w, 429, error=exc.message, error_code=exc.code)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except errors.InvalidToken:
        return RedirectResponse("/login", status_code=303)
    except DomainError as exc:
        return render(
            "login_totp.html",
            exc.status,
            signed_in=False,
            csrf_token=sessions.csrf_token(w.settings, pending),
            error=exc.message,
            error_code=exc.code,
        )
    response = RedirectResponse("/home", status_code=303)
    _set_session(response, token)
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Field = "") -> Response:
    w = _web(request)

    def work(s: Session, r: sessions.Resolved) -> Response:
        assert w.token is not None
        sessions.end(s, w.token, utcnow())
        w.event(s, SecurityEventKind.LOGOUT, r)
        response = RedirectResponse("/login", status_code=303)
        _clear_session(response)
        return response

    return _signed_in_post(w, csrf_token, "/home", work)


# Pages ---------------------------------------------------------------------------------------


@router.get("/home")
def home(request: Request) -> Response:
    w = _web(request)
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=True)
        if not _full(r):
            return _to_login(w, s, r)
        p = w.principal(s, r)
        ctx: dict[str, Any] = {"username": p.username, "role": p.role.value, "mfa": p.mfa}
        if p.is_patient:
            page = invoices.list_invoices(
                s,
                p,
                practice_id=None,
                patient_id=None,
                statuses=("open", "partially_paid"),
                issued_from=None,
                issued_to=None,
                overdue=False,
                with_lines=False,
                cursor=None,
                limit=100,
            )
            totals: dict[str, int] = {}
            rows = []
            for v in page.items:
                inv = v.invoice
                totals[inv.currency] = totals.get(inv.currency, 0) + v.figures.balance
                rows.append(
                    {
                        "number": inv.display_number or "",
                        "due": inv.due_date.isoformat() if inv.due_date else "",
                        "balance": str(Money(v.figures.balance, inv.currency)),
                    }
                )
            ctx["invoices"] = rows
            ctx["balances"] = [str(Money(m, c)) for c, m in sorted(totals.items())]
        else:
            listed = practices.list_practices(s, p, cursor=None, limit=100)
            ctx["practices"] = [pr.name for pr in listed.items]
        return _page(w, r, "home.html", **ctx)


@router.get("/account/password")
def password_page(request: Request) -> Response:
    w = _web(request)
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=True)
        if not _full(r):
            return _to_login(w, s, r)
        return _page(w, r, "password.html", min_length=w.settings.password_min_length)


@router.post("/account/password")
def password_submit(
    request: Request,
    current_password: Field = "",
    new_password: Field = "",
    confirm_password: Field = "",
    csrf_token: Field = "",
) -> Response:
    w = _web(request)
    r, refused = _check_csrf_then(w, csrf_token, "/account/password")
    if refused is not None:
        return refused
    assert r.user is not None and w.token is not None
    token = w.token

    def form(status: int, **ctx: Any) -> Response:
        return _page(
            w, r, "password.html", status, min_length=w.settings.password_min_length, **ctx
        )

    if new_password != confirm_password:
        return form(400, error="The new passwords do not match", error_code="password.mismatch")

    def work(s: Session, _outcome: flows.Outcome) -> None:
        again = sessions.resolve(s, token, w.settings, utcnow(), touch=True)
        if again.state is not State.OK:
            raise errors.InvalidToken("Your session has ended; sign in again")
        service.change_password(
            s,
            w.principal(s, again),
            current_password=current_password[:1024],
            new_password=new_password,
            hasher=w.hasher,
            settings=w.settings,
            keep_session_hash=service.hash_token(token),
        )

    try:
        flows.guarded(w.factory, w.settings, w.attempt(r.user.username), work)
    except errors.AccountLocked as exc:
        response = form(429, error=exc.message, error_code=exc.code)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except errors.InvalidCredentials:
        return form(
            400, error="The current password is not right", error_code="auth.invalid_credentials"
        )
    except DomainError as exc:
        return form(exc.status, error=exc.message, error_code=exc.code)
    return form(200, notice="Your password has been changed; your other sessions were signed out")


@router.get("/account/mfa")
def mfa_page(request: Request) -> Response:
    w = _web(request)
    with unit_of_work(w.factory) as s:
        r = sessions.resolve(s, w.token, w.settings, utcnow(), touch=True)
        if not _full(r):
            return _to_login(w, s, r)
        assert r.user is not None
        return _page(w, r, "mfa.html", enrolled=service.totp_enrolled(r.user), enrolment=None)


@router.post("/account/mfa/enrol")
def mfa_enrol(request: Request, csrf_token: Field = "") -> Response:
    w = _web(request)

    def work(s: Session, r: sessions.Resolved) -> Response:
        enrolment = service.begin_totp_enrolment(s, w.principal(s, r), w.settings)
        return _page(w, r, "mfa.html", enrolled=False, enrolment=enrolment)

    return _form_errors(
        "/account/mfa", lambda: _signed_in_post(w, csrf_token, "/account/mfa", work)
    )


@router.post("/account/mfa/confirm")
def mfa_confirm(request: Request, code: Field = "", csrf_token: Field = "") -> Response:
    w = _web(request)

    def work(s: Session, r: sessions.Resolved) -> Response:
        service.confirm_totp_enrolment(s, w.principal(s, r), code, w.settings)
        return _page(
            w,
            r,
            "mfa.html",
            enrolled=True,
            enrolment=None,
            notice="Two-factor sign-in is on; it is asked for at your next sign-in",
        )

    return _form_errors(
        "/account/mfa", lambda: _signed_in_post(w, csrf_token, "/account/mfa", work)
    )


@router.post("/account/mfa/disable")
def mfa_disable(request: Request, code: Field = "", csrf_token: Field = "") -> Response:
    w = _web(request)
    r, refused = _check_csrf_then(w, csrf_token, "/account/mfa")
    if refused is not None:
        return refused
    assert r.user is not None and w.token is not None
    token = w.token

    def work(s: Session, _outcome: flows.Outcome) -> None:
        again = sessions.resolve(s, token, w.settings, utcnow(), touch=True)
        if again.state is not State.OK:
            raise errors.InvalidToken("Your session has ended; sign in again")
        service.disable_totp(s, w.principal(s, again), code, w.settings)

    try:
        flows.guarded(w.factory, w.settings, w.attempt(r.user.username), work)
    except DomainError as exc:
        response = _page(
            w, r, "mfa.html", exc.status, enrolled=True, error=exc.message, error_code=exc.code
        )
        if isinstance(exc, errors.AccountLocked):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return _page(w, r, "mfa.html", enrolled=False, notice="Two-factor sign-in is off")


def _form_errors(back: str, call: Callable[[], Response]) -> Response:
    """A refused action (DomainError): the error page with the stable code, nothing written."""
    try:
        return call()
    except DomainError as exc:
        return render(
            "error.html",
            exc.status,
            title="Refused",
            error=exc.message,
            error_code=exc.code,
            back=back,
            signed_in=False,
        )
