"""``bench/gpu_check.py`` in its reduced form, as CI runs it: on a machine without CUDA both sides are the CPU,
so the pairing error is exactly the CPU's own; with CUDA the device's steps stay within reach of the replay."""

from __future__ import annotations

import math

import pytest
import torch

from bench import gpu_check
from swarmtrust.node.device import resolve_device

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # loads the model thrice; the report asks git for the commit


def test_the_reduced_check_measures_every_dtype_and_says_what_it_ran_on() -> None:
    device = resolve_device("auto")
    figures = gpu_check.measure(1, device)
    assert [f.dtype for f in figures] == ["float32", "bfloat16", "float16"]
    for f in figures:
        assert all(math.isfinite(v) and v >= 0 for v in (f.pairing_error, f.cpu_error))
        assert f.device_steps_per_s > 0 and f.cpu_steps_per_s > 0
        if device.type == "cpu":
            assert f.pairing_error == f.cpu_error, "the same computation on both sides"
        else:
            assert f.pairing_error < 0.5, "a GPU's honest steps are near the CPU's replay"
    section = gpu_check.run(sessions=1)
    assert section.name == "gpu-check" and "| float16 |" in section.markdown
    assert ("reduced form" in section.markdown) == (not torch.cuda.is_available())
