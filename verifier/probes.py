"""Mystery shoppers: a verifier's own sessions through the ordinary client, challenged like any other.

Each probe generates from a realistic prompt (bytes of ordinary text, through the model's real token
embeddings) under a fresh client key, with every session kept as evidence and challenged at the ledger.
To a server, a probe looks like any client; a server that cheats only on traffic it guesses is not
checked therefore gains nothing.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import nacl.signing

from node.client.swarm import SwarmClient
from node.model.source import ModelSource

log = logging.getLogger(__name__)

_PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time, in a village by the sea,",
    "def fibonacci(n):\n    return n if n < 2 else",
    "The capital of France is",
    "Translate to German: good morning, how are you?",
    "In 1969 the first humans landed on the",
)


class Prober:
    def __init__(self, client: SwarmClient, source: ModelSource, *, interval: float, max_new_tokens: int = 16) -> None:
        self.client = client
        self.source = source
        self.interval = interval  # mean seconds between probes (exponentially distributed, so not predictable)
        self.max_new_tokens = max_new_tokens
        self.probes = 0
        self._random = random.Random()
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(source.directory), local_files_only=True)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._random.expovariate(1.0 / self.interval)):
            try:
                self.probe_once()
            except Exception:  # a failed probe is logged; the verifier goes on
                log.exception("probe failed")

    def probe_once(self) -> dict[str, Any]:
        text = self._random.choice(_PROBE_TEXTS)
        prompt = list(self._tokenizer(text).input_ids)[: self._random.randint(4, 48)]
        result = self.client.generate(
            self.source,
            prompt,
            self.max_new_tokens,
            spot_check_rate=1.0,
            client_key=nacl.signing.SigningKey.generate(),  # a fresh identity per probe
        )
        self.probes += 1
        log.info("probe %d: %d steps, challenges: %s", self.probes, len(result.steps), result.challenges)
        return {"tokens": result.tokens, "challenges": result.challenges}
