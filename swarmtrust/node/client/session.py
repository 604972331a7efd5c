"""An inference session through a chain of servers: every step checked, failed servers replaced.

Each hop of the chain is a session on one server for blocks ``[start, end)``. The client keeps what it
sent to each hop; when a server fails (error, silence, closed stream, or a missing or wrong receipt) it
is banned for this session, a replacement chain for the same blocks is chosen, the history is replayed
to it as one prefill, and the step is retried, so generation continues with the same tokens.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from swarmtrust.node.block_rpc import PushTarget, WireTensor
from swarmtrust.node.client.chain_search import Hop, NoRouteError
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.evidence import HopEvidence
from swarmtrust.node.client.exchange import SentStep, StepCall, decode_reply, encode_pushed_step, encode_step
from swarmtrust.node.client.faults import (
    HOP_ERRORS,
    Fault,
    SessionFailedError,
    fault_reason,
    push_may_be_to_blame,
    signed_receipt_of,
)
from swarmtrust.node.client.route_policy import Router
from swarmtrust.node.client.transport import HopStream
from swarmtrust.protocol.evidence import MAX_DECODED_EVIDENCE_BYTES
from swarmtrust.protocol.receipts import CLIENT_NONCE_SIZE, SESSION_ID_SIZE, Receipt
from swarmtrust.protocol.signing import Signed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failover:
    step: int
    failed_server: str
    blocks: tuple[int, int]
    replacements: tuple[str, ...]
    replayed_tokens: int


@dataclass(frozen=True)
class HopRecord:
    """One hop of one step, as the client saw it."""

    server_key: str
    blocks: tuple[int, int]
    receipt: Signed[Receipt] | None
    seconds: float
    pushed: bool = False  # its input came straight from the previous hop's server
    check_seconds: float = 0.0  # then, this client's reading and checking of the reply (its receipt included)


@dataclass
class _ChainHop:
    server: ServerInfo
    start: int
    end: int
    stream: HopStream
    session_id: bytes = field(default_factory=lambda: os.urandom(SESSION_ID_SIZE))
    client_nonce: bytes = field(default_factory=lambda: os.urandom(CLIENT_NONCE_SIZE))
    next_step: int = 0
    prev_receipt: bytes | None = None
    history: list[torch.Tensor] = field(default_factory=list)  # inputs sent, in the hop's dtype
    evidence: HopEvidence | None = None  # kept when this hop's session is spot-checked
    needs_replay: bool = False  # a fresh session that must replay ``history`` before its next step

    @property
    def dtype(self) -> str:
        return self.server.announcement.dtype


class InferenceSession:
    """Steps hidden states through blocks ``[0, num_blocks)`` of ``model_id``; use within one event loop."""

    def __init__(
        self,
        p2p: Any,
        servers: Sequence[ServerInfo],
        model_id: str,
        num_blocks: int,
        *,
        max_length: int,
        router: Router,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._p2p = p2p
        self._servers = {server.key: server for server in servers}
        self.model_id = model_id
        self.num_blocks = num_blocks
        self.max_length = max_length
        self._router = router
        self._config = router.config
        self._latency = router.latency
        self._explore = router.explores()
        self._on_event = on_event or (lambda kind, data: None)
        self.banned: set[str] = set()
        self.faults: list[Fault] = []
        self.failovers: list[Failover] = []
        self.steps: list[list[HopRecord]] = []
        self.replays: list[HopRecord] = []  # failover replays: work done, with receipts, though not a step
        self._retired: list[_ChainHop] = []  # hops replaced by failover (their evidence still counts)
        self._push = self._config.push  # until a pushed step fails: then hop by hop for good
        self._hops: list[_ChainHop] = self._build_chain(0, num_blocks)

    # --- the chain -------------------------------------------------------------------------------------

    def _build_chain(self, start: int, end: int) -> list[_ChainHop]:
        try:
            route = self._router.chain(
                list(self._servers.values()),
                start,
                end,
                explore=self._explore,
                exclude=self.banned,
                session_tokens=self.max_length,  # what a session may be billed, for the bond rule
            )
        except NoRouteError as exc:
            raise SessionFailedError(str(exc)) from exc
        return [self._new_hop(hop) for hop in route]

    def _new_hop(self, hop: Hop) -> _ChainHop:
        server = self._servers[hop.candidate.key]
        sampled = random.random() < self._router.spot_check_rate(server.key, server, self.max_length)
        return _ChainHop(
            server,
            hop.start,
            hop.end,
            HopStream(self._p2p, server.announcement.peer_id),
            evidence=self._new_evidence(server.key) if sampled else None,
        )

    @property
    def route(self) -> list[tuple[str, int, int]]:
        return [(hop.server.key, hop.start, hop.end) for hop in self._hops]

    # --- steps -----------------------------------------------------------------------------------------

    async def step(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states (batch, tokens, hidden) for block 0 -> the last block's output, float32."""
        records: list[HopRecord] = []
        index = 0
        if self._can_push(hidden):
            hidden, records = await self._pushed_step(hidden)
            index = len(records)
        while index < len(self._hops):
            hop = self._hops[index]
            try:
                if hop.needs_replay:
                    await self._catch_up(hop)
                hidden, record = await self._run_hop(hop, hidden)
            except HOP_ERRORS as exc:
                await self._fail_over(index, exc)
                continue  # the replacement hops now stand at ``index``: retry the step there
            records.append(record)
            index += 1
        self.steps.append(records)
        return hidden.float()

    # --- pushed steps ---------------------------------------------------------------------------------

    def _can_push(self, hidden: torch.Tensor) -> bool:
        """Decode steps of a chain whose sessions are all open, in one dtype, go out to every hop at once."""
        hops = self._hops
        return (
            self._push
            and len(hops) > 1
            and hidden.shape[1] == 1
            and all(hop.next_step > 0 and not hop.needs_replay for hop in hops)
            and len({hop.dtype for hop in hops}) == 1
        )

    async def _pushed_step(self, hidden: torch.Tensor) -> tuple[torch.Tensor, list[HopRecord]]:
        """Send the step to every hop at once, each server pushing its output to the next; check the replies
        in chain order. Returns the last good output and the hops done. If a hop fails, pushing stops for
        this session and the hops after it restart on fresh sessions; the failed hop is failed over (a fault
        of its own) or, when the push itself may be to blame, restarted too; the caller goes on hop by hop."""
        hops = self._hops
        calls = [self._call(hop) for hop in hops]
        first = encode_step(calls[0], hidden, push_to=self._push_target(1))
        requests = [first.request] + [
            encode_pushed_step(call, hops[j - 1].server.announcement.peer_id, self._push_target(j + 1))
            for j, call in enumerate(calls[1:], start=1)
        ]
        records: list[HopRecord] = []
        sent = first
        started = time.perf_counter()
        try:
            reached = 0
            try:
                for hop, request in zip(hops, requests, strict=True):
                    await hop.stream.send(request, self._timeout(hop, 1))
                    reached += 1
            except HOP_ERRORS as exc:
                unreachable: BaseException | None = exc  # raised once the hops before it have answered
            else:
                unreachable = None
            for hop, call in zip(hops[:reached], calls, strict=False):
                response = await hop.stream.receive(self._timeout(hop, 1), len(first.data))
                now = time.perf_counter()
                output, record = self._finish_hop(hop, call, sent, response, now - started, pushed=sent is not first)
                records.append(record)
                hidden, started = output.to_torch(), now
                sent = SentStep(first.request, hidden, output.data)  # the next hop's input, as pushed
            if unreachable is not None:
                raise unreachable
        except HOP_ERRORS as exc:
            failed = len(records)
            self._push = False
            if push_may_be_to_blame(failed, exc):
                log.info("pushed step failed at hop %d (%s): going hop by hop from there", failed, exc)
                self._restart(failed)
            else:
                self._restart(failed + 1)
                await self._fail_over(failed, exc)
        return hidden, records

    def _push_target(self, index: int) -> PushTarget | None:
        if index >= len(self._hops):
            return None
        hop = self._hops[index]
        return PushTarget(peer_id=hop.server.announcement.peer_id, session_id=hop.session_id, step=hop.next_step)

    def _restart(self, index: int) -> None:
        """Hops ``index`` and after start fresh sessions on their servers (no fault: their state is merely
        unknown after a failed pushed step); each replays its history before its next step."""
        for position in range(index, len(self._hops)):
            old = self._hops[position]
            old.stream.abort()
            self._retired.append(old)
            self._hops[position] = _ChainHop(
                old.server,
                old.start,
                old.end,
                HopStream(self._p2p, old.server.announcement.peer_id),
                history=list(old.history),
                evidence=self._new_evidence(old.server.key) if old.evidence is not None else None,
                needs_replay=bool(old.history),
            )

    async def _catch_up(self, hop: _ChainHop) -> None:
        """Replay a restarted hop's history as one prefill (billed as a replay, as after a failover)."""
        history = torch.cat(hop.history, dim=1)
        hop.history = []
        try:
            _, record = await self._run_hop(hop, history)
        except BaseException:
            hop.history = [history]  # a failover replays it to the replacement
            raise
        hop.needs_replay = False
        self.replays.append(record)

    # --- one hop ---------------------------------------------------------------------------------------

    def _timeout(self, hop: _ChainHop, tokens: int) -> float:
        """Seconds to wait for this step: a multiple of the server's measured decode time for a decode step,
        so that a dead server is noticed in about a second; the configured maximum otherwise."""
        config = self._config
        expected = self._latency.expected_seconds(hop.server.key, hop.end - hop.start, config.hop_seconds)
        if tokens != 1 or expected is None:
            return config.step_timeout
        return min(config.step_timeout, max(config.min_decode_timeout, config.decode_timeout_factor * expected))

    async def _run_hop(self, hop: _ChainHop, hidden: torch.Tensor) -> tuple[torch.Tensor, HopRecord]:
        call = self._call(hop)
        sent = encode_step(call, hidden)
        started = time.perf_counter()
        response = await hop.stream.step(sent.request, self._timeout(hop, sent.tensor.shape[1]))
        output, record = self._finish_hop(hop, call, sent, response, time.perf_counter() - started)
        return output.to_torch(), record

    def _call(self, hop: _ChainHop) -> StepCall:
        return StepCall(
            server=hop.server,
            model_id=self.model_id,
            start=hop.start,
            end=hop.end,
            session_id=hop.session_id,
            client_nonce=hop.client_nonce,
            step=hop.next_step,
            prev_receipt=hop.prev_receipt,
            max_length=self.max_length,
            receipts=self._config.receipts,
        )

    def _finish_hop(
        self, hop: _ChainHop, call: StepCall, sent: SentStep, response: Any, seconds: float, *, pushed: bool = False
    ) -> tuple[WireTensor, HopRecord]:
        """Check a hop's reply to ``sent`` and advance the hop: its receipt chain, history and timing."""
        checking = time.perf_counter()
        output, receipt = decode_reply(call, sent, response)
        if receipt is not None:
            hop.prev_receipt = receipt.digest
            self._keep_evidence(hop, receipt, sent.data, output.data)
        checked = time.perf_counter() - checking
        hop.next_step += 1
        hop.history.append(sent.tensor)
        if sent.tensor.shape[1] == 1:  # decode steps only: a prefill's time says little about the next step's
            self._latency.observe(hop.server.key, hop.end - hop.start, seconds, self._config.hop_seconds)
        return output, HopRecord(hop.server.key, (hop.start, hop.end), receipt, seconds, pushed, checked)

    # --- failover --------------------------------------------------------------------------------------

    async def _fail_over(self, index: int, error: BaseException) -> None:
        failed = self._hops[index]
        step = len(self.steps)
        reason = fault_reason(error)
        self.faults.append(Fault(step, failed.server.key, reason, str(error), signed_receipt_of(error)))
        self.banned.add(failed.server.key)
        self._router.bans.fail(failed.server.key)
        log.warning("server %s failed at step %d (%s): %s", failed.server.key[:16], step, reason, error)
        await failed.stream.close()
        if len(self.failovers) >= self._config.max_failovers:
            raise SessionFailedError(f"{len(self.failovers)} servers failed in this session; giving up") from error
        replacements = self._build_chain(failed.start, failed.end)
        replayed = sum(t.shape[1] for t in failed.history)
        if failed.history:
            await self._replay(replacements, torch.cat(failed.history, dim=1))
        self._retired.append(failed)
        self._hops[index : index + 1] = replacements
        failover = Failover(
            step, failed.server.key, (failed.start, failed.end), tuple(h.server.key for h in replacements), replayed
        )
        self.failovers.append(failover)
        self.emit(
            "failover",
            {
                "step": step,
                "failed": failed.server.key,
                "reason": reason,
                "replacements": list(failover.replacements),
                "replayed_tokens": replayed,
            },
        )

    async def _replay(self, replacements: list[_ChainHop], history: torch.Tensor) -> None:
        """Bring fresh hops to the failed hop's state: its whole input history as one prefill."""
        hidden = history
        for position, hop in enumerate(replacements):
            try:
                hidden, record = await self._run_hop(hop, hidden)
            except HOP_ERRORS as exc:
                # The replacement failed too: replace it in turn (recursively), within the failover budget.
                await self._fail_over_during_replay(replacements, position, exc, hidden)
                return
            self.replays.append(record)

    async def _fail_over_during_replay(
        self, replacements: list[_ChainHop], position: int, error: BaseException, hidden: torch.Tensor
    ) -> None:
        hop = replacements[position]
        self.faults.append(
            Fault(len(self.steps), hop.server.key, fault_reason(error), str(error), signed_receipt_of(error))
        )
        self.banned.add(hop.server.key)
        self._router.bans.fail(hop.server.key)
        await hop.stream.close()
        if len(self.failovers) >= self._config.max_failovers:
            raise SessionFailedError("too many servers failed while replaying history") from error
        rest = self._build_chain(hop.start, replacements[-1].end)
        replacements[position:] = rest
        await self._replay(rest, hidden)

    def _keep_evidence(self, hop: _ChainHop, receipt: Signed[Receipt], sent: bytes, received: bytes) -> None:
        kept = hop.evidence
        if kept is None or kept.full:
            return
        # One memory bound for the whole session, failed-over and restarted hops included: the hop that would
        # pass it ends its evidence there (its bundle is still whole from step 0).
        if sum(e.size for e in self.kept_evidence()) + len(sent) + len(received) > MAX_DECODED_EVIDENCE_BYTES:
            kept.full = True
            return
        kept.add(receipt, sent, received)

    def _new_evidence(self, server_key: str) -> HopEvidence:
        config = self._config
        return HopEvidence(server_key, compared_steps=config.compared_steps, max_bundle_bytes=config.max_evidence_bytes)

    def kept_evidence(self) -> list[HopEvidence]:
        """Evidence of every spot-checked hop of this session, failed-over ones included."""
        hops = [*self._retired, *self._hops]
        return [hop.evidence for hop in hops if hop.evidence is not None and hop.evidence.receipts]

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the caller's ``on_event`` about progress ("step") or trouble ("failover")."""
        self._on_event(kind, data)

    async def close(self) -> None:
        for hop in self._hops:
            await hop.stream.close()
