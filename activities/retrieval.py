"""Activities that search the company's knowledge. They return chunk ids, never passages."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import activity

from helpdeck.knowledge import Retriever


@dataclass
class RetrieveInput:
    company_id: str
    query: str
    top_k: int = 5


@dataclass
class RetrievedPassages:
    chunk_ids: list[str] = field(default_factory=list)
    top_score: float = 0.0
    # Each chunk's retrieval score, in chunk_ids' order: the offline composer's support bar
    # reads them (a passage re-read by id has no score of its own).
    scores: list[float] = field(default_factory=list)


class RetrievalActivities:
    def __init__(self, knowledge: Retriever) -> None:
        self.knowledge = knowledge

    @activity.defn
    async def retrieve_passages(self, params: RetrieveInput) -> RetrievedPassages:
        passages = await self.knowledge.retrieve(params.company_id, params.query, params.top_k)
        return RetrievedPassages(
            chunk_ids=[p.chunk_id for p in passages],
            top_score=max((p.score for p in passages), default=0.0),
            scores=[round(p.score, 6) for p in passages],
        )
