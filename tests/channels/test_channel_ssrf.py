"""SSRF on a channel's `api_base_url`: the webhook rule (helpdeck.safe_http) applies when a
company configures Slack or Discord and again on every call Helpdeck makes to the platform.

The session's stack allows private URLs (the stand-ins for Slack's and Discord's APIs live on
127.0.0.1); these tests use a copy of the settings with `allow_private_urls` off, as production
runs, and check that the local stand-ins (tests.channels.standins) receive nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from helpdeck.channels import outbound
from helpdeck.safe_http import pinned_aiohttp_session
from tests.channels.standins import DiscordSigner, DiscordStandIn, SlackStandIn
from tests.conftest import Api, Tenant

SLACK = {"signing_secret": "a-signing-secret-a", "bot_token": "xoxb-test-token"}
REFUSED = [
    ("https://127.0.0.1/api/", "channel_url_forbidden"),
    ("https://localhost/api/", "channel_url_forbidden"),  # a name that resolves to loopback
    ("https://169.254.169.254/latest/", "channel_url_forbidden"),
    ("https://10.0.0.7/api/", "channel_url_forbidden"),
    ("https://[::1]/api/", "channel_url_forbidden"),
    ("http://203.0.113.10/api/", "channel_url_not_https"),
    ("https://no-such-host.invalid/api/", "channel_url_unresolvable"),
]


@pytest.fixture
async def strict_client(api: Api, tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    """The API as production runs it: `allow_private_urls` off (same database, same company)."""
    from api.app import create_app

    strict = api.settings.model_copy(update={"allow_private_urls": False})
    app = create_app(strict)
    app.state.runtime = dataclasses.replace(api.runtime, settings=strict)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://strict",
        headers={"Authorization": f"Bearer {tenant.key}"},
    ) as client:
        yield client


@pytest.mark.parametrize(("url", "code"), REFUSED)
async def test_configuring_a_private_api_base_is_refused_with_a_stable_code_and_stores_nothing(
    strict_client: httpx.AsyncClient, url: str, code: str
) -> None:
    signer = DiscordSigner()
    for path, body in (
        ("/v1/channels/slack", {**SLACK, "api_base_url": url}),
        ("/v1/channels/discord", {"application_id": "1", "public_key": signer.public_key, "api_base_url": url}),
    ):
        response = await strict_client.put(path, json=body)
        assert response.status_code == 422, (path, url, response.text)
        problem = response.json()
        assert problem["code"] == code, problem
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await strict_client.get(path)).status_code == 404


async def test_development_mode_accepts_a_local_stand_in(tenant: Tenant, slack_api: SlackStandIn) -> None:
    response = await tenant.client.put("/v1/channels/slack", json={**SLACK, "api_base_url": slack_api.api_base_url})
    assert response.status_code == 200, response.text


async def test_every_outbound_call_checks_the_base_again_and_never_reaches_a_private_address(
    slack_api: SlackStandIn, discord_api: DiscordStandIn
) -> None:
    """A base that was accepted earlier (development mode, or a name since rebound to a private
    address) is refused at call time, before any connection: the stand-ins see nothing."""
    local_name = slack_api.api_base_url.replace("127.0.0.1", "localhost")
    for base in (slack_api.api_base_url, local_name):
        with pytest.raises(outbound.ChannelRejected, match="refused"):
            await outbound.post_slack_reply("xoxb-test-token", base, "C1", "1.0", "hi", "turn-1", allow_private=False)
        with pytest.raises(outbound.ChannelRejected, match="refused"):
            await outbound.slack_user_email("xoxb-test-token", base, "U1", allow_private=False)
    for base in (discord_api.base_url, discord_api.base_url.replace("127.0.0.1", "localhost")):
        with pytest.raises(outbound.ChannelRejected, match="refused"):
            await outbound.post_discord_message(base, "bot", "1", "2", "hi", allow_private=False)
        with pytest.raises(outbound.ChannelRejected, match="refused"):
            await outbound.edit_discord_original(base, "1", "token", "hi", allow_private=False)
    assert slack_api.calls == [] and discord_api.calls == []
    # The same calls in development mode reach the stand-ins.
    await outbound.post_slack_reply("xoxb-test-token", slack_api.api_base_url, "C1", "1.0", "hi", "t", True)
    await outbound.post_discord_message(discord_api.base_url, "bot", "1", "2", "hi", allow_private=True)
    assert len(slack_api.posts()) == 1 and len(discord_api.calls) == 1


async def test_the_slack_sdk_session_connects_only_to_checked_addresses(slack_api: SlackStandIn) -> None:
    """The second layer, for a name rebound after the check: aiohttp asks our resolver, which
    refuses loopback, so no connection is made even when the URL was not checked first."""
    async with pinned_aiohttp_session(allow_private=False) as session:
        with pytest.raises(aiohttp.ClientError):
            await session.post(slack_api.api_base_url.replace("127.0.0.1", "localhost") + "chat.postMessage")
    assert slack_api.calls == []
