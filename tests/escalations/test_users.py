"""Company users: roles, sign-in with scrypt-hashed passwords, sessions that expire and end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update
from sqlmodel import select

from helpdeck.tables import User, UserSession
from tests.conftest import Api, Tenant
from tests.escalations.support import PASSWORD, make_agent


async def test_a_user_signs_in_sees_who_they_are_and_logs_out(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant, "agent", name="Ada Agent")
    me = await agent.client.get("/v1/me")
    assert me.status_code == 200
    assert me.json()["user"]["name"] == "Ada Agent" and me.json()["company_id"] == tenant.id
    assert (await agent.client.post("/v1/auth/logout")).status_code == 204
    after = await agent.client.get("/v1/me")
    assert after.status_code == 401 and after.json()["code"] == "session_expired"


async def test_passwords_are_stored_only_as_scrypt_hashes(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant)
    async with api.runtime.db.session() as session:
        user = (await session.exec(select(User).where(User.email == agent.email))).one()
        stored = (await session.exec(select(UserSession).where(UserSession.user_id == user.id))).first()
    assert user.password_hash.startswith("scrypt$16384$8$1$") and PASSWORD not in user.password_hash
    assert stored is not None and agent.token not in stored.token_hash


async def test_an_expired_session_is_refused(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant)
    async with api.runtime.db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(UserSession)
            .where(UserSession.user_id == uuid.UUID(agent.id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    response = await agent.client.get("/v1/escalations")
    assert response.status_code == 401 and response.json()["code"] == "session_expired"


async def test_wrong_password_and_unknown_email_get_the_same_answer(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant)
    wrong = await tenant.client.post("/v1/auth/login", json={"email": agent.email, "password": "nope-nope-nope"})
    unknown = await tenant.client.post("/v1/auth/login", json={"email": "ghost@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"


async def test_repeated_failed_sign_ins_are_paused(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant)
    codes = [
        (await tenant.client.post("/v1/auth/login", json={"email": agent.email, "password": f"guess-{n}"})).status_code
        for n in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    paused = await tenant.client.post("/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert paused.status_code == 429 and "Retry-After" in paused.headers


async def test_roles_decide_who_manages_users(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant, "agent")
    admin = await make_agent(api, tenant, "admin")
    body = {"email": f"x-{uuid.uuid4().hex[:6]}@example.com", "name": "X", "role": "agent", "password": PASSWORD}
    by_agent = await agent.client.post("/v1/users", json=body)
    assert by_agent.status_code == 403 and by_agent.json()["code"] == "forbidden_role"
    owner_by_admin = await admin.client.post("/v1/users", json={**body, "role": "owner"})
    assert owner_by_admin.status_code == 403 and owner_by_admin.json()["code"] == "forbidden_role"
    assert (await admin.client.post("/v1/users", json=body)).status_code == 201
    listed = await admin.client.get("/v1/users")
    assert body["email"] in {u["email"] for u in listed.json()["items"]}


async def test_a_second_user_with_the_same_email_is_refused(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await make_agent(api, tenant)
    body = {"email": agent.email.upper(), "name": "Copy", "role": "agent", "password": PASSWORD}
    again = await other_tenant.client.post("/v1/users", json=body)
    assert again.status_code == 409 and again.json()["code"] == "email_taken"


async def test_bad_user_input_gets_problem_details(api: Api, tenant: Tenant) -> None:
    good = {"email": "ok@example.com", "name": "Ok", "role": "agent", "password": PASSWORD}
    cases = [
        ({**good, "password": "short"}, "validation_error"),
        ({**good, "email": "not-an-email"}, "validation_error"),
        ({**good, "role": "superuser"}, "validation_error"),
        ({**good, "is_admin": True}, "unknown_field"),
    ]
    for body, code in cases:
        response = await tenant.client.post("/v1/users", json=body)
        assert response.status_code == 422 and response.json()["code"] == code, (body, response.text)
    assert (await tenant.client.post("/v1/auth/login", json={"email": "a@b.c"})).status_code == 422
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        assert (await anonymous.get("/v1/me")).status_code == 401
        assert (await anonymous.post("/v1/users", json=good)).status_code == 401
    garbage = httpx.AsyncClient(base_url=api.url, headers={"Authorization": "Bearer hd_us_forged"})
    assert (await garbage.get("/v1/me")).json()["code"] == "unauthorized"
    await garbage.aclose()
    # A company key is not a user: /v1/me needs a session.
    assert (await tenant.client.get("/v1/me")).status_code == 401
