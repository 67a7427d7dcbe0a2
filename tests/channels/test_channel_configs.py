"""Channel configuration per company: secrets stored encrypted and never shown, and one
company's key or signature never reaches another company's channel."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlmodel import select

from helpdeck.tables import ChannelConfig
from tests.channels.conftest import recorded
from tests.channels.standins import DiscordSigner, slack_headers
from tests.conftest import Api, Tenant

SLACK = {"signing_secret": "a-signing-secret-a", "bot_token": "xoxb-company-a-token"}


async def test_slack_config_round_trip_never_shows_secrets(api: Api, tenant: Tenant) -> None:
    put = await tenant.client.put("/v1/channels/slack", json={**SLACK, "api_base_url": "http://127.0.0.1:9/api/"})
    assert put.status_code == 200, put.text
    got = await tenant.client.get("/v1/channels/slack")
    assert got.status_code == 200
    body = got.json()
    assert body["settings"] == {"api_base_url": "http://127.0.0.1:9/api"} and body["has_bot_token"] is True
    assert body["endpoints"]["events"] == f"/channels/slack/{tenant.id}/events"
    assert SLACK["signing_secret"] not in got.text and SLACK["bot_token"] not in got.text
    async with api.runtime.db.session() as session:
        row = (await session.exec(select(ChannelConfig).where(ChannelConfig.company_id == uuid.UUID(tenant.id)))).one()
    # Encrypted at rest: the row holds a Fernet token, not the secrets.
    assert SLACK["bot_token"] not in row.secrets_sealed and row.secrets_sealed.startswith("gAAAA")
    assert (await tenant.client.delete("/v1/channels/slack")).status_code == 204
    assert (await tenant.client.get("/v1/channels/slack")).status_code == 404
    assert (await tenant.client.delete("/v1/channels/slack")).status_code == 404


async def test_the_secret_key_was_generated_into_the_data_dir(api: Api) -> None:
    key_file = api.settings.data_path / "secret_key"
    assert key_file.read_text().strip() == api.settings.secret_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


async def test_bad_configs_are_422(tenant: Tenant) -> None:
    bad = [
        ("/v1/channels/slack", {"signing_secret": "short", "bot_token": "xoxb-1234567"}),
        ("/v1/channels/slack", {**SLACK, "api_base_url": "ftp://example"}),
        ("/v1/channels/slack", {**SLACK, "surprise": 1}),
        ("/v1/channels/discord", {"application_id": "abc", "public_key": "00" * 32}),
    ]
    for path, body in bad:
        response = await tenant.client.put(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
    assert (await tenant.client.get("/v1/channels/slack")).status_code == 404


async def test_other_company_cannot_see_change_or_use_a_channel(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    await tenant.client.put("/v1/channels/slack", json=SLACK)
    signer = DiscordSigner()
    await tenant.client.put("/v1/channels/discord", json={"application_id": "1", "public_key": signer.public_key})
    for platform in ("slack", "discord"):
        assert (await other_tenant.client.get(f"/v1/channels/{platform}")).status_code == 404
        assert (await other_tenant.client.delete(f"/v1/channels/{platform}")).status_code == 404
        assert (await tenant.client.get(f"/v1/channels/{platform}")).status_code == 200
    # B configures its own Slack app and signs with its own secret: A's endpoint refuses it.
    await other_tenant.client.put("/v1/channels/slack", json={**SLACK, "signing_secret": "b-signing-secret-b"})
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    async with httpx.AsyncClient(base_url=api.url) as client:
        on_a = await client.post(f"/channels/slack/{tenant.id}/events", content=body,
                                 headers=slack_headers("b-signing-secret-b", body))  # fmt: skip
        assert on_a.status_code == 401
        on_b = await client.post(f"/channels/slack/{other_tenant.id}/events", content=body,
                                 headers=slack_headers("b-signing-secret-b", body))  # fmt: skip
        assert on_b.status_code == 200
        ping = json.dumps({"type": 1}).encode()
        other_signer = DiscordSigner()
        refused = await client.post(f"/channels/discord/{tenant.id}/interactions", content=ping,
                                    headers=other_signer.headers(ping))  # fmt: skip
        assert refused.status_code == 401
        unconfigured = await client.post(f"/channels/discord/{other_tenant.id}/interactions", content=ping,
                                         headers=other_signer.headers(ping))  # fmt: skip
        assert unconfigured.status_code == 404
    assert (await recorded(api, tenant.id))["conversations"] == 0
    assert (await tenant.client.get("/v1/channels/slack")).status_code == 200
