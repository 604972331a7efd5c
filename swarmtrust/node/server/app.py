"""The server process: load the span, join the DHT, serve, announce; on SIGTERM or SIGINT, leave cleanly."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from hivemind.proto import runtime_pb2

from swarmtrust.node.behaviors import BehaviorRuntime, perturb_weights
from swarmtrust.node.block_rpc import FORWARD_HANDLER, INFERENCE_HANDLER, PUSH_HANDLER
from swarmtrust.node.client.checkpoint_memory import seen_checkpoints_file
from swarmtrust.node.dht import start_dht
from swarmtrust.node.model.source import ModelSource, resolve_model
from swarmtrust.node.model.span import CacheState, Span, SpanError, load_config
from swarmtrust.node.server.announcer import Announcer
from swarmtrust.node.server.config import ServerConfig
from swarmtrust.node.server.handler import BlockServer
from swarmtrust.node.server.placement import LedgerView, choose_blocks, holders, my_trust
from swarmtrust.node.server.pushes import PushOutbox
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.server.registration import LedgerRegistration, check_registered_dtype
from swarmtrust.node.server.session_registry import SessionRegistry
from swarmtrust.node.server.span_choice import better_start, coverage
from swarmtrust.node.server.status import ServerTally, fetch_standing, status_line
from swarmtrust.node.tensors import TORCH_DTYPES, wire_dtype
from swarmtrust.protocol.keys import load_signing_key

log = logging.getLogger(__name__)


def measure_throughput(span: Span, steps: int = 8) -> float:
    """Tokens per second of decode steps through the whole span, measured here (as Petals does)."""
    state = CacheState()
    hidden = torch.zeros(1, 1, span.hidden_size, dtype=span.dtype)
    span.forward(hidden, state)  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        span.forward(hidden, state)
    return steps / (time.perf_counter() - started)


def print_status(line: str) -> None:
    """A status line on stderr, stamped with the local time (stdout carries the one JSON ready line)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def run_server(config: ServerConfig, ready: Any = print, status: Callable[[str], None] = print_status) -> None:
    """Serve until a termination signal; ``ready`` receives one JSON line once the server is announced, then
    ``status`` a line every ``config.status_period`` seconds."""
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    key = load_signing_key(config.key_path)
    source = resolve_model(config.model)
    if config.ledger_url:  # before anything is loaded or joined: a dtype the model does not allow stops here
        served = next(name for name, dtype in TORCH_DTYPES.items() if dtype == config.dtype)
        check_registered_dtype(config.ledger_url, key, source.model_id, served)
    dht = start_dht(config.initial_peers, config.network)  # forks: before torch starts its thread pools
    try:
        # Opened after the fork, so that the DHT's process never inherits (and holds) its lock.
        registry = SessionRegistry.open(config.state_dir, bytes(key.verify_key))
        ledger_view = LedgerView.open(config.ledger_url, seen_checkpoints_file(config.key_path))
        try:
            start, end = config.block_start, config.block_end
            if config.num_blocks is not None:
                total = load_config(source).num_hidden_layers
                if not 0 < config.num_blocks <= total:
                    raise SpanError(f"--num-blocks {config.num_blocks}: {source.model_id} has {total} blocks")
                me = bytes(key.verify_key).hex()
                start = choose_blocks(dht, source.model_id, total, config.num_blocks, me, ledger_view)
                end = start + config.num_blocks
            span, throughput = load_span(source, start, end, config)
            asyncio.run(_serve(config, key, source, span, throughput, dht, registry, ready, status, ledger_view))
        finally:
            registry.close()
    finally:
        dht.shutdown()


def load_span(source: ModelSource, start: int, end: int, config: ServerConfig) -> tuple[Span, float]:
    """The span to serve and its announced throughput (``--throughput``, else measured here)."""
    span = Span.load(source, start, end, config.dtype, config.device)
    if config.behavior.wrong_weights:
        perturb_weights(span.layers, config.behavior.spec)  # the announced digests stay the real ones
    return span, config.throughput if config.throughput is not None else measure_throughput(span)


class _Serving:
    """The block server that new sessions reach; a move to other blocks replaces it, and the sessions open on
    the old one finish there."""

    def __init__(self, server: BlockServer) -> None:
        self.server = server

    async def serve_inference(self, *args: Any) -> None:
        await self.server.serve_inference(*args)

    async def serve_pushes(self, *args: Any) -> None:
        await self.server.serve_pushes(*args)

    async def rpc_forward(self, *args: Any) -> Any:
        return await self.server.rpc_forward(*args)


async def _serve(
    config: ServerConfig,
    key: Any,
    source: ModelSource,
    span: Span,
    throughput: float,
    dht: Any,
    registry: SessionRegistry,
    ready: Any,
    status: Callable[[str], None],
    ledger_view: LedgerView,
) -> None:
    p2p = await dht.replicate_p2p()
    outbox = PushOutbox(p2p)

    def block_server(span: Span) -> BlockServer:
        signer = ReceiptSigner(key, span.model_id, wire_dtype(next(span.layers[0].parameters())))
        behavior = BehaviorRuntime(config.behavior)
        return BlockServer(
            span, signer, behavior, config.limits, receipts=config.receipts, outbox=outbox, registry=registry
        )

    serving = _Serving(block_server(span))
    await p2p.add_binary_stream_handler(INFERENCE_HANDLER, serving.serve_inference)
    await p2p.add_binary_stream_handler(PUSH_HANDLER, serving.serve_pushes)
    await p2p.add_protobuf_handler(FORWARD_HANDLER, serving.rpc_forward, runtime_pb2.ExpertRequest)
    public_key = bytes(key.verify_key).hex()
    ledger = LedgerRegistration(config.ledger_url, key) if config.ledger_url else None
    announcer = Announcer(
        dht,
        key,
        span,
        name=config.name or f"server-{public_key[:8]}",
        throughput=throughput,
        ttl=config.announce_ttl,
        ledger=ledger,
        ledger_period=config.ledger_period,
    )
    await announcer.announce("online")
    await announcer.tell_ledger("online", force=True)
    announcing = asyncio.create_task(announcer.run(config.announce_period))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ready(
        json.dumps(
            {
                "event": "ready",
                "public_key": public_key,
                "peer_id": dht.peer_id.to_base58(),
                "model": span.model_id,
                "blocks": [span.start, span.end],
                "behavior": config.behavior.spec,
                "throughput": round(throughput, 1),
                "maddrs": [str(a) for a in dht.get_visible_maddrs()],
            }
        )
    )
    reporting = asyncio.create_task(_report(serving, ledger, public_key, config.status_period, status))
    moving = asyncio.create_task(
        _rebalance(serving, announcer, block_server, config, source, dht, public_key, status, ledger_view)
    )
    await stop.wait()
    moving.cancel()
    reporting.cancel()
    announcing.cancel()
    outbox.close()
    try:
        await asyncio.wait_for(announcer.announce("offline"), timeout=5)
    except (TimeoutError, OSError):
        log.warning("could not mark this server offline in the DHT; its record expires on its own")
    if ledger is not None:
        try:
            await asyncio.wait_for(announcer.tell_ledger("offline", force=True), timeout=15)
        except TimeoutError:
            log.warning("could not mark this server offline at the ledger; its announcement expires on its own")
        ledger.close()
    log.info("server %s stopped", public_key[:16])


async def _rebalance(
    serving: _Serving,
    announcer: Announcer,
    block_server: Callable[[Span], BlockServer],
    config: ServerConfig,
    source: ModelSource,
    dht: Any,
    me: str,
    status: Callable[[str], None],
    ledger_view: LedgerView,
) -> None:
    """With ``--num-blocks``: every ``rebalance_period`` seconds, move to where the swarm is clearly thinner."""
    length = config.num_blocks
    if length is None or config.rebalance_period <= 0:
        return
    total = load_config(source).num_hidden_layers
    while True:
        await asyncio.sleep(config.rebalance_period)
        current = serving.server.span
        try:
            others = await asyncio.to_thread(holders, dht, source.model_id, total, me, ledger_view)
            trust = await asyncio.to_thread(my_trust, ledger_view, source.model_id, me)
        except Exception:  # a DHT hiccup: the next round looks again
            log.exception("could not read the swarm to rebalance; looking again in %.0f s", config.rebalance_period)
            continue
        weight = announcer.throughput * trust
        moved = better_start(coverage(others, total), current.start, length, weight)
        if moved is None:
            continue
        span, throughput = await asyncio.to_thread(load_span, source, moved, moved + length, config)
        replacement = block_server(span)
        replacement.tally = serving.server.tally  # the operator's counts go on
        serving.server = replacement
        await announcer.move_to(span, throughput)
        status(
            f"moved from blocks {current.start}:{current.end} to {span.start}:{span.end}, where the swarm is thinner"
        )


async def _report(
    serving: _Serving,
    ledger: LedgerRegistration | None,
    public_key: str,
    period: float,
    status: Callable[[str], None],
) -> None:
    """A status line every ``period`` seconds (none when it is 0): what was served, and the ledger's view."""
    if period <= 0:
        return
    since = ServerTally()
    while True:
        await asyncio.sleep(period)
        standing = await asyncio.to_thread(fetch_standing, ledger.api, public_key) if ledger is not None else None
        server = serving.server
        status(status_line(server.tally, since, server.open_sessions, standing))
        since = server.tally.copy()
