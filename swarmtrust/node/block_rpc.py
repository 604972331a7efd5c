"""The block-server protocol over hivemind P2P: handler names, message metadata, tensors on the wire.

Requests and responses are hivemind's ``ExpertRequest`` / ``ExpertResponse`` protobufs: tensors as raw
little-endian bytes with dtype and shape, metadata as msgpack validated by strict pydantic models.

Inference session (a bidirectional stream, one response per request):
    request 0:  metadata OpenSession + StepMeta(step=0), tensors [hidden]  (may be a prefill of many tokens)
    request k:  metadata StepMeta(step=k), tensors [hidden]
    response k: metadata StepReply(step=k, receipt=signed receipt bytes), tensors [output]
The client ends the session by closing its request stream.

Pushed steps (a chain's decode steps): the client sends step k to every hop at once; the first carries
the hidden states and ``push_to`` the next hop's session, the others no tensor but ``pushed_by``, the
peer whose output is their input. Each server sends its output straight to the next one on a push
stream (metadata PushMeta, tensors [output]) before it answers its client, so the hidden states
cross the network once per hop instead of twice. A server takes a pushed input only from the peer
its client named; the receipts still bind every input and output, and the client checks that each
hop's input digest is the previous hop's output digest.

Forward (unary): metadata OpenSession, tensors [hidden]; response as for one step (step 0).
"""

from __future__ import annotations

import math
from typing import Annotated, TypeVar

import msgpack
import torch
from hivemind.proto import runtime_pb2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swarmtrust.node.tensors import TORCH_DTYPES, little_endian_bytes, wire_dtype
from swarmtrust.protocol.digests import DTYPE_SIZES
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import CLIENT_NONCE_SIZE, SESSION_ID_SIZE

INFERENCE_HANDLER = "swarmtrust.block.inference.v1"
PUSH_HANDLER = "swarmtrust.block.push.v1"
FORWARD_HANDLER = "swarmtrust.block.forward.v1"

MAX_METADATA_BYTES = 16_384
MAX_TENSOR_DIMS = 3


M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")  # newer peers may add fields


SessionId = Annotated[bytes, Field(min_length=SESSION_ID_SIZE, max_length=SESSION_ID_SIZE)]
Nonce = Annotated[bytes, Field(min_length=CLIENT_NONCE_SIZE, max_length=CLIENT_NONCE_SIZE)]


class OpenSession(_Strict):
    """What a client asks for when it opens a session (or sends a stateless forward)."""

    model_id: str = Field(min_length=1, max_length=200)
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    session_id: SessionId
    client_nonce: Nonce
    max_length: int = Field(default=2048, ge=1)  # tokens the session may reach; the server may refuse
    receipts: bool = True  # False only for the receipt-overhead benchmark


class PushMeta(_Strict):
    """Where a pushed output goes: a session on the receiving server, and its step."""

    session_id: SessionId
    step: int = Field(ge=0)


class PushTarget(PushMeta):
    peer_id: str = Field(min_length=1, max_length=128)  # base58 peer id of the next hop's server


class StepMeta(_Strict):
    session_id: SessionId
    step: int = Field(ge=0)
    open: OpenSession | None = None
    push_to: PushTarget | None = None  # also send this step's output to the next hop
    pushed_by: str | None = Field(default=None, min_length=1, max_length=128)  # input comes from this peer


class StepReply(_Strict):
    step: int = Field(ge=0)
    receipt: bytes | None = None


def pack_metadata(model: BaseModel) -> bytes:
    return msgpack.packb(model.model_dump(), use_bin_type=True)  # type: ignore[no-any-return]


def unpack_metadata(data: bytes, model: type[M]) -> M:
    if len(data) > MAX_METADATA_BYTES:
        raise WireFormatError(f"metadata of {len(data)} bytes is over the limit of {MAX_METADATA_BYTES}")
    try:
        return model.model_validate(msgpack.unpackb(data, raw=False))
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise WireFormatError(f"bad {model.__name__} metadata: {_first_error(exc)}") from exc


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
    return str(exc)


class WireTensor:
    """A tensor as received: its exact bytes (what the digest covers), dtype and shape."""

    def __init__(self, data: bytes, dtype: str, shape: tuple[int, ...]) -> None:
        self.data, self.dtype, self.shape = data, dtype, shape

    def to_torch(self) -> torch.Tensor:
        if not self.data:
            return torch.empty(self.shape, dtype=TORCH_DTYPES[self.dtype])
        return torch.frombuffer(bytearray(self.data), dtype=TORCH_DTYPES[self.dtype]).reshape(self.shape)


def tensor_to_proto(tensor: torch.Tensor) -> tuple[runtime_pb2.Tensor, bytes]:
    """The protobuf carrying ``tensor``, and the bytes it carries (for the digest, without a second copy)."""
    data = bytes(little_endian_bytes(tensor))
    return runtime_pb2.Tensor(buffer=data, size=list(tensor.shape), dtype=wire_dtype(tensor)), data


def tensor_from_proto(proto: runtime_pb2.Tensor, *, max_elements: int) -> WireTensor:
    """Strictly decode a tensor: known dtype, 1 to 3 dims, the byte count its shape needs, size-limited."""
    itemsize = DTYPE_SIZES.get(proto.dtype)
    if itemsize is None:
        raise WireFormatError(f"tensor dtype {proto.dtype!r} is not one of {sorted(DTYPE_SIZES)}")
    shape = tuple(int(d) for d in proto.size)
    if not 1 <= len(shape) <= MAX_TENSOR_DIMS or any(d < 0 for d in shape):
        raise WireFormatError(f"tensor shape {shape} is not 1 to {MAX_TENSOR_DIMS} non-negative dims")
    elements = math.prod(shape)
    if elements > max_elements:
        raise WireFormatError(f"tensor of {elements} elements is over this server's limit of {max_elements}")
    if len(proto.buffer) != elements * itemsize:
        raise WireFormatError(f"tensor of shape {shape} and dtype {proto.dtype} needs {elements * itemsize} bytes")
    return WireTensor(bytes(proto.buffer), proto.dtype, shape)
