"""``SwarmClient``: a client's connection to the swarm, usable from plain (synchronous) Python.

hivemind's P2P objects belong to the event loop that made them, so the client owns one loop in a
background thread and runs every network operation there.

    with SwarmClient(initial_peers) as client:
        client.wait_for_blocks("tiny", 8)
        result = client.generate(resolve_model("tiny"), prompt_ids=[1, 2, 3], max_new_tokens=16)
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import nacl.signing
import torch

from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.chain_search import Candidate, NoRouteError, choose_chain
from swarmtrust.node.client.checkpoint_memory import CheckpointMemory, LedgerHistoryError
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo, discover_servers
from swarmtrust.node.client.evidence import submit_challenges
from swarmtrust.node.client.faults import Fault
from swarmtrust.node.client.fork_reports import report_fork, reported_forks
from swarmtrust.node.client.forward import forward_through_chain
from swarmtrust.node.client.generation import GenerationResult, generate_tokens
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.misbehaviour import contradictions, held_receipts, report_misbehaviour
from swarmtrust.node.client.payments import affordable, bills, pay
from swarmtrust.node.client.reputation import ReputationBook, fetch_reputation, proof_from_dht, reputation_from_dht
from swarmtrust.node.client.route_policy import Router
from swarmtrust.node.client.session import HopRecord, InferenceSession
from swarmtrust.node.dht import start_dht
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.source import ModelSource
from swarmtrust.node.network import NetworkOptions
from swarmtrust.node.sampling import Sampling, StopRule, TokenChooser
from swarmtrust.protocol.checkpoint_proofs import FinalityProof
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.serving_dtypes import AllowedDtypes, config_dtype, history_from_answer, routing_dtypes

T = TypeVar("T")
log = logging.getLogger(__name__)


class GenerationAbandoned(Exception):
    """Raised inside a streamed generation whose reader left, to end it at the next token."""


@dataclass(frozen=True)
class ForwardResult:
    output: torch.Tensor  # the last block's output, float32
    hops: list[HopRecord]
    faults: list[Fault]


@dataclass(frozen=True)
class PeerIdentity:
    """A libp2p identity of its own (a P2P daemon started for it) for sessions that must not be linked to
    this client's other sessions, such as a verifier's probes; close it with ``SwarmClient.close_identity``."""

    p2p: Any  # hivemind P2P, usable only on the client's loop
    peer_id: str  # base58: what servers see as the caller


class SwarmClient:
    def __init__(
        self,
        initial_peers: Sequence[str],
        *,
        network: NetworkOptions | None = None,
        config: ClientConfig | None = None,
        ledger_url: str | None = None,
        client_key: nacl.signing.SigningKey | None = None,
        ledger_key: bytes | None = None,
    ) -> None:
        self.config = config or ClientConfig()
        self.ledger_url = ledger_url  # where spot-check challenges go (none: nothing is challenged)
        self.client_key = client_key or nacl.signing.SigningKey.generate()  # signs challenges
        self.ledger_key = ledger_key  # pinned: DHT reputation snapshots are believed only if it signed them
        self.latency = LatencyTracker(self.config.latency_smoothing)
        self.bans = BanList(self.config.ban_seconds, self.config.max_ban_seconds)
        self._books: dict[str, tuple[float, ReputationBook]] = {}
        # the latest final checkpoint seen per ledger: answers must extend it (kept in a file where configured)
        memory_file = self.config.checkpoint_memory
        self.checkpoints = CheckpointMemory.load(memory_file) if memory_file is not None else CheckpointMemory()
        self._reported_forks: set[bytes] = set()
        self._dtypes: dict[str, tuple[float, AllowedDtypes]] = {}
        self._initial_peers = list(initial_peers)
        self._network = network or NetworkOptions()
        self.dht = start_dht(initial_peers, self._network, client_mode=True)  # forks: before threads
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="swarmtrust-client", daemon=True)
        self._thread.start()
        self.p2p = self.run(self.dht.replicate_p2p())  # hivemind P2P, usable only on this client's loop
        self._heads: dict[str, ModelHead] = {}

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the client's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def servers(self, model_id: str, num_blocks: int) -> list[ServerInfo]:
        return discover_servers(self.dht, model_id, num_blocks)

    def wait_for_blocks(
        self, model_id: str, num_blocks: int, *, min_servers: int = 1, timeout: float = 60.0
    ) -> list[ServerInfo]:
        """Servers of ``model_id`` once they cover every block and number at least ``min_servers``;
        NoRouteError naming the first uncovered block if that does not happen within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            servers = self.servers(model_id, num_blocks)
            try:
                choose_chain([Candidate(s.key, s.start, s.end, 1.0, 0.0) for s in servers], 0, num_blocks)
                if len(servers) >= min_servers:
                    return servers
            except NoRouteError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise NoRouteError(f"only {len(servers)} servers of {model_id} announced, {min_servers} awaited")
            time.sleep(0.5)

    def reputation(self, model_id: str) -> ReputationBook:
        """Servers' reputations, from the ledger service (cached for ``reputation_ttl`` seconds); everyone
        counts as a newcomer when no ledger is configured or it cannot be reached."""
        cached = self._books.get(model_id)
        if cached is not None and time.monotonic() - cached[0] < self.config.reputation_ttl:
            return cached[1]
        book: ReputationBook | None = None
        if self.ledger_url is not None:
            try:
                book = fetch_reputation(self.ledger_url, model_id)
            except LedgerApiError as exc:
                log.warning("no reputation from %s (%s); trying the DHT snapshot", self.ledger_url, exc)
        if book is None and self.ledger_key is not None:
            book = reputation_from_dht(self.dht, model_id, self.ledger_key, time.time_ns() // 1_000_000)
        if book is not None and book.source != "none" and not self._extends_history(book):
            book = None
        if book is None:
            book = ReputationBook()  # nothing known: everyone is a newcomer
        self._books[model_id] = (time.monotonic(), book)
        return book

    def _extends_history(self, book: ReputationBook) -> bool:
        """Whether the checkpoint ``book`` stands on is final and extends the one this client holds for its ledger
        (``CheckpointMemory``), checked by proofs from the API or else the DHT; logs why not."""
        identity = self.ledger_key or (self.ledger_url or "").encode()  # REST alone: the ledger by its URL
        number, digest = book.checkpoint or (0, None)
        with self.checkpoints.kept_in(self.config.checkpoint_memory):
            try:
                self._read_fork_reports(identity)
                self.checkpoints.admit(identity, number, digest, book.source, self._finality_proof, self.ledger_key)
            except LedgerHistoryError as exc:
                log.error("refusing the ledger's reputations: %s", exc)
                self._report_fork(identity)
                return False
        return True

    def _read_fork_reports(self, identity: bytes) -> None:
        """Distrust the ledger on any fork of its key reported in the DHT that proves itself."""
        seen = self.checkpoints.seen.get(identity)
        key = self.ledger_key or (seen.checkpoint.signer if seen is not None else None)
        if key is None or identity in self.checkpoints.distrusted:
            return
        for report in reported_forks(self.dht, key):
            reporter = f"{report.reporter.hex()[:16]}… in the DHT"
            self.checkpoints.note_fork(identity, key, report.first, report.second, reporter)

    def _report_fork(self, identity: bytes) -> None:
        """Publish the fork this client holds against the ledger, once, so that other clients stop trusting it."""
        pair = self.checkpoints.forks.get(identity)
        if pair is None or identity in self._reported_forks:
            return
        try:
            fork = report_fork(self.dht, self.client_key, *pair)
            self._reported_forks.add(identity)
            log.error(
                "reported in the DHT: ledger %s… signed two checkpoints numbered %d",
                fork.ledger_key.hex()[:16],
                fork.number,
            )
        except (WireFormatError, SignatureError) as exc:
            log.warning("could not report the ledger's fork in the DHT: %s", exc)

    def _finality_proof(self, number: int) -> FinalityProof | None:
        """Checkpoint ``number``'s proof from the ledger's API, else from the DHT (it carries the latest only)."""
        if self.ledger_url is not None:
            try:
                with LedgerApi(self.ledger_url, timeout=5.0) as api:
                    proof = api.finality_proof(number)
                if proof is not None:
                    return proof
            except LedgerApiError as exc:
                log.warning("no proof of checkpoint %d from %s (%s)", number, self.ledger_url, exc)
        if self.ledger_key is not None:
            return proof_from_dht(self.dht, self.ledger_key, number)
        return None

    def allowed_dtypes(self, source: ModelSource) -> AllowedDtypes:
        """The dtypes this client routes to for ``source``: its registration at the ledger (cached for
        ``reputation_ttl`` seconds), else its config.json ``torch_dtype``, plus the config's ``allow_dtypes``.
        A ledger that cannot be reached, or answers nonsense, counts as no registration (with a warning)."""
        model_id = source.model_id
        cached = self._dtypes.get(model_id)
        if cached is not None and time.monotonic() - cached[0] < self.config.reputation_ttl:
            return cached[1]
        history = None
        if self.ledger_url is not None:
            try:
                with LedgerApi(self.ledger_url, self.client_key, timeout=5.0) as api:
                    history = history_from_answer(model_id, api.model(model_id), ledger_key=self.ledger_key)
            except (LedgerApiError, WireFormatError) as exc:
                log.warning(
                    "no registration of %s from %s (%s); routing by its config's dtype", model_id, self.ledger_url, exc
                )
        allowed = routing_dtypes(history, config_dtype(source.directory), self.config.allow_dtypes)
        self._dtypes[model_id] = (time.monotonic(), allowed)
        return allowed

    def router(self, source: ModelSource, config: ClientConfig | None = None) -> Router:
        """A routing policy for one session of ``source``: reputations, bans, and the dtypes it allows."""
        model_id = source.model_id
        return Router(
            config or self.config,
            self.latency,
            self.bans,
            self.reputation(model_id),
            dtypes=self.allowed_dtypes(source),
        )

    def head(self, source: ModelSource) -> ModelHead:
        if source.model_id not in self._heads:
            self._heads[source.model_id] = ModelHead(source)
        return self._heads[source.model_id]

    def generate(
        self,
        source: ModelSource,
        prompt_ids: list[int],
        max_new_tokens: int,
        *,
        servers: Sequence[ServerInfo] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        spot_check_rate: float | None = None,
        client_key: nacl.signing.SigningKey | None = None,
        identity: PeerIdentity | None = None,
        sampling: Sampling = Sampling(),
        stop: StopRule = StopRule(),
        decode: Callable[[Sequence[int]], str] | None = None,
        on_token: Callable[[int], None] | None = None,
    ) -> GenerationResult:
        """Generation through the swarm, greedy unless ``sampling`` says otherwise, until ``max_new_tokens`` or
        ``stop`` (``decode``, the tokenizer's, reads the text for stop strings); ``on_token`` hears each token
        as soon as it is chosen (on the client's event loop: keep it quick). ``servers`` restricts routing to
        those servers (default: all announced).

        Sessions sampled at ``spot_check_rate`` (default: the config's) are challenged at the ledger
        afterwards, signed with ``client_key`` (default: this client's key). ``identity``: the servers see the
        session come from that peer instead of this client's (``new_identity``).
        """
        head = self.head(source)
        if servers is None:
            servers = self.servers(source.model_id, head.num_blocks)
        config = self.config
        if spot_check_rate is not None:
            config = replace(config, spot_check_rate=spot_check_rate)
        if self.ledger_url is None:
            config = replace(config, spot_check_rate=0.0)  # nowhere to send evidence: keep none
        router = self.router(source, config)
        if config.pay and self.ledger_url is not None:  # servers this client cannot pay are routed around
            with LedgerApi(self.ledger_url, client_key or self.client_key) as api:
                servers = affordable(api, client_key or self.client_key, servers, len(prompt_ids) + max_new_tokens)

        opened: list[InferenceSession] = []

        async def run() -> GenerationResult:
            session = InferenceSession(
                self.p2p if identity is None else identity.p2p,
                servers,
                source.model_id,
                head.num_blocks,
                max_length=len(prompt_ids) + max_new_tokens,
                router=router,
                on_event=on_event,
            )
            opened.append(session)
            chooser = TokenChooser(sampling)
            return await generate_tokens(
                session, head, prompt_ids, max_new_tokens, chooser=chooser, stop=stop, decode=decode, on_token=on_token
            )

        try:
            result = self.run(run())
        finally:  # signed misbehaviour is reported even when it ended the session
            if opened and self.ledger_url is not None:
                self._report_misbehaviour(opened[0], client_key or self.client_key)
        key = client_key or self.client_key
        if config.pay and self.ledger_url is not None:  # first: a challenge freezes the payment it finds
            with LedgerApi(self.ledger_url, key) as api:
                paid = pay(api, key, bills([*result.steps, result.replays]))
            result = replace(result, payments=[asdict(p) for p in paid])
        if result.kept_evidence and self.ledger_url is not None:
            with LedgerApi(self.ledger_url, key) as api:
                result = replace(result, challenges=submit_challenges(api, key, result.kept_evidence))
        return result

    def stream(
        self,
        source: ModelSource,
        prompt_ids: list[int],
        max_new_tokens: int,
        *,
        sampling: Sampling = Sampling(),
        stop: StopRule = StopRule(),
        decode: Callable[[Sequence[int]], str] | None = None,
        **options: Any,
    ) -> Iterator[int]:
        """The tokens of ``generate`` one by one, each as soon as it is chosen; the generation's errors are raised
        where the iteration reaches them. Leaving the loop early ends the generation at its next token.
        ``options``: the other arguments of ``generate``."""
        chosen: queue.Queue[int | BaseException | None] = queue.Queue()
        abandoned = threading.Event()

        def hand_over(token: int) -> None:
            if abandoned.is_set():
                raise GenerationAbandoned("the reader of the stream left")
            chosen.put(token)

        def work() -> None:
            try:
                self.generate(
                    source, prompt_ids, max_new_tokens, sampling=sampling, stop=stop, decode=decode,
                    on_token=hand_over, **options,
                )  # fmt: skip
            except BaseException as exc:  # handed to the reader, which raises it
                chosen.put(exc)
            else:
                chosen.put(None)

        worker = threading.Thread(target=work, name="swarmtrust-stream", daemon=True)
        worker.start()
        try:
            while (item := chosen.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            abandoned.set()
            worker.join()

    def _report_misbehaviour(self, session: InferenceSession, key: nacl.signing.SigningKey) -> None:
        found = contradictions(session.faults, held_receipts(session.steps, session.replays))
        if found and self.ledger_url is not None:
            with LedgerApi(self.ledger_url, key) as api:
                report_misbehaviour(api, key, found)

    def new_identity(self) -> PeerIdentity:
        """A fresh libp2p identity (a P2P daemon of its own, about a second to start), bootstrapped from
        this client's initial peers; servers cannot link its sessions to this client's peer id."""
        from hivemind.p2p import P2P

        options = self._network.dht_kwargs()
        p2p = self.run(P2P.create(initial_peers=self._initial_peers, dht_mode="client", **options))
        return PeerIdentity(p2p, p2p.peer_id.to_base58())

    def close_identity(self, identity: PeerIdentity) -> None:
        """Stop the identity's P2P daemon; its peer id is never used again. A daemon that does not stop on
        SIGTERM in time is killed: one per probe must never outlive its probe."""
        try:
            self.run(identity.p2p.shutdown(), timeout=10)
        except Exception:
            log.warning("the P2P daemon of identity %s did not stop in time: killing it", identity.peer_id[:16])
            child = identity.p2p._child  # hivemind keeps the daemon's process only here
            if child is not None and child.returncode is None:
                child.kill()

    def forward(
        self, source: ModelSource, hidden: torch.Tensor, *, servers: Sequence[ServerInfo] | None = None
    ) -> ForwardResult:
        """A stateless forward pass of a batch (batch, tokens, hidden) through every block, receipts checked."""
        head = self.head(source)
        if servers is None:
            servers = self.servers(source.model_id, head.num_blocks)
        output, hops, faults = self.run(
            forward_through_chain(
                self.p2p, servers, source.model_id, head.num_blocks, hidden, router=self.router(source)
            )
        )
        return ForwardResult(output, hops, faults)

    def close(self) -> None:
        """Close streams and the P2P connection inside the loop, then stop the loop and the DHT."""
        try:
            if self._loop.is_running():
                self.run(self._close_connections(), timeout=10)
        finally:
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=5)
            if not self._loop.is_running():
                self._loop.close()
            self.dht.shutdown()

    async def _close_connections(self) -> None:
        await self.p2p.shutdown()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> SwarmClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
