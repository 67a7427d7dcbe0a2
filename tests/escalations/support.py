"""Helpers for the queue tests: company users signed in with their own HTTP clients."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from tests.conftest import Api, Tenant

PASSWORD = "correct horse battery staple"


@dataclass
class Agent:
    id: str
    email: str
    role: str
    token: str
    client: httpx.AsyncClient


async def make_agent(api: Api, tenant: Tenant, role: str = "agent", name: str | None = None) -> Agent:
    """A user of the tenant's company, created with its secret key and signed in."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    created = await tenant.client.post(
        "/v1/users",
        json={"email": email, "name": name or f"{role.title()} {email[:8]}", "role": role, "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    login = await tenant.client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    client = httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return Agent(created.json()["id"], email, role, token, client)


async def escalate(tenant: Tenant, conversation: str, **body: object) -> dict:
    response = await tenant.client.post(f"/v1/conversations/{conversation}/escalate", json=body or None)
    assert response.status_code in (200, 201), response.text
    return response.json()
