"""The seam between a turn and the company's knowledge: find passages, and fetch them by id.

The turn passes chunk ids between activities (never passage text through Temporal history),
so the generating activity fetches the passages again by id.
"""

from __future__ import annotations

from typing import Protocol

from helpdeck.providers.chat import Passage


class Retriever(Protocol):
    async def retrieve(self, company_id: str, query: str, top_k: int) -> list[Passage]: ...

    async def passages(self, company_id: str, chunk_ids: list[str]) -> list[Passage]: ...


class EmptyKnowledge:
    """A company with no knowledge base yet: nothing to retrieve, nothing to cite."""

    async def retrieve(self, company_id: str, query: str, top_k: int) -> list[Passage]:
        return []

    async def passages(self, company_id: str, chunk_ids: list[str]) -> list[Passage]:
        return []
