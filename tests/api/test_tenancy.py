"""Companies and keys: shown once, hashed at rest, revocable, expiring, rotatable, origin-bound."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select

from helpdeck.services.tenancy import hash_key
from helpdeck.tables import ApiKey
from tests.conftest import Api, Tenant, new_conversation


async def test_company_creation_needs_the_admin_token(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        missing = await anonymous.post("/v1/companies", json={"name": "X"})
        wrong = await anonymous.post(
            "/v1/companies", json={"name": "X"}, headers={"Authorization": "Bearer hd_admin_nope"}
        )
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["code"] == "unauthorized"


async def test_company_key_is_shown_once_and_stored_only_as_a_hash(api: Api, admin: httpx.AsyncClient) -> None:
    created = await admin.post("/v1/companies", json={"name": "Hashco", "tier": "enterprise"})
    assert created.status_code == 201
    body = created.json()
    assert body["tier"] == "enterprise" and body["api_key"].startswith("hd_sk_")
    async with api.runtime.db.session() as session:
        rows = list(await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(body["api_key"]))))
    assert len(rows) == 1
    assert body["api_key"] not in rows[0].model_dump_json()
    async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {body['api_key']}"}) as client:
        listed = (await client.get("/v1/keys")).json()["items"]
    assert len(listed) == 1 and "key" not in listed[0] and listed[0]["prefix"] == body["api_key"][:12]


async def test_forged_revoked_and_expired_keys_are_refused(api: Api, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        forged = await anonymous.get("/v1/keys", headers={"Authorization": "Bearer hd_sk_" + "A" * 43})
        assert forged.status_code == 401
        created = await tenant.client.post("/v1/keys", json={"kind": "secret", "name": "ci"})
        assert created.status_code == 201
        extra = created.json()
        auth = {"Authorization": f"Bearer {extra['key']}"}
        assert (await anonymous.get("/v1/keys", headers=auth)).status_code == 200
        assert (await tenant.client.delete(f"/v1/keys/{extra['id']}")).status_code == 204
        assert (await anonymous.get("/v1/keys", headers=auth)).status_code == 401

        soon = datetime.now(UTC) + timedelta(seconds=1)
        short = (await tenant.client.post("/v1/keys", json={"kind": "secret", "expires_at": soon.isoformat()})).json()
        await asyncio.sleep(1.2)
        expired = await anonymous.get("/v1/keys", headers={"Authorization": f"Bearer {short['key']}"})
        assert expired.status_code == 401


async def test_rotation_gives_a_new_key_and_the_old_one_lives_only_for_the_grace(api: Api, tenant: Tenant) -> None:
    created = (await tenant.client.post("/v1/keys", json={"kind": "secret"})).json()
    rotated = await tenant.client.post(f"/v1/keys/{created['id']}/rotate", json={"grace_seconds": 1})
    assert rotated.status_code == 201
    new_key = rotated.json()["key"]
    assert new_key != created["key"]
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        assert (
            await anonymous.get("/v1/keys", headers={"Authorization": f"Bearer {created['key']}"})
        ).status_code == 200
        await asyncio.sleep(1.2)
        assert (
            await anonymous.get("/v1/keys", headers={"Authorization": f"Bearer {created['key']}"})
        ).status_code == 401
        assert (await anonymous.get("/v1/keys", headers={"Authorization": f"Bearer {new_key}"})).status_code == 200


async def test_publishable_key_works_only_from_its_origins_and_only_on_widget_routes(api: Api, tenant: Tenant) -> None:
    made = await tenant.client.post(
        "/v1/keys", json={"kind": "publishable", "allowed_origins": ["https://shop.example.com"]}
    )
    assert made.status_code == 201
    pk = made.json()["key"]
    assert pk.startswith("hd_pk_")
    auth = {"Authorization": f"Bearer {pk}"}
    async with httpx.AsyncClient(base_url=api.url, headers=auth) as widget:
        allowed = await widget.post(
            "/v1/conversations", json={"user_id": "visitor"}, headers={"Origin": "https://shop.example.com"}
        )
        assert allowed.status_code == 201
        foreign = await widget.post(
            "/v1/conversations", json={"user_id": "visitor"}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        no_origin = await widget.post("/v1/conversations", json={"user_id": "visitor"})
        assert no_origin.status_code == 403
        keys = await widget.get("/v1/keys", headers={"Origin": "https://shop.example.com"})
        assert keys.status_code == 403 and keys.json()["code"] == "forbidden"


async def test_publishable_key_needs_origins(tenant: Tenant) -> None:
    response = await tenant.client.post("/v1/keys", json={"kind": "publishable"})
    assert response.status_code == 422
    bad_origin = await tenant.client.post(
        "/v1/keys", json={"kind": "publishable", "allowed_origins": ["shop.example.com/path"]}
    )
    assert bad_origin.status_code == 422


async def test_rate_limit_per_end_user_answers_429_with_retry_after(api: Api, admin: httpx.AsyncClient) -> None:
    from tests.conftest import make_tenant

    limited = await make_tenant(api, admin, tier="enterprise", settings={"daily_messages_per_user": 2})
    try:
        conversation = await new_conversation(limited, user_id="chatty")
        url = f"/v1/conversations/{conversation}/messages"
        for n in range(2):
            assert (await limited.client.post(url, json={"content": f"q{n}"})).status_code == 200
        refused = await limited.client.post(url, json={"content": "one more"})
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        # Nothing was recorded for the refused message, and another user is unaffected.
        assert len((await limited.client.get(url)).json()["items"]) == 4
        other = await new_conversation(limited, user_id="quiet")
        assert (
            await limited.client.post(f"/v1/conversations/{other}/messages", json={"content": "hi"})
        ).status_code == 200
    finally:
        await limited.client.aclose()


async def test_token_bucket_refuses_a_burst_then_refills(api: Api) -> None:
    from helpdeck.errors import RateLimited
    from helpdeck.services.rate_limits import RateLimiter

    limiter = RateLimiter(api.runtime.redis, capacity=3, refill_per_s=2.0)
    for _ in range(3):
        await limiter.take("burst-co", "burst-user", daily_limit=1000)
    try:
        await limiter.take("burst-co", "burst-user", daily_limit=1000)
        raise AssertionError("the fourth message in a burst should be refused")
    except RateLimited as exc:
        assert exc.retry_after_s == 1
    await asyncio.sleep(0.6)
    allowance = await limiter.take("burst-co", "burst-user", daily_limit=1000)
    assert allowance.used_today == 4
