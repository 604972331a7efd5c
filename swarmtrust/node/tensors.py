"""Torch adapter for digests and sketches: the only part of the wire-format code that imports torch."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from swarmtrust.protocol.digests import tensor_digest
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_SKETCH

_WIRE_DTYPES: dict[torch.dtype, str] = {
    torch.float32: "float32",
    torch.bfloat16: "bfloat16",
    torch.float16: "float16",
}
TORCH_DTYPES: dict[str, torch.dtype] = {name: dtype for dtype, name in _WIRE_DTYPES.items()}


@dataclass(frozen=True)
class TensorFingerprint:
    """What a receipt records of a tensor."""

    digest: bytes
    dtype: str
    shape: tuple[int, ...]


def wire_dtype(tensor: torch.Tensor) -> str:
    try:
        return _WIRE_DTYPES[tensor.dtype]
    except KeyError:
        raise WireFormatError(
            f"tensors of dtype {tensor.dtype} are not carried; use one of {sorted(TORCH_DTYPES)}"
        ) from None


def little_endian_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's elements as contiguous little-endian bytes, without a copy when already so laid out."""
    flat = tensor.detach().to("cpu").contiguous()
    if sys.byteorder != "little":
        flat = flat.view(torch.uint8).view(-1, flat.element_size()).flip(-1).contiguous()
    return flat.view(torch.uint8).numpy().data.cast("B")


def fingerprint(tensor: torch.Tensor) -> TensorFingerprint:
    dtype = wire_dtype(tensor)
    shape = tuple(tensor.shape)
    return TensorFingerprint(tensor_digest(dtype, shape, little_endian_bytes(tensor)), dtype, shape)


def output_sketch(tensor: torch.Tensor, k: int = 16) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Flat indices and values of the ``k`` largest-magnitude elements (TOPLOC-style sketch)."""
    if not 0 < k <= MAX_SKETCH:
        raise ValueError(f"a sketch has 1 to {MAX_SKETCH} entries, asked for {k}")
    flat = tensor.detach().reshape(-1).float()
    top = torch.topk(flat.abs(), min(k, flat.numel()))
    indices = tuple(int(i) for i in top.indices.tolist())
    return indices, tuple(float(flat[i]) for i in indices)
