"""All configuration, read once from the environment (`HELPDECK_*`) and `.env`, then passed down.

Hosted-provider credentials keep their providers' own variable names (`OPENAI_API_KEY`,
`OPENAI_BASE_URL`) so an existing OpenAI, Azure, vLLM, Ollama or LiteLLM setup works as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Tier = Literal["free", "pro", "enterprise"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HELPDECK_",
        env_file=".env",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    # Where the embedded stack keeps its files (PostgreSQL cluster, Temporal SQLite, Redis dump).
    data_dir: Path = Path(".helpdeck")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    # Outside services; empty means "start the embedded one under data_dir".
    database_url: str = Field("", validation_alias=AliasChoices("HELPDECK_DATABASE_URL", "DATABASE_URL"))
    redis_url: str = Field("", validation_alias=AliasChoices("HELPDECK_REDIS_URL", "REDIS_URL"))
    temporal_address: str = Field(
        "", validation_alias=AliasChoices("HELPDECK_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = "default"
    task_queue: str = "helpdeck"
    # Ports of the embedded servers (the dev server's gRPC frontend and its Web UI, Redis).
    temporal_port: int = Field(7233, ge=1, le=65535)
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    redis_port: int = Field(6390, ge=1, le=65535)

    # Platform administrator; generated once into data_dir when unset.
    admin_token: str = ""

    # Model gateway. OpenAI-compatible primary and backup; offline composer when no key is set.
    openai_api_key: str = Field("", validation_alias=AliasChoices("OPENAI_API_KEY", "HELPDECK_OPENAI_API_KEY"))
    openai_base_url: str = Field(
        "", validation_alias=AliasChoices("OPENAI_BASE_URL", "HELPDECK_OPENAI_BASE_URL")
    )
    chat_model: str = "gpt-4o-mini"
    backup_api_key: str = ""
    backup_base_url: str = ""
    backup_chat_model: str = ""
    model_timeout_s: float = Field(20.0, gt=0)

    # Conversation memory: last N messages verbatim plus a rolling summary of older ones.
    context_messages: int = Field(10, ge=1, le=100)
    summary_every: int = Field(10, ge=2, le=200)

    # Request limits.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    max_message_chars: int = Field(4000, ge=1, le=32000)

    # Rate limits: messages per end user per day by tier, plus a token bucket per end user.
    daily_messages_free: int = Field(100, ge=1)
    daily_messages_pro: int = Field(1000, ge=1)
    daily_messages_enterprise: int = Field(10000, ge=1)
    burst_capacity: int = Field(10, ge=1)
    burst_refill_per_s: float = Field(1.0, gt=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    @field_validator("openai_base_url", "backup_base_url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_driver(cls, value: str) -> str:
        # SQLModel talks psycopg 3; accept the plain scheme people paste and say which driver.
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        if value and not value.startswith("postgresql+psycopg://"):
            raise ValueError("must be a PostgreSQL URL (postgresql://user:pass@host/db)")
        return value

    @model_validator(mode="after")
    def _backup_complete(self) -> Settings:
        if self.backup_base_url and not self.backup_chat_model:
            raise ValueError("HELPDECK_BACKUP_CHAT_MODEL is required when HELPDECK_BACKUP_BASE_URL is set")
        return self

    def daily_message_limit(self, tier: str, company_settings: dict | None = None) -> int:
        """Per end user per day; enterprise companies may carry their own figure in settings."""
        if tier == "enterprise":
            custom = (company_settings or {}).get("daily_messages_per_user")
            return int(custom) if custom else self.daily_messages_enterprise
        return self.daily_messages_pro if tier == "pro" else self.daily_messages_free

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()
