"""Mystery shoppers: a verifier's own sessions through the ordinary client, challenged like any other.

A server that cheats on every session except those it takes for probes gains unless probes look like
clients in everything it sees, so each probe has:

- a libp2p identity of its own (a fresh P2P daemon, about a second to start; probes are rare) and a fresh
  client key. A reused identity would gather a record: a probe challenges every session, a client only a
  few, and challenges name their sessions, so a peer whose sessions are always challenged is a probe;
- a prompt composed afresh (``verifier.prompts``), never one of a list;
- lengths (prompt tokens, new tokens) drawn from what clients ask for, read from the ledger's receipts
  (``verifier.lengths``, ``GET /session-lengths``), with a broad fallback until the ledger has sessions;
- a start time with exponential gaps: no rhythm to recognise; the DHT lookup of the servers it routes over
  happens at a random point between probes, not just before one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing

from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.model.source import ModelSource
from swarmtrust.protocol.errors import SwarmtrustError
from swarmtrust.verifier.lengths import LengthDistribution
from swarmtrust.verifier.prompts import PromptGenerator, corpus_from_directory, standard_corpus

log = logging.getLogger(__name__)

# Reads the ledger's session-length summary of a model (the body of ``GET /session-lengths``).
FetchLengths = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class ProbeConfig:
    interval: float  # mean seconds between probes (exponentially distributed, so not predictable)
    lengths_ttl: float = 300.0  # seconds between reads of the ledger's session lengths


@dataclass(frozen=True)
class ProbeRecord:
    """One probe as the verifier ran it."""

    peer_id: str  # the libp2p identity the servers saw (used for this probe only)
    client_key: str  # hex public key that signed its challenges (used for this probe only)
    prompt: list[int]
    max_new_tokens: int
    observed_lengths: bool  # lengths drawn from the ledger's sessions (False: the fallback)
    challenges: list[dict[str, Any]] = field(default_factory=list)


class Prober:
    def __init__(
        self,
        client: SwarmClient,
        source: ModelSource,
        prompts: PromptGenerator,
        config: ProbeConfig,
        *,
        fetch_lengths: FetchLengths | None = None,
        max_length: int,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.source = source
        self.prompts = prompts
        self.config = config
        self.max_length = max_length  # positions of the model: prompt + new tokens fit in it
        self.probes = 0
        self._fetch_lengths = fetch_lengths
        self._random = rng or random.Random()
        self._lengths = LengthDistribution()
        self._lengths_read: float | None = None  # monotonic time of the last read
        self._servers: list[ServerInfo] | None = None  # from the last DHT lookup (None: look up at the probe)

    def run(self, stop: threading.Event) -> None:
        """Probe at exponential gaps until ``stop``; the server list is looked up in the DHT at a random
        point of each gap, never just before a probe: DHT nodes (servers among them) see the verifier's own
        peer ask, and a lookup always followed by a fresh peer's session would link the two."""
        while True:
            gap = self._random.expovariate(1.0 / self.config.interval)
            lookup_at = self._random.uniform(0, gap)
            if stop.wait(lookup_at):
                return
            try:
                self.look_up_servers()
            except Exception:  # a failed lookup is logged; the last list serves
                log.exception("server lookup failed")
            if stop.wait(gap - lookup_at):
                return
            try:
                self.probe_once()
            except Exception:  # a failed probe is logged; the verifier goes on
                log.exception("probe failed")

    def look_up_servers(self) -> None:
        """Read the model's servers from the DHT now; probes route over this list until the next lookup."""
        from swarmtrust.node.model.span import load_config

        blocks = int(load_config(self.source).num_hidden_layers)
        self._servers = self.client.servers(self.source.model_id, blocks)

    def lengths(self) -> LengthDistribution:
        """The clients' session lengths, read again once ``lengths_ttl`` has passed; the last known (or the
        fallback) while the ledger cannot be read."""
        now = time.monotonic()
        if self._fetch_lengths is not None and (
            self._lengths_read is None or now - self._lengths_read >= self.config.lengths_ttl
        ):
            self._lengths_read = now
            try:
                summary = self._fetch_lengths(self.source.model_id)
                self._lengths = LengthDistribution.from_summary(summary, self.max_length)
            except SwarmtrustError as exc:
                log.warning("no session lengths from the ledger (%s); keeping what was known", exc)
        return self._lengths

    def probe_once(self) -> ProbeRecord:
        distribution = self.lengths()
        lengths = distribution.sample(self._random, self.max_length)
        prompt = self.prompts.prompt(lengths.prompt_tokens)
        key = nacl.signing.SigningKey.generate()
        identity = self.client.new_identity()
        try:
            result = self.client.generate(
                self.source,
                prompt,
                lengths.max_new_tokens,
                servers=self._servers,
                spot_check_rate=1.0,
                client_key=key,
                identity=identity,
            )
        finally:
            self.client.close_identity(identity)
        self.probes += 1
        record = ProbeRecord(
            identity.peer_id,
            bytes(key.verify_key).hex(),
            prompt,
            lengths.max_new_tokens,
            distribution.observed,
            result.challenges,
        )
        log.info(
            "probe %d as peer %s, client key %s: %d prompt tokens, %d new tokens (%s lengths), challenges: %s",
            self.probes, record.peer_id, record.client_key, len(prompt), record.max_new_tokens,
            "observed" if record.observed_lengths else "fallback", result.challenges,
        )  # fmt: skip
        return record


def build_prober(
    client: SwarmClient, source: ModelSource, ledger_url: str, config: ProbeConfig, corpus: Path | None = None
) -> Prober:
    """A prober with the model's own tokenizer, prompts from ``corpus`` (default: the standard library's
    text) and lengths from the ledger at ``ledger_url``."""
    from transformers import AutoTokenizer

    from swarmtrust.node.ledger_api import LedgerApi
    from swarmtrust.node.model.span import load_config

    tokenizer = AutoTokenizer.from_pretrained(str(source.directory), local_files_only=True)
    text = standard_corpus() if corpus is None else corpus_from_directory(corpus)
    rng = random.Random()

    def fetch_lengths(model_id: str) -> Mapping[str, Any]:
        with LedgerApi(ledger_url, nacl.signing.SigningKey.generate()) as reader:  # a throwaway key: no trail
            return reader.session_lengths(model_id)

    prompts = PromptGenerator(text, lambda s: list(tokenizer(s).input_ids), rng)
    max_length = int(load_config(source).max_position_embeddings)
    return Prober(client, source, prompts, config, fetch_lengths=fetch_lengths, max_length=max_length, rng=rng)
