"""A stateless forward pass of a batch of sequences through a chain of servers (no KV cache kept).

Each hop is one unary call whose receipt is step 0 of a one-step session. A failing hop's server is
banned and the remaining blocks are routed again from that hop on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import torch
from hivemind.p2p import PeerID
from hivemind.proto import runtime_pb2

from swarmtrust.node.block_rpc import FORWARD_HANDLER
from swarmtrust.node.client.chain_search import NoRouteError
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.exchange import StepCall, decode_reply, encode_step
from swarmtrust.node.client.faults import HOP_ERRORS, Fault, SessionFailedError, fault_reason
from swarmtrust.node.client.route_policy import Router
from swarmtrust.node.client.session import HopRecord
from swarmtrust.protocol.receipts import CLIENT_NONCE_SIZE, SESSION_ID_SIZE


async def forward_through_chain(
    p2p: Any,
    servers: Sequence[ServerInfo],
    model_id: str,
    num_blocks: int,
    hidden: torch.Tensor,
    *,
    router: Router,
) -> tuple[torch.Tensor, list[HopRecord], list[Fault]]:
    """Hidden states (batch, tokens, hidden) for block 0 -> the last block's output, with each hop's record
    and the faults of servers routed around."""
    by_key = {server.key: server for server in servers}
    banned: set[str] = set()
    records: list[HopRecord] = []
    faults: list[Fault] = []
    boundary = 0
    config = router.config
    explore = router.explores()
    while boundary < num_blocks:
        try:
            hop = router.chain(servers, boundary, num_blocks, explore=explore, exclude=banned)[0]
        except NoRouteError as exc:
            raise SessionFailedError(str(exc)) from exc
        call = StepCall(
            server=by_key[hop.candidate.key],
            model_id=model_id,
            start=hop.start,
            end=hop.end,
            session_id=os.urandom(SESSION_ID_SIZE),
            client_nonce=os.urandom(CLIENT_NONCE_SIZE),
            step=0,
            prev_receipt=None,
            max_length=hidden.shape[1],
            receipts=config.receipts,
        )
        sent = encode_step(call, hidden)
        started = time.perf_counter()
        try:
            response = await p2p.call_protobuf_handler(
                PeerID.from_base58(call.server.announcement.peer_id),
                FORWARD_HANDLER,
                sent.request,
                runtime_pb2.ExpertResponse,
            )
            output, receipt = decode_reply(call, sent, response)
        except HOP_ERRORS as exc:
            banned.add(call.server.key)
            router.bans.fail(call.server.key)
            faults.append(Fault(0, call.server.key, fault_reason(exc), str(exc)))
            continue
        records.append(HopRecord(call.server.key, (hop.start, hop.end), receipt, time.perf_counter() - started))
        hidden = output.to_torch()
        boundary = hop.end
    return hidden.float(), records, faults
