"""Request and response bodies of the action routes. Header values go in, never come back out:
answers show them masked (`****` and at most the last four characters)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import Strict

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class ActionCreate(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="A slug, unique in the company: order_status")
    description: str = Field("", max_length=1000, description="What it does, in the customers' words: the bot "
                             "matches messages against the name and this")
    url: str = Field(
        min_length=1, max_length=2048,
        description="https URL; {placeholders} in its path or query are filled from the parameters",
    )
    method: Method = "GET"
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (type object) of what the bot extracts from the message; "
        "arguments not in the URL go in the query (GET, DELETE) or the JSON body",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every call; stored encrypted")


class ActionUpdate(Strict):
    name: str | None = Field(None, pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, min_length=1, max_length=2048)
    method: Method | None = None
    parameters: dict[str, Any] | None = None
    headers: dict[str, str] | None = Field(None, description="Replaces every header; {} removes them")


class ActionOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    url: str
    method: str
    parameters: dict[str, Any]
    headers: dict[str, str] = Field(description="Header names with masked values")
    created_at: datetime
    updated_at: datetime


class ActionPage(BaseModel):
    items: list[ActionOut]
    next_cursor: str | None
