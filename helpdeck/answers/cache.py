"""Response cache in Redis: exact hits on the normalised question and semantic hits on
embedding similarity, keyed by company, knowledge-base version and reply language, only for
answers with nothing user-specific in them; hit and miss counters per company.

Keys (all expire): `answers:{company}:{kb}:{lang}:exact:{hash}` (the answer as JSON),
`answers:{company}:{kb}:{lang}:vectors` (a capped list of recent question vectors and hashes),
`answers:{company}:stats` (counters).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from helpdeck.providers.embeddings import Embedder

CACHE_TTL_S = 24 * 3600
SEMANTIC_THRESHOLD = 0.95  # cosine; e5 puts paraphrases ~0.93-0.97, different asks below ~0.9
MAX_VECTORS = 500  # per company, knowledge-base version and language

_PERSONAL = re.compile(
    r"\S+@\S+\.\w+"  # e-mail addresses
    r"|\+?\d[\d ()-]{6,}\d"  # phone numbers
    r"|\b[A-Z]{0,3}\d{4,}[A-Z0-9-]*\b"  # order, ticket, tracking numbers
    r"|\b(my|mine|mein\w*|meine\w*|mon|ma|mes|mio|mia|miei|mie)\s+(order|account|invoice|subscription|package|"
    r"parcel|bestellung|konto|rechnung|abo\w*|paket|commande|compte|facture|abonnement|colis|ordine|account|"
    r"fattura|abbonamento|pacco)\b|我的(订单|账户|账号|发票|包裹|订阅)",
    re.IGNORECASE,
)


def has_personal_content(*texts: str) -> bool:
    """True when a question or answer mentions something about one user (ids, contacts, "my order")."""
    return any(_PERSONAL.search(t or "") for t in texts)


def cache_refusal(question: str, query: str, intent: str | None, company_settings: dict[str, Any]) -> str | None:
    """Why this turn's answer may not come from or go to the shared cache, or None when it may.

    Only standalone knowledge questions: not chitchat, complaints, actions or hand-offs (their
    answers depend on the person or the moment); not a follow-up rewritten from the history (its
    answer depends on the conversation); nothing personal (ids, contacts, "my order").
    """
    if company_settings.get("response_cache") is False:
        return "disabled by the company"
    if intent != "question":
        return f"intent {intent or 'unknown'}"
    if normalise_question(query) != normalise_question(question):
        return "follow-up rewritten from the history"
    if has_personal_content(question):
        return "personal content"
    return None


def normalise_question(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in folded)
    return " ".join(kept.split())


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    citations: list[dict] = field(default_factory=list)
    kind: str = "exact"  # "exact" or "semantic" on a hit
    similarity: float = 1.0


def _prefix(company_id: str, kb_version: str, language: str) -> str:
    return f"answers:{company_id}:{kb_version}:{language}"


def stats_key(company_id: str) -> str:
    return f"answers:{company_id}:stats"


class ResponseCache:
    def __init__(self, redis: Any, embedder: Embedder | None = None, threshold: float = SEMANTIC_THRESHOLD) -> None:
        self.redis = redis
        self.embedder = embedder
        self.threshold = threshold

    async def get(
        self,
        company_id: str,
        kb_version: str,
        language: str,
        question: str,
        *,
        vector: Any = None,
        threshold: float | None = None,
        count: bool = True,
    ) -> CachedAnswer | None:
        """The cached answer to this question or one close enough (`vector`: the question's
        embedding when the caller has it; `count` False: a fallback look-up, left out of stats)."""
        prefix = _prefix(company_id, kb_version, language)
        digest = hashlib.sha256(normalise_question(question).encode()).hexdigest()[:24]
        raw = await self.redis.get(f"{prefix}:exact:{digest}")
        if raw:
            if count:
                await self._count(company_id, "exact_hits")
            return CachedAnswer(**{**json.loads(raw), "kind": "exact", "similarity": 1.0})
        hit = None
        if self.embedder is not None or vector is not None:
            hit = await self._semantic(prefix, question, vector, self.threshold if threshold is None else threshold)
        if count:
            await self._count(company_id, "semantic_hits" if hit else "misses")
        return hit

    async def put(
        self,
        company_id: str,
        kb_version: str,
        language: str,
        question: str,
        text: str,
        citations: list[dict],
        *,
        vector: Any = None,
    ) -> bool:
        """Store an answer; False (and nothing stored) when it is about one user."""
        if has_personal_content(question, text):
            await self._count(company_id, "skipped_personal")
            return False
        prefix = _prefix(company_id, kb_version, language)
        digest = hashlib.sha256(normalise_question(question).encode()).hexdigest()[:24]
        payload = json.dumps(asdict(CachedAnswer(text, citations)), ensure_ascii=False)
        await self.redis.set(f"{prefix}:exact:{digest}", payload, ex=CACHE_TTL_S)
        if vector is None and self.embedder is not None:
            vector = await self.embedder.embed_query(question)
        if vector is not None:
            vector = np.asarray(vector, dtype=np.float16)
            entry = json.dumps({"h": digest, "v": base64.b64encode(vector.tobytes()).decode()})
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lpush(f"{prefix}:vectors", entry)
                pipe.ltrim(f"{prefix}:vectors", 0, MAX_VECTORS - 1)
                pipe.expire(f"{prefix}:vectors", CACHE_TTL_S)
                await pipe.execute()
        await self._count(company_id, "stores")
        return True

    async def _semantic(self, prefix: str, question: str, vector: Any, threshold: float) -> CachedAnswer | None:
        entries = await self.redis.lrange(f"{prefix}:vectors", 0, MAX_VECTORS - 1)
        if not entries:
            return None
        if vector is None:
            if self.embedder is None:
                return None
            vector = await self.embedder.embed_query(question)
        query = np.asarray(vector, dtype=np.float32)
        parsed = [json.loads(e) for e in entries]
        rows = [np.frombuffer(base64.b64decode(p["v"]), dtype=np.float16) for p in parsed]
        keep = [i for i, row in enumerate(rows) if row.shape == query.shape]  # another embedder's
        if not keep:
            return None
        similarities = np.stack([rows[i] for i in keep]).astype(np.float32) @ query
        best_at = int(np.argmax(similarities))
        similarity = float(similarities[best_at])
        if similarity < threshold:
            return None
        raw = await self.redis.get(f"{prefix}:exact:{parsed[keep[best_at]]['h']}")
        if not raw:
            return None
        return CachedAnswer(**{**json.loads(raw), "kind": "semantic", "similarity": similarity})

    async def _count(self, company_id: str, counter: str) -> None:
        await self.redis.hincrby(stats_key(company_id), counter, 1)

    async def stats(self, company_id: str) -> dict[str, float]:
        raw = {k: int(v) for k, v in (await self.redis.hgetall(stats_key(company_id))).items()}
        hits = raw.get("exact_hits", 0) + raw.get("semantic_hits", 0)
        lookups = hits + raw.get("misses", 0)
        return {**raw, "hit_rate": round(hits / lookups, 4) if lookups else 0.0}
