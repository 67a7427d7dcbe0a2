"""Twenty agents claim the same escalation at the same instant: exactly one wins, every time,
and every other agent hears 409 already_claimed. The workflow's update validator decides."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import Api, Tenant, new_conversation
from tests.escalations.support import escalate, make_agent

AGENTS = 20
ROUNDS = 5


async def _claim_when(start: asyncio.Event, client: httpx.AsyncClient, url: str) -> httpx.Response:
    await start.wait()
    return await client.post(url)


async def test_twenty_agents_claiming_at_once_yield_exactly_one_winner_every_round(api: Api, tenant: Tenant) -> None:
    agents = await asyncio.gather(*(make_agent(api, tenant) for _ in range(AGENTS)))
    for _ in range(ROUNDS):
        escalation = await escalate(tenant, await new_conversation(tenant))
        url = f"/v1/escalations/{escalation['id']}/claim"
        start = asyncio.Event()

        tasks = [asyncio.create_task(_claim_when(start, a.client, url)) for a in agents]
        await asyncio.sleep(0.05)
        start.set()
        responses = await asyncio.gather(*tasks)
        winners = [i for i, r in enumerate(responses) if r.status_code == 200]
        losers = [r for r in responses if r.status_code != 200]
        assert len(winners) == 1, [r.status_code for r in responses]
        assert all(r.status_code == 409 and r.json()["code"] == "already_claimed" for r in losers)
        stored = (await tenant.client.get(f"/v1/escalations/{escalation['id']}")).json()
        assert stored["claimed_by"] == agents[winners[0]].id
    for agent in agents:
        await agent.client.aclose()
