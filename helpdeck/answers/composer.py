"""The offline extractive composer: answers from the best passages with citations, framed in the
customer's language, or says "I don't know" and offers a person when no passage supports an
answer. It quotes and never writes facts of its own.

Support of a passage for a question: its retrieval score (the index's fused score, ~ the cosine
of multilingual-e5) above a bar that is higher when question and passage share a language, or a
slightly lower score plus most of the question's words. The bars were read off the score
distributions of `eval/answers/questions.tsv` (both halves), so its figures are optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helpdeck.answers.injection import clean_passage_text
from helpdeck.answers.phrasing import frame, owner
from helpdeck.providers.chat import ChatRequest, ChatResult, DeltaCallback, Passage
from helpdeck.providers.offline_chat import (
    best_sentence_run,
    content_words,
    small_talk_reply,
    source_label,
    stream_pieces,
)
from helpdeck.understanding.language import DEFAULT_LANGUAGES, LanguageDetector, reply_language

# e5 cosines of a question and its passage sit higher when both share a language, so the bar
# depends on whether they do (set from the score distributions in eval/answers.py).
SAME_LANGUAGE_SCORE = 0.885  # alone enough when question and passage share a language
SAME_LANGUAGE_WITH_WORDS = (0.86, 0.75)  # or: this score and this share of the question's words
CROSS_LANGUAGE_SCORE = 0.855  # question and passage in different languages
MAX_QUOTES = 2
QUOTE_BUDGET_CHARS = 600
SECOND_QUOTE_MIN_SUPPORT_RATIO = 0.8  # the second passage must be nearly as well supported


@dataclass(frozen=True)
class ComposedAnswer:
    text: str
    language: str
    abstained: bool
    support: float
    citations: list[dict] = field(default_factory=list)  # only the passages quoted
    dropped_injections: int = 0


def coverage(question: str, passage_text: str) -> float:
    words = content_words(question)
    return len(words & content_words(passage_text)) / len(words) if words else 0.0


def support(question: str, passage: Passage, text: str, language: str) -> float:
    """The passage's retrieval score when it clears the bar for this question, else 0."""
    passage_language = LanguageDetector.for_languages(DEFAULT_LANGUAGES + (language,)).detect(text[:400]).language
    if passage_language != language:
        return passage.score if passage.score >= CROSS_LANGUAGE_SCORE else 0.0
    min_score, min_words = SAME_LANGUAGE_WITH_WORDS
    if passage.score >= SAME_LANGUAGE_SCORE or (passage.score >= min_score and coverage(question, text) >= min_words):
        return passage.score
    return 0.0


def is_supported(value: float) -> bool:
    return value > 0.0


def citation(passage: Passage) -> dict:
    return {
        "chunk_id": passage.chunk_id,
        "document_id": passage.document_id,
        "source": passage.source,
        "page": passage.page,
        "section": passage.section,
    }


def compose_answer(
    question: str, passages: list[Passage], language: str = "en", company_name: str = ""
) -> ComposedAnswer:
    """Quote up to two supporting passages with numbered citations, or abstain honestly."""
    words = frame(language)
    cleaned = []
    dropped = 0
    for passage in passages:
        text, removed = clean_passage_text(passage.text)
        dropped += removed
        if text.strip():
            cleaned.append((passage, text, support(question, passage, text, language)))
    supported = [item for item in cleaned if is_supported(item[2])]
    supported.sort(key=lambda item: -item[0].score)  # the retriever's order among supported ones
    if not supported:
        best = cleaned[0][2] if cleaned else 0.0
        unknown = words["unknown"].format(owner=owner(language, company_name))
        return ComposedAnswer(unknown, language, True, best, [], dropped)
    # A second quote only from the same part of the same document: another document, or
    # another entry of an FAQ (its own section), is another answer.
    first = supported[0][0]
    chosen = supported[:1] + [
        item
        for item in supported[1:MAX_QUOTES]
        if item[0].document_id == first.document_id
        and item[0].section == first.section
        and item[2] >= supported[0][2] * SECOND_QUOTE_MIN_SUPPORT_RATIO
    ]
    question_words = content_words(question)
    lines = [words["intro"].format(owner=owner(language, company_name))]
    citations, remaining = [], QUOTE_BUDGET_CHARS
    for passage, text, _ in chosen:
        budget = remaining if len(chosen) == 1 or citations else int(QUOTE_BUDGET_CHARS * 2 / 3)
        quote = best_sentence_run(text, question_words, budget, allow_cut=not citations)
        if not quote:
            continue
        citations.append(citation(passage))
        remaining -= len(quote)
        label = source_label(passage)
        number = len(citations)
        lines.append(f"> {quote} [{number}]" + (f"\n[{number}] {words['source']}: {label}" if label else ""))
    lines.append(words["more"])
    return ComposedAnswer("\n\n".join(lines), language, False, chosen[0][2], citations, dropped)


class ComposerChatModel:
    """`ChatModel` face of the composer (the offline slot): small talk, quotes or "I don't know"."""

    name = "offline"
    model = "offline-extractive-v2"

    def __init__(self, languages: tuple[str, ...] | None = None) -> None:
        self.languages = languages

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResult:
        text = small_talk_reply(request.question)
        cited: list[str] = []
        abstained = False
        if text is None:
            language = reply_language(request.question, self.languages).language
            answer = compose_answer(request.question, request.passages, language, request.company_name)
            text, abstained = answer.text, answer.abstained
            cited = [str(c["chunk_id"]) for c in answer.citations if c.get("chunk_id")]
        if on_delta is not None:
            for piece in stream_pieces(text):
                await on_delta(piece)
        source_chars = len(request.question) + sum(len(p.text) for p in request.passages)
        return ChatResult(
            text, self.model, self.name, source_chars // 4, len(text) // 4, "offline",
            cited_chunk_ids=cited, abstained=abstained,
        )  # fmt: skip
