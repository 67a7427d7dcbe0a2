"""Train the offline intent model on eval/intents/train.tsv and ship it as
helpdeck/understanding/intent_model.npz; then score it on the held-out eval/intents/test.tsv.

Usage: python eval/intents/train.py [--no-save]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpdeck.understanding.intents import MODEL_PATH, IntentModel, train  # noqa: E402

HERE = Path(__file__).resolve().parent


def load(name: str) -> list[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    rows = load("train.tsv")
    model = train([r["text"] for r in rows], [r["intent"] for r in rows])
    if not args.no_save:
        model.save(MODEL_PATH)
        model = IntentModel.load(MODEL_PATH)  # score what ships (float16 weights)
    test = load("test.tsv")
    correct = sum(model.classify(r["text"]).intent == r["intent"] for r in test)
    print(f"trained on {len(rows)}; held-out accuracy {correct / len(test):.3f} ({correct}/{len(test)})")


if __name__ == "__main__":
    main()
