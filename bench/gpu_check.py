"""A server on this machine's accelerator, checked by a verifier on the CPU: ``python -m bench.run gpu-check``.

On a machine with CUDA, ``tiny``'s blocks are served on the GPU step by step (a KV cache, as a block server
does) and replayed on the CPU as one prefill (as a verifier does), in each serving dtype. Reported per dtype:

- **speed**: decode steps per second of the span on the device against the CPU, in the same run;
- **pairing error**: the largest relative error between the device's steps and the CPU's replay, against the
  same figure with the steps served on the CPU. This ratio is what a CPU verifier's tolerance must allow for
  a GPU server beyond what its own calibration on CPU saw: the input a calibration of the pairing needs.

With CUDA it then calibrates the pairing (``swarmtrust verifier calibrate --device cpu --server-device cpu
--server-device cuda``, shortened): the thresholds a CPU verifier needs for honest servers on the CPU and the
GPU, against those of a calibration on the CPU alone, and the held-out false positives of each.

Without CUDA it runs in a reduced form (a few sessions, the CPU on both sides, no calibration), which CI runs:
the figures then say nothing of a GPU and the section says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import torch

from bench.report import Section, machine_summary, median, table
from swarmtrust.node.device import device_class, resolve_device
from swarmtrust.node.model.source import resolve_model
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.verifier.calibration import calibrate
from swarmtrust.verifier.replay import replay_session

PROMPT = 16
DECODE_STEPS = 16


@dataclass(frozen=True)
class DtypeFigures:
    dtype: str
    device_steps_per_s: float
    cpu_steps_per_s: float
    pairing_error: float  # device steps against the CPU's replay
    cpu_error: float  # CPU steps against the CPU's replay: what a calibration on CPU saw


def session_inputs(hidden_size: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, PROMPT + DECODE_STEPS, hidden_size, generator=generator)
    return [hidden[:, :PROMPT]] + [hidden[:, t : t + 1] for t in range(PROMPT, PROMPT + DECODE_STEPS)]


def serve(span: Span, inputs: list[torch.Tensor]) -> tuple[list[torch.Tensor], float]:
    """The span's step-by-step outputs and its decode steps per second."""
    state, outputs, seconds = CacheState(), [], 0.0
    for step, x in enumerate(inputs):
        if span.device.type == "cuda":
            torch.cuda.synchronize(span.device)
        started = time.perf_counter()
        outputs.append(span.forward(x, state).float())  # .forward returns on the CPU: the device is done
        if step:
            seconds += time.perf_counter() - started
    return outputs, DECODE_STEPS / seconds


def relative_error(served: list[torch.Tensor], replayed: list[torch.Tensor]) -> float:
    worst = 0.0
    for got, want in zip(served, replayed, strict=True):
        scale = float(want.float().abs().max()) or 1.0
        worst = max(worst, float((got.float() - want.float()).abs().max()) / scale)
    return worst


def measure(sessions: int, device: torch.device) -> list[DtypeFigures]:
    source = resolve_model("tiny")
    figures = []
    for name, dtype in TORCH_DTYPES.items():
        on_device = Span.load(source, 0, 8, dtype, device)
        on_cpu = Span.load(source, 0, 8, dtype)
        device_speed, cpu_speed, pairing, cpu_error = [], [], 0.0, 0.0
        for seed in range(sessions):
            inputs = [x.to(dtype) for x in session_inputs(on_cpu.hidden_size, seed)]
            replayed = replay_session(on_cpu, inputs)  # the verifier, on the CPU
            served, speed = serve(on_device, inputs)
            cpu_served, cpu_speed_now = serve(on_cpu, inputs)
            device_speed.append(speed)
            cpu_speed.append(cpu_speed_now)
            pairing = max(pairing, relative_error(served, replayed))
            cpu_error = max(cpu_error, relative_error(cpu_served, replayed))
        figures.append(DtypeFigures(name, median(device_speed), median(cpu_speed), pairing, cpu_error))
    return figures


CALIBRATION_SESSIONS = 200  # per dtype and pairing: enough for a tail fit, short enough for a lent GPU


def pairing_calibration(servers: dict[str, torch.device], sessions: int) -> list[list[str]]:
    """Per dtype: a calibration replaying on the CPU with honest servers on ``servers``, against one served on
    the CPU alone; the rows of the thresholds' growth (span 0:8) and each one's held-out false positives."""
    cpu = torch.device("cpu")
    shortened = partial(
        calibrate, seconds=600.0, max_sessions=sessions, adversary_sessions=20, seed=0, crafted_seconds=0.0, device=cpu
    )
    rows = []
    for name in TORCH_DTYPES:
        (alone,) = shortened("tiny", [name], servers={"cpu": cpu})
        (paired,) = shortened("tiny", [name], servers=servers)
        # the thresholds fitted on honest sessions, before the (time-bounded, so noisy) crafted-input raise
        fitted = [d["crafted"]["spans"]["0:8"]["fitted"] for d in (alone, paired)]
        growth = [fitted[1][s] / fitted[0][s] for s in ("decode_max_rel", "pooled_rel")]
        held = [d["held_out"]["per_span"] for d in (alone, paired)]
        rows.append(
            [name, f"{growth[0]:.2f}×", f"{growth[1]:.2f}×"]
            + [f"{h['false_positives']} / {h['span_sessions']}" for h in held]
        )
    return rows


def run(sessions: int | None = None) -> Section:
    device = resolve_device("auto")
    reduced = device.type != "cuda"
    count = sessions if sessions is not None else (3 if reduced else 20)
    figures = measure(count, device)
    rows = [
        [
            f.dtype,
            f"{f.device_steps_per_s:,.0f}",
            f"{f.cpu_steps_per_s:,.0f}",
            f"{f.device_steps_per_s / f.cpu_steps_per_s:.2f}×",
            f"{f.pairing_error:.2e}",
            f"{f.cpu_error:.2e}",
            f"{f.pairing_error / f.cpu_error:.1f}×" if f.cpu_error > 0 else "-",
        ]
        for f in figures
    ]
    where = device_class(device)
    note = (
        "No CUDA device here: the reduced form, the CPU on both sides, so the figures say nothing of a GPU; "
        "on a machine with one, the same command measures it."
        if reduced
        else f"Served on {where}, replayed on the CPU."
    )
    markdown = "\n".join(
        [
            "## A server on a GPU, a verifier on the CPU (issue 19)",
            "",
            f"Machine: {machine_summary()}; device: {where}. `tiny`, blocks 0:8, {count} sessions of a "
            f"{PROMPT}-token prompt and {DECODE_STEPS} decode steps per dtype, served step by step on the device "
            "and replayed as one prefill on the CPU. Relative error: the largest |served − replayed| over the "
            "largest |replayed|, over every step. " + note,
            "",
            table(
                [
                    "dtype",
                    "device steps/s",
                    "CPU steps/s",
                    "speed-up",
                    "device vs CPU replay",
                    "CPU vs CPU replay",
                    "pairing ÷ CPU",
                ],
                rows,
            ),
            "",
            "The last column is the factor by which a CPU verifier's honest-error tolerance, calibrated on the "
            "CPU, must grow to pass this device's honest servers.",
        ]
    )
    if not reduced:
        rows = pairing_calibration({"cpu": torch.device("cpu"), "cuda": device}, CALIBRATION_SESSIONS)
        markdown += "\n".join(
            [
                "",
                "",
                f"Calibrated for the pairing ({CALIBRATION_SESSIONS} honest sessions per dtype, served in turn on "
                "the CPU and the GPU, replayed on the CPU), against a calibration served on the CPU alone:",
                "",
                table(
                    [
                        "dtype",
                        "fitted decode max, paired ÷ CPU",
                        "fitted pooled, paired ÷ CPU",
                        "held-out FP, CPU alone",
                        "held-out FP, paired",
                    ],
                    rows,
                ),
            ]
        )
    return Section("gpu-check", markdown)
