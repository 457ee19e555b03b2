"""JSON routes for signing in (OAuth2 password flow, plus an optional ``totp`` form field),
the caller's own password and second factor, and managing users."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import BaseModel, RootModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import Ctx, CtxDep, PublicCtxDep
from revcycle.auth import errors, flows, service
from revcycle.auth.models import User
from revcycle.auth.principal import Principal
from revcycle.auth.schemas import (
    CredentialRead,
    MeRead,
    PasswordChange,
    TokenRead,
    TotpCode,
    TotpEnrolmentRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from revcycle.db import unit_of_work

router = APIRouter(tags=["auth"])


class UserList(RootModel[list[UserRead]]):
    pass


class CredentialList(RootModel[list[CredentialRead]]):
    pass


def user_read(s: Session, user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        role=user.role,
        patient_id=user.patient_id,
        active=user.active,
        practice_ids=sorted(service.practice_ids_of(s, user)),
        created_at=user.created_at,
    )


def _attempt(ctx: Ctx, username: str) -> flows.Attempt:
    return flows.Attempt(username, ctx.client_addr, ctx.request_id, "api")


def _caller(ctx: Ctx, s: Session) -> Principal:
    return service.authenticate(
        s, ctx.token, request_id=ctx.request_id, client_addr=ctx.client_addr
    )


@router.post("/auth/token", response_model=TokenRead)
def token(
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    ctx: PublicCtxDep,
    totp: Annotated[
        str | None,
        Form(max_length=10, description="The current TOTP code, for accounts with two-factor on"),
    ] = None,
) -> object:
    """OAuth2 password flow. An account with two-factor sign-in on also sends ``totp``; without
    it the answer is ``401 auth.totp_required``. Repeated failures lock the user name and the
    client address for a while (``429 auth.locked`` with Retry-After)."""

    def work(s: Session, _outcome: flows.Outcome) -> TokenRead:
        user = service.verify_password(s, username, password, ctx.hasher)
        mfa = False
        if service.totp_enrolled(user):
            if not totp:
                raise errors.TotpRequired(
                    "This account also needs its two-factor code (form field 'totp')"
                )
            service.require_totp(s, ctx.settings, user, totp)
            mfa = True
        issued = service.issue_token(
            s,
            user,
            ttl_minutes=ctx.settings.token_ttl_minutes,
            mfa=mfa,
            client_addr=ctx.client_addr,
            request_id=ctx.request_id,
        )
        return TokenRead(
            access_token=issued.token, token_type="bearer", expires_in=issued.ttl_seconds
        )

    return flows.guarded(ctx.factory, ctx.settings, _attempt(ctx, username), work)


@router.post("/auth/logout", status_code=204)
def logout(ctx: CtxDep) -> Response:
    def work(s: Session, p: Principal) -> None:
        assert ctx.token is not None
        service.logout(s, p, ctx.token)

    return ctx.write(work, status_code=204)


@router.get("/auth/me", response_model=MeRead)
def me(ctx: CtxDep) -> object:
    return ctx.read(
        lambda _s, p: MeRead(
            user_id=p.user_id,
            username=p.username,
            role=p.role.value,
            practice_ids=sorted(p.practice_ids) if p.practice_ids is not None else None,
            patient_ids=sorted(p.patient_ids),
            mfa=p.mfa,
        )
    )


@router.post("/auth/password", status_code=204)
def change_password(body: PasswordChange, ctx: CtxDep) -> Response:
    """Change your own password: the current one is checked again (failures count towards the
    lockout), the new one must meet the policy. Your other tokens and web sessions are revoked;
    this token stays valid."""
    with unit_of_work(ctx.factory) as s:
        username = _caller(ctx, s).username

    def work(s: Session, _outcome: flows.Outcome) -> None:
        service.change_password(
            s,
            _caller(ctx, s),
            current_password=body.current_password,
            new_password=body.new_password,
            hasher=ctx.hasher,
            settings=ctx.settings,
            keep_token_hash=service.hash_token(ctx.token or ""),
        )

    flows.guarded(ctx.factory, ctx.settings, _attempt(ctx, username), work)
    return Response(status_code=204)


@router.post("/auth/totp/enrolment", status_code=201, response_model=TotpEnrolmentRead)
def begin_totp(ctx: CtxDep) -> Response:
    """Start two-factor enrolment (staff): a new secret as an otpauth:// URI and a QR code, shown
    this once. Confirm it with a code from the authenticator app."""

    def work(s: Session, p: Principal) -> BaseModel:
        e = service.begin_totp_enrolment(s, p, ctx.settings)
        return TotpEnrolmentRead(otpauth_uri=e.otpauth_uri, qr_svg_data_uri=e.qr_svg_data_uri)

    return ctx.write(work, status_code=201)


@router.post("/auth/totp/confirm", status_code=204)
def confirm_totp(body: TotpCode, ctx: CtxDep) -> Response:
    """Turn two-factor sign-in on with the first code from the app. Sign in again (with a code)
    to get a token that counts as MFA."""
    return ctx.write(
        lambda s, p: service.confirm_totp_enrolment(s, p, body.code, ctx.settings),
        status_code=204,
    )


@router.post("/auth/totp/disable", status_code=204)
def disable_totp(body: TotpCode, ctx: CtxDep) -> Response:
    """Turn two-factor sign-in off; needs a current code (wrong codes count towards the
    lockout)."""
    with unit_of_work(ctx.factory) as s:
        username = _caller(ctx, s).username

    def work(s: Session, _outcome: flows.Outcome) -> None:
        service.disable_totp(s, _caller(ctx, s), body.code, ctx.settings)

    flows.guarded(ctx.factory, ctx.settings, _attempt(ctx, username), work)
    return Response(status_code=204)


@router.post("/users", status_code=201, response_model=UserRead)
def create_user(body: UserCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: user_read(s, service.create_user(s, p, body, ctx.hasher, ctx.settings)),
        status_code=201,
    )


@router.post("/users/{user_id}/practices/{practice_id}", status_code=204)
def assign_practice(user_id: uuid.UUID, practice_id: uuid.UUID, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: service.assign_practice(s, p, user_id, practice_id), status_code=204
    )


@router.get("/users", response_model=list[UserRead])
def list_users(ctx: CtxDep) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        return UserList([user_read(s, u) for u in service.list_users(s, p)])

    result = ctx.read(work)
    assert isinstance(result, UserList)
    return result.root


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(user_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: user_read(s, service.get_user(s, p, user_id)))


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(user_id: uuid.UUID, body: UserUpdate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: user_read(
            s, service.update_user(s, p, user_id, body, ctx.hasher, ctx.settings)
        )
    )


@router.get("/users/{user_id}/credentials", response_model=list[CredentialRead])
def list_credentials(user_id: uuid.UUID, ctx: CtxDep) -> object:
    """The user's live API tokens and web sessions (ids and times, never the secrets)."""

    def work(s: Session, p: Principal) -> BaseModel:
        return CredentialList(
            [
                CredentialRead(
                    id=c.id,
                    kind=c.kind,
                    created_at=c.created_at,
                    expires_at=c.expires_at,
                    mfa=c.mfa,
                )
                for c in service.list_credentials(s, p, user_id)
            ]
        )

    result = ctx.read(work)
    assert isinstance(result, CredentialList)
    return result.root


@router.post("/users/{user_id}/credentials/revoke", status_code=204)
def revoke_credentials(user_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Sign the user out everywhere (every API token and web session)."""
    return ctx.write(lambda s, p: service.revoke_credentials(s, p, user_id), status_code=204)


@router.post("/users/{user_id}/unlock", status_code=204)
def unlock_user(user_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Lift a sign-in lockout on the user's name before it runs out."""

    return ctx.write(lambda s, p: service.unlock_user(s, p, user_id, ctx.settings), status_code=204)
