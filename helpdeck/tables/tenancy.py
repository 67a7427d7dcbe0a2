"""Companies (tenants) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import json_column, json_list_column, new_id, timestamp_column, utcnow


class Company(SQLModel, table=True):
    __tablename__ = "companies"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=255)
    tier: str = Field(default="free", max_length=50)  # free | pro | enterprise
    # Tenant preferences: instructions, model routing, limits, languages, widget look.
    settings: dict = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class ApiKey(SQLModel, table=True):
    """A secret (server) or publishable (widget) key. Only a hash of the secret part is kept."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)  # secret | publishable
    # The first characters of the key, shown in listings so people can tell keys apart.
    prefix: str = Field(max_length=32)
    key_hash: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=255)
    allowed_origins: list = Field(default_factory=list, sa_column=json_list_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    expires_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
