from __future__ import annotations

import msgpack
import pytest
import torch
from hivemind.proto import runtime_pb2

from swarmtrust.node.block_rpc import StepMeta, pack_metadata, tensor_from_proto, tensor_to_proto, unpack_metadata
from swarmtrust.protocol.errors import WireFormatError

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_tensors_cross_the_wire_exactly(dtype: torch.dtype) -> None:
    tensor = torch.randn(2, 3, 8).to(dtype)
    proto, data = tensor_to_proto(tensor)
    received = tensor_from_proto(runtime_pb2.Tensor.FromString(proto.SerializeToString()), max_elements=100)
    assert received.data == data and received.shape == (2, 3, 8)
    assert torch.equal(received.to_torch(), tensor)


@pytest.mark.parametrize(
    ("proto", "message"),
    [
        (runtime_pb2.Tensor(buffer=b"\0" * 8, size=[2], dtype="int32"), "not one of"),
        (runtime_pb2.Tensor(buffer=b"\0" * 8, size=[3], dtype="float32"), "needs 12 bytes"),
        (runtime_pb2.Tensor(buffer=b"", size=[1, 1, 1, 1], dtype="float32"), "1 to 3"),
        (runtime_pb2.Tensor(buffer=b"\0" * 4000, size=[1000], dtype="float32"), "over this server's limit"),
    ],
)
def test_bad_tensors_are_refused(proto: runtime_pb2.Tensor, message: str) -> None:
    with pytest.raises(WireFormatError, match=message):
        tensor_from_proto(proto, max_elements=100)


def test_metadata_is_strict_but_ignores_fields_from_newer_peers() -> None:
    meta = StepMeta(session_id=bytes(16), step=3)
    assert unpack_metadata(pack_metadata(meta), StepMeta) == meta
    newer = msgpack.packb({"session_id": bytes(16), "step": 3, "priority": 9}, use_bin_type=True)
    assert unpack_metadata(newer, StepMeta) == meta
    for bad, message in [
        ({"session_id": bytes(16), "step": "3"}, "step"),
        ({"session_id": bytes(15), "step": 3}, "session_id"),
        ({"session_id": bytes(16), "step": -1}, "step"),
    ]:
        with pytest.raises(WireFormatError, match=message):
            unpack_metadata(msgpack.packb(bad, use_bin_type=True), StepMeta)
    with pytest.raises(WireFormatError, match="over the limit"):
        unpack_metadata(b"\x00" * 20_000, StepMeta)
    with pytest.raises(WireFormatError):
        unpack_metadata(b"\xc1", StepMeta)
