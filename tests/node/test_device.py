"""``--device``: names resolve to what this machine has, a missing CUDA device is one clear error, and a span
on an explicit device computes what the default does. (A GPU's own figures: ``bench/gpu_check.py``.)"""

from __future__ import annotations

import pytest
import torch

from swarmtrust.node.device import DeviceError, device_class, resolve_device
from swarmtrust.node.model.source import resolve_model
from swarmtrust.node.model.span import CacheState, Span

HAS_CUDA = torch.cuda.is_available()


def test_auto_is_cuda_when_present_else_the_cpu() -> None:
    assert resolve_device("auto") == (torch.device("cuda:0") if HAS_CUDA else torch.device("cpu"))
    assert resolve_device(" CPU ") == torch.device("cpu") and device_class(torch.device("cpu")) == "cpu"


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cuda:-1", "gpu", ""])
def test_a_name_that_is_no_device_is_refused_with_the_choices(name: str) -> None:
    with pytest.raises(DeviceError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device(name)


def test_a_cuda_device_this_machine_lacks_is_refused_with_advice() -> None:
    beyond = torch.cuda.device_count() if HAS_CUDA else 0
    with pytest.raises(DeviceError, match=r"this machine has .*use --device cpu"):
        resolve_device(f"cuda:{beyond}")


def test_a_span_on_an_explicit_device_computes_what_the_default_does() -> None:
    source = resolve_model("tiny")
    hidden = torch.randn(1, 5, 64, generator=torch.Generator().manual_seed(3))
    default, placed = Span.load(source, 0, 4), Span.load(source, 0, 4, device=resolve_device("auto"))
    state_a, state_b = CacheState(), CacheState()
    out_a, out_b = default.forward(hidden, state_a), placed.forward(hidden, state_b)
    assert out_b.device.type == "cpu", "outputs come back on the CPU for digests and the wire"
    tolerance = 0 if not HAS_CUDA else 1e-3
    assert float((out_a - out_b).abs().max()) <= tolerance
    step = torch.randn(1, 1, 64, generator=torch.Generator().manual_seed(4))
    assert float((default.forward(step, state_a) - placed.forward(step, state_b)).abs().max()) <= tolerance
