"""The chat-model seam: one protocol, several providers (OpenAI-compatible, offline).

Everything a provider needs travels in a `ChatRequest`; everything the turn records comes back
in a `ChatResult`. Streaming is a callback so the caller decides where deltas go (a Redis
stream for the SSE relay) and the provider never knows about transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of knowledge the answer may cite."""

    chunk_id: str
    document_id: str
    text: str
    source: str = ""
    page: int | None = None
    section: str | None = None
    score: float = 0.0


@dataclass(frozen=True)
class ChatRequest:
    """A fully assembled prompt plus the raw parts offline composers work from."""

    messages: list[ChatMessage]
    model: str | None = None
    max_tokens: int = 512
    temperature: float = 0.2
    # The raw question and passages, so a provider without a language model (the offline
    # composer) can answer from them instead of from the prompt text.
    question: str = ""
    passages: list[Passage] = field(default_factory=list)
    company_name: str = ""


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # finish_reason as the provider gave it ("stop", "length", ...), "offline" for composers.
    finish_reason: str = "stop"
    # Chunk ids the answer quotes, when the provider knows (the composer does); None otherwise.
    cited_chunk_ids: list[str] | None = None
    # True when the provider declined to answer from the passages ("I don't know").
    abstained: bool = False


# Called with each text delta as it arrives; awaited so back-pressure reaches the provider.
DeltaCallback = Callable[[str], Awaitable[None]]


class ChatModelError(Exception):
    """A provider failed in a way worth retrying or falling back from."""


class ChatModelRejected(ChatModelError):
    """The provider answered but the answer is unusable (garbage, empty, refused auth)."""


class ChatRequestRefused(ChatModelRejected):
    """The provider refused this request (unknown model, bad parameters, context too long): a
    fault of what was asked, such as one company's model setting, not of the provider's health."""


class ChatModel(Protocol):
    """A source of replies. Implementations must be safe to call concurrently."""

    name: str

    async def complete(
        self, request: ChatRequest, on_delta: DeltaCallback | None = None
    ) -> ChatResult: ...
