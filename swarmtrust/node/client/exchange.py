"""One step's request to one server and the checks on its reply, shared by sessions and forward passes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hivemind.proto import runtime_pb2

from swarmtrust.node.block_rpc import (
    OpenSession,
    PushTarget,
    StepMeta,
    StepReply,
    WireTensor,
    pack_metadata,
    tensor_from_proto,
    tensor_to_proto,
    unpack_metadata,
)
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.receipt_check import StepFacts, check_receipt
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.digests import tensor_digest
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed


@dataclass(frozen=True)
class StepCall:
    """Everything the client fixes about one step on one server before sending it."""

    server: ServerInfo
    model_id: str
    start: int
    end: int
    session_id: bytes
    client_nonce: bytes
    step: int
    prev_receipt: bytes | None
    max_length: int
    receipts: bool = True


@dataclass(frozen=True)
class SentStep:
    request: runtime_pb2.ExpertRequest
    tensor: torch.Tensor  # as sent, in the server's dtype
    data: bytes  # its bytes on the wire


def encode_step(call: StepCall, hidden: torch.Tensor, *, push_to: PushTarget | None = None) -> SentStep:
    """The request for one step with its input; ``push_to``: the server also sends its output there."""
    tensor = hidden.to(TORCH_DTYPES[call.server.announcement.dtype])
    proto, data = tensor_to_proto(tensor)
    opened = None
    if call.step == 0:
        opened = OpenSession(
            model_id=call.model_id,
            start=call.start,
            end=call.end,
            session_id=call.session_id,
            client_nonce=call.client_nonce,
            max_length=call.max_length,
            receipts=call.receipts,
        )
    meta = StepMeta(session_id=call.session_id, step=call.step, open=opened, push_to=push_to)
    return SentStep(runtime_pb2.ExpertRequest(tensors=[proto], metadata=pack_metadata(meta)), tensor, data)


def encode_pushed_step(call: StepCall, pushed_by: str, push_to: PushTarget | None) -> runtime_pb2.ExpertRequest:
    """The request for a step whose input the previous hop's server (peer ``pushed_by``) pushes."""
    meta = StepMeta(session_id=call.session_id, step=call.step, pushed_by=pushed_by, push_to=push_to)
    return runtime_pb2.ExpertRequest(metadata=pack_metadata(meta))


def decode_reply(
    call: StepCall, sent: SentStep, response: runtime_pb2.ExpertResponse
) -> tuple[WireTensor, Signed[Receipt] | None]:
    """The output and its verified receipt; WireFormatError or ReceiptFault when the reply is wrong."""
    reply = unpack_metadata(response.metadata, StepReply)
    if reply.step != call.step or len(response.tensors) != 1:
        raise WireFormatError(
            f"reply for step {reply.step} with {len(response.tensors)} tensors; "
            f"expected one tensor for step {call.step}"
        )
    dtype, shape = call.server.announcement.dtype, tuple(sent.tensor.shape)
    output = tensor_from_proto(response.tensors[0], max_elements=sent.tensor.numel())
    if output.shape != shape or output.dtype != dtype:
        raise WireFormatError(f"output {output.dtype}{output.shape} does not match the input {dtype}{shape}")
    if not call.receipts:
        return output, None
    facts = StepFacts(
        server_key=call.server.announcement.server_key,
        model_id=call.model_id,
        weights_digest=call.server.announcement.weights_digest(call.start, call.end),
        block_start=call.start,
        block_end=call.end,
        dtype=dtype,
        session_id=call.session_id,
        client_nonce=call.client_nonce,
        step=call.step,
        prev_receipt=call.prev_receipt,
        input_digest=tensor_digest(dtype, shape, sent.data),
        input_shape=shape,
        output_digest=tensor_digest(dtype, shape, output.data),
        output_shape=shape,
    )
    return output, check_receipt(reply.receipt, facts)
