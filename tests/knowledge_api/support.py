"""Helpers for the knowledge tests: upload through the API and wait for an ingestion to end."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import Tenant

TERMINAL = ("ready", "failed")


async def upload_file(
    tenant: Tenant, name: str, data: bytes, content_type: str = "application/octet-stream"
) -> httpx.Response:
    return await tenant.client.post("/v1/documents", files={"file": (name, data, content_type)})


async def wait_done(tenant: Tenant, document_id: str, timeout_s: float = 240) -> dict:
    """Poll the document until it is ready or failed; returns its last state (progress never goes back)."""
    seen_done = 0
    for _ in range(int(timeout_s * 4)):
        body = (await tenant.client.get(f"/v1/documents/{document_id}")).json()
        assert body["progress"]["chunks_done"] >= seen_done or body["status"] == "parsing", body
        seen_done = body["progress"]["chunks_done"]
        if body["status"] in TERMINAL:
            return body
        await asyncio.sleep(0.25)
    raise AssertionError(f"document {document_id} still {body['status']} after {timeout_s} s")


async def ingest(tenant: Tenant, **json: object) -> dict:
    response = await tenant.client.post("/v1/documents", json=json)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return await wait_done(tenant, response.json()["id"])


async def search(tenant: Tenant, query: str, top_k: int = 5, **extra: object) -> list[dict]:
    response = await tenant.client.post("/v1/search", json={"query": query, "top_k": top_k, **extra})
    assert response.status_code == 200, response.text
    return response.json()["results"]
