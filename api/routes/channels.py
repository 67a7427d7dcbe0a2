"""A company's Slack and Discord apps: configure, read (never the secrets), remove."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import RuntimeDep, ServerCallerDep, SessionDep
from helpdeck.channels import store
from helpdeck.channels.crypto import SecretBox
from helpdeck.channels.signatures import valid_ed25519_public_key
from helpdeck.runtime import Runtime
from helpdeck.safe_http import check_url
from helpdeck.tables import ChannelConfig

router = APIRouter(prefix="/v1/channels", tags=["channels"])


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or len(value) > 500 or any(c.isspace() for c in value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class SlackConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signing_secret: str = Field(min_length=8, max_length=255, description="The app's Signing Secret")
    bot_token: str = Field(min_length=8, max_length=512, description="The bot's xoxb- token")
    api_base_url: str | None = Field(None, description="Slack Web API base (default https://slack.com/api/)")
    agents_channel: str | None = Field(
        None,
        pattern=r"^[A-Z0-9]{2,32}$",
        description="Channel id (C…) where new escalations are posted with a Claim button. A press is "
        "accepted from a Slack user whose email (users.info; scope users:read.email) is the email of "
        "an owner, admin or agent of the company.",
    )

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _base_url(value)


class DiscordConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    application_id: str = Field(min_length=1, max_length=25, pattern=r"^[0-9]+$")
    public_key: str = Field(min_length=64, max_length=64, description="The application's Ed25519 public key, hex")
    bot_token: str = Field("", max_length=512, description="Needed only for mentions through the gateway")
    api_base_url: str | None = Field(None, description="Discord API base (default https://discord.com/api/v10)")

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _base_url(value)

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not valid_ed25519_public_key(value):
            raise ValueError("must be the application's public key: 64 hex characters")
        return value.lower()


class ChannelConfigOut(BaseModel):
    platform: Literal["slack", "discord"]
    settings: dict[str, str] = Field(description="What may be shown: api_base_url, application_id, public_key")
    has_bot_token: bool
    endpoints: dict[str, str] = Field(description="Paths to give the platform, relative to this API's address")
    created_at: datetime
    updated_at: datetime


def _out(row: ChannelConfig, has_bot_token: bool) -> ChannelConfigOut:
    base = f"/channels/{row.platform}/{row.company_id}"
    endpoints = (
        {"events": f"{base}/events", "interactions": f"{base}/interactions"}
        if row.platform == "slack"
        else {"interactions": f"{base}/interactions"}
    )
    return ChannelConfigOut(
        platform=row.platform,  # type: ignore[arg-type]
        settings={k: str(v) for k, v in row.settings.items() if v is not None},
        has_bot_token=has_bot_token,
        endpoints=endpoints,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _checked_base(runtime: Runtime, api_base_url: str | None) -> None:
    """The webhook SSRF rule for a custom API base: https, public addresses only (422 with a
    stable `channel_url_*` code), unless HELPDECK_ALLOW_PRIVATE_URLS is on. Checked again on
    every call Helpdeck makes to it (helpdeck.channels.outbound)."""
    if api_base_url is not None:
        allow_private = runtime.settings.allow_private_urls
        await check_url(api_base_url, allow_private, code_prefix="channel_url", field="api_base_url")


async def _read(session, runtime, company_id: uuid.UUID, platform: str) -> ChannelConfigOut:  # type: ignore[no-untyped-def]
    row = await store.get_config(session, company_id, platform)
    secrets = SecretBox(runtime.settings.secret_key).open(row.secrets_sealed)
    return _out(row, bool(secrets.get("bot_token")))


@router.put("/slack", response_model=ChannelConfigOut, status_code=status.HTTP_200_OK)
async def put_slack(
    body: SlackConfigIn, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> ChannelConfigOut:
    """Configure the company's Slack app; the secrets are stored encrypted and never shown again."""
    await _checked_base(runtime, body.api_base_url)
    box = SecretBox(runtime.settings.secret_key)
    row = await store.put_config(
        session, box, caller.company_id, "slack",
        {"api_base_url": body.api_base_url, "agents_channel": body.agents_channel},
        {"signing_secret": body.signing_secret, "bot_token": body.bot_token},
    )  # fmt: skip
    return _out(row, True)


@router.put("/discord", response_model=ChannelConfigOut)
async def put_discord(
    body: DiscordConfigIn, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> ChannelConfigOut:
    """Configure the company's Discord application (interactions endpoint, optional gateway bot)."""
    await _checked_base(runtime, body.api_base_url)
    box = SecretBox(runtime.settings.secret_key)
    settings = {"application_id": body.application_id, "public_key": body.public_key, "api_base_url": body.api_base_url}
    row = await store.put_config(session, box, caller.company_id, "discord", settings, {"bot_token": body.bot_token})
    return _out(row, bool(body.bot_token))


@router.get("/slack", response_model=ChannelConfigOut)
async def get_slack(caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep) -> ChannelConfigOut:
    return await _read(session, runtime, caller.company_id, "slack")


@router.get("/discord", response_model=ChannelConfigOut)
async def get_discord(caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep) -> ChannelConfigOut:
    return await _read(session, runtime, caller.company_id, "discord")


@router.delete("/slack", status_code=status.HTTP_204_NO_CONTENT)
async def delete_slack(caller: ServerCallerDep, session: SessionDep) -> None:
    await store.delete_config(session, caller.company_id, "slack")


@router.delete("/discord", status_code=status.HTTP_204_NO_CONTENT)
async def delete_discord(caller: ServerCallerDep, session: SessionDep) -> None:
    await store.delete_config(session, caller.company_id, "discord")
