"""Helpers shared by the action tests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import Api

ORDER_PARAMETERS = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^[0-9]{5}$", "description": "order number"}},
    "required": ["order_id"],
}


def order_status(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "order_status",
        "description": "Where an order is: its delivery status, carrier and tracking",
        "url": url,
        "method": "GET",
        "parameters": ORDER_PARAMETERS,
        **extra,
    }


@asynccontextmanager
async def strict_client(api: Api, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API as production runs it, `allow_private_urls` off (same database, same company).
    The session's stack allows private URLs because its stand-in servers live on 127.0.0.1."""
    from api.app import create_app

    strict = api.settings.model_copy(update={"allow_private_urls": False})
    app = create_app(strict)
    app.state.runtime = dataclasses.replace(api.runtime, settings=strict)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://strict", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


async def owned_action(tenant) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An action of `tenant`, for the isolation matrix (nothing listens on its URL)."""
    made = await tenant.client.post("/v1/actions", json=order_status("http://127.0.0.1:9/orders/{order_id}"))
    assert made.status_code == 201, made.text
    return {"action": made.json()["id"]}
