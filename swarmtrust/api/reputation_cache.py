"""Answers to ``GET /reputation?model=M``, kept until the model's reputations change or a second has passed.

A model's page describes every checked server (hundreds of Beta quantiles and a response of tens of KiB),
and clients ask for it before routing, all the time. Reputations change only through outcomes and
administrators' actions (not through the stream of receipts), so a page is valid while its version
(``ledger.reputation_queries.model_version``) is the one it was computed at; the long horizon's decay between
events is lazy, and over ``max_age_ms`` it moves trust by far less than its printed precision (half-lives are
days). Each request still reads the version, so a new outcome or quarantine shows at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedPage:
    version: Hashable
    computed_ms: int
    body: bytes


class ModelPageCache:
    def __init__(self, max_age_ms: int = 1_000, max_models: int = 64) -> None:
        self.max_age_ms = max_age_ms
        self.max_models = max_models
        self._pages: OrderedDict[str, CachedPage] = OrderedDict()
        self._lock = threading.Lock()  # handlers run in a thread pool

    def get(self, model: str, version: Hashable, now_ms: int) -> bytes | None:
        with self._lock:
            page = self._pages.get(model)
            if page is None or page.version != version or not 0 <= now_ms - page.computed_ms < self.max_age_ms:
                return None
            self._pages.move_to_end(model)
            return page.body

    def put(self, model: str, version: Hashable, now_ms: int, body: bytes) -> None:
        with self._lock:
            self._pages[model] = CachedPage(version, now_ms, body)
            self._pages.move_to_end(model)
            while len(self._pages) > self.max_models:  # the least recently asked for goes first
                self._pages.popitem(last=False)
