"""Warm-up of a worker's knowledge pipeline: unstructured's first import costs ~9 s, paid in the
background at start instead of by the first document."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def _preload() -> None:
    try:
        from ingestion.parse import preload

        preload()
    except Exception as exc:  # noqa: BLE001 - parsing then fails per document with its reason
        log.warning("document parsers could not be preloaded: %s", exc)


def preload_parsers_in_background() -> threading.Thread:
    thread = threading.Thread(target=_preload, name="preload-parsers", daemon=True)
    thread.start()
    return thread
