"""Bad input: a clear 4xx problem with a stable code, never a 500, never a partial write."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api, Tenant, new_conversation


async def _count_messages(tenant: Tenant, conversation: str) -> int:
    return len((await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"])


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b'{"content": "unterminated', "application/json", 400, "invalid_json"),
        (b'{"content": "caf\xe9"}', "application/json", 400, "invalid_utf8"),
        (b'{"content": 42}', "application/json", 422, "validation_error"),
        (b'{"content": "hi", "priority": "urgent"}', "application/json", 422, "unknown_field"),
        (b'{"content": "   "}', "application/json", 422, "validation_error"),
        (b"{}", "application/json", 422, "validation_error"),
        (b"[1, 2]", "application/json", 422, "validation_error"),
        (b"content=hi", "application/x-www-form-urlencoded", 422, "validation_error"),
        (b'{"content": "nul \\u0000 inside"}', "application/json", 422, "invalid_text"),
        (b'{"content": "lone \\udb78 surrogate"}', "application/json", 422, "invalid_text"),
    ],
)
async def test_malformed_message_bodies_are_problems_and_write_nothing(
    tenant: Tenant, raw: bytes, content_type: str, status: int, code: str
) -> None:
    conversation = await new_conversation(tenant)
    response = await tenant.client.post(
        f"/v1/conversations/{conversation}/messages", content=raw, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == code and problem["status"] == status and problem["title"] and problem["detail"]
    assert await _count_messages(tenant, conversation) == 0


async def test_oversized_body_is_413_before_anything_runs(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    big = "x" * (api.settings.max_body_bytes + 10)
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": big})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert await _count_messages(tenant, conversation) == 0


async def test_message_over_the_character_limit_is_refused(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    long_text = "y" * (api.settings.max_message_chars + 1)
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": long_text})
    assert response.status_code == 422 and response.json()["code"] == "message_too_long"
    assert await _count_messages(tenant, conversation) == 0


async def test_unknown_conversation_and_malformed_ids(tenant: Tenant) -> None:
    unknown = await tenant.client.post(f"/v1/conversations/{uuid.uuid4()}/messages", json={"content": "hi"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    malformed = await tenant.client.get("/v1/conversations/not-a-uuid")
    assert malformed.status_code == 422 and malformed.json()["code"] == "validation_error"
    missing_route = await tenant.client.get("/v1/nothing-here")
    assert missing_route.status_code == 404 and missing_route.json()["code"] == "not_found"
    wrong_method = await tenant.client.put("/v1/conversations")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"


async def test_bad_conversation_and_key_bodies(tenant: Tenant) -> None:
    cases = [
        ("/v1/conversations", {"user_id": ""}, "validation_error"),
        ("/v1/conversations", {"user_id": "u", "channel": "fax"}, "validation_error"),
        ("/v1/conversations", {"user_id": "u", "colour": "red"}, "unknown_field"),
        ("/v1/keys", {"kind": "root"}, "validation_error"),
        ("/v1/keys", {"kind": "secret", "expires_at": "2020-01-01T00:00:00Z"}, "validation_error"),
        ("/v1/keys", {"kind": "secret", "expires_at": "2030-01-01T00:00:00"}, "validation_error"),
    ]
    before = len((await tenant.client.get("/v1/keys")).json()["items"])
    for path, body, code in cases:
        response = await tenant.client.post(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["code"] == code, (path, body, response.json())
    assert len((await tenant.client.get("/v1/keys")).json()["items"]) == before
    assert (await tenant.client.get("/v1/conversations", params={"limit": 0})).status_code == 422


async def test_bad_idempotency_key(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    response = await tenant.client.post(
        f"/v1/conversations/{conversation}/messages", json={"content": "hi"}, headers={"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    assert await _count_messages(tenant, conversation) == 0


async def test_openapi_and_docs_are_served(api: Api, tenant: Tenant) -> None:
    spec = (await tenant.client.get("/openapi.json")).json()
    assert "/v1/conversations/{conversation_id}/messages" in spec["paths"]
    post = spec["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]
    assert "text/event-stream" in post["responses"]["200"]["content"]
    assert (await tenant.client.get("/docs")).status_code == 200


async def test_last_event_id_that_we_never_sent_is_refused(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    response = await tenant.client.post(
        f"/v1/conversations/{conversation}/messages",
        json={"content": "hi", "stream": True},
        headers={"Last-Event-ID": "null"},
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_last_event_id"
    assert await _count_messages(tenant, conversation) == 0
