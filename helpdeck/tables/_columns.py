"""Column helpers shared by the table modules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def json_column(nullable: bool = False) -> Any:
    return Column(JSONB, nullable=nullable, server_default="{}" if not nullable else None)


def json_list_column() -> Any:
    return Column(JSONB, nullable=False, server_default="[]")


def timestamp_column(nullable: bool = False, index: bool = False) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)
