"""Company users and signing in: create users, log in for a session token, log out, who am I."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi import APIRouter, Response, status

from api.agent_deps import SignedInDep, UserManagerDep
from api.deps import RuntimeDep, SessionDep
from api.escalation_schemas import LoginRequest, MeOut, SessionOut, UserCreate, UserList, UserOut
from helpdeck.errors import Forbidden, RateLimited, Unauthorized
from helpdeck.services import users as service
from helpdeck.tables import User

router = APIRouter(tags=["users"])

# Failed sign-ins per email before a pause: slows password guessing without locking anyone out.
LOGIN_FAILURES_ALLOWED = 10
LOGIN_FAILURE_WINDOW_S = 15 * 60


def user_out(row: User) -> UserOut:
    return UserOut.model_validate(row, from_attributes=True)


@router.post("/v1/users", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def create_user(body: UserCreate, actor: UserManagerDep, session: SessionDep) -> UserOut:
    """A company user; only a secret key or an owner may create another owner."""
    if body.role == "owner" and actor.role not in ("owner", "secret_key"):
        raise Forbidden("only an owner (or a secret key) may create an owner", code="forbidden_role", role=actor.role)
    row = await service.create_user(session, actor.company_id, body.email, body.name, body.role, body.password)
    return user_out(row)


@router.get("/v1/users", response_model=UserList)
async def list_users(actor: UserManagerDep, session: SessionDep) -> UserList:
    return UserList(items=[user_out(u) for u in await service.list_users(session, actor.company_id)])


def _failures_key(email: str) -> str:
    return "login:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32] + ":failures"


@router.post("/v1/auth/login", response_model=SessionOut)
async def login(body: LoginRequest, session: SessionDep, runtime: RuntimeDep) -> SessionOut:
    """A session token for an email and password; it expires after HELPDECK_AGENT_SESSION_HOURS."""
    key = _failures_key(body.email)
    failures = int(await runtime.redis.get(key) or 0)
    if failures >= LOGIN_FAILURES_ALLOWED:
        retry = await runtime.redis.ttl(key)
        raise RateLimited("too many failed sign-ins for this email; wait and try again", max(int(retry), 1))
    lifetime = timedelta(hours=runtime.settings.agent_session_hours)
    try:
        token, signed_in = await service.login(session, body.email, body.password, lifetime)
    except Unauthorized:
        async with runtime.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, LOGIN_FAILURE_WINDOW_S)
            await pipe.execute()
        raise
    await runtime.redis.delete(key)
    return SessionOut(
        token=token, expires_at=signed_in.expires_at, user=user_out(signed_in.user), company_id=signed_in.company_id
    )


@router.post("/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(actor: SignedInDep, session: SessionDep) -> Response:
    assert actor.session_id is not None
    await service.logout(session, actor.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/me", response_model=MeOut)
async def me(actor: SignedInDep, session: SessionDep) -> MeOut:
    from helpdeck.tables import UserSession

    assert actor.user is not None and actor.session_id is not None
    row = await session.get(UserSession, actor.session_id)
    assert row is not None
    return MeOut(
        user=user_out(actor.user),
        company_id=actor.company_id,
        company_name=actor.company.name,
        session_expires_at=row.expires_at,
    )
