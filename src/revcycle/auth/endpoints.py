"""JSON routes for signing in (OAuth2 password flow) and managing users."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, RootModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep, PublicCtxDep
from revcycle.auth import service
from revcycle.auth.models import User
from revcycle.auth.principal import Principal
from revcycle.auth.schemas import MeRead, TokenRead, UserCreate, UserRead, UserUpdate

router = APIRouter(tags=["auth"])


class UserList(RootModel[list[UserRead]]):
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


@router.post("/auth/token", response_model=TokenRead)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: PublicCtxDep) -> object:
    def work(s: Session) -> BaseModel:
        issued = service.login(
            s,
            form.username,
            form.password,
            ctx.hasher,
            ttl_minutes=ctx.settings.token_ttl_minutes,
            client_addr=ctx.client_addr,
        )
        return TokenRead(
            access_token=issued.token, token_type="bearer", expires_in=issued.ttl_seconds
        )

    return ctx.public(work)


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
        )
    )


@router.post("/users", status_code=201, response_model=UserRead)
def create_user(body: UserCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: user_read(s, service.create_user(s, p, body, ctx.hasher)), status_code=201
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
        lambda s, p: user_read(s, service.update_user(s, p, user_id, body, ctx.hasher))
    )
