"""Escalation to a stepwise replay (``verifier.escalation``): its cost against a prefill replay, whether it
reproduces a server's bits, and what it catches of noise at 1e-3, 3e-3 and 1e-2 that one prefill does not.

``python -m bench.escalation [--tolerances FILE] [--sessions N]`` prints its section; ``python -m bench.run
escalation`` writes it into docs/BENCHMARKS.md. Sessions are the calibration's (``verifier.calibration``: real
token embeddings through every block of ``tiny``, a prompt then one token a step, batches 1 to 8), each
checked on its random span, on one torch thread; the thresholds are the shipped tolerance documents'.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field

import torch

from bench.report import Section, Target, machine_summary, table
from swarmtrust.node.behaviors import BehaviorRuntime, parse_behavior
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.source import resolve_model
from swarmtrust.verifier.calibration import Calibration, judge, replay_of
from swarmtrust.verifier.escalation import NEAR, SHARE, first_difference, replay_stepwise, replay_stepwise_with_scales
from swarmtrust.verifier.tolerance import load_tolerances
from swarmtrust.verifier.tolerance_document import Tolerances

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
NOISES = ("noise:0.001", "noise:0.003", "noise:0.01")
SESSIONS = 120  # per dtype
THREADED = 4  # every this many sessions, also served at 2 threads
LOW_NEAR = 0.3  # a lower nearness, for comparison
TARGET = 0.9  # share of noise:0.003 sessions caught with escalation, in bfloat16 and float16


@dataclass(frozen=True)
class Judged:
    """One session of a behaviour: caught by the prefill, its largest severity, whether its bits differ."""

    prefill: bool
    severity: float
    differs: bool


@dataclass
class Caught:
    """One behaviour's sessions."""

    judged: list[Judged] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        return len(self.judged)

    def prefill(self) -> float:
        return sum(j.prefill for j in self.judged) / self.sessions

    def near(self, near: float) -> float:
        """The share of sessions the prefill passes and nearness escalates."""
        return sum(not j.prefill and j.severity >= near for j in self.judged) / self.sessions

    def with_policy(self, near: float, share: float) -> float:
        """The expected share caught when checks escalate at ``near`` and a random ``share`` of the rest, bits
        compared."""
        caught = 0.0
        for j in self.judged:
            escalated = 1.0 if j.severity >= near else share
            caught += 1.0 if j.prefill else escalated * j.differs
        return caught / self.sessions

    def every_check(self) -> float:
        return sum(j.prefill or j.differs for j in self.judged) / self.sessions


@dataclass
class DtypeRun:
    dtype: str
    prefill_seconds: float = 0.0
    stepwise_seconds: float = 0.0
    scaled_seconds: float = 0.0  # stepwise with inner scales (comparison by thresholds)
    exact: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0})  # threads -> sessions bit-identical
    tried: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0})
    honest: Caught = field(default_factory=Caught)  # honest "caught" by the prefill: false positives
    noise: dict[str, Caught] = field(default_factory=lambda: {n: Caught() for n in NOISES})


def measure(dtype: str, tolerances: Tolerances, sessions: int) -> DtypeRun:
    source = resolve_model("tiny")
    run = Calibration(source, ModelHead(source), dtype, seed=11)
    result = DtypeRun(dtype)
    for index in range(sessions):
        served = run.session()
        start, end = served.span
        span, inputs, honest = run.span(start, end), served.states[start], served.states[end]
        tolerance = tolerances.span("tiny", start, end, dtype)  # fails by its thresholds, escalates by suspicion
        began = time.perf_counter()
        prefill = replay_of(span, inputs)
        result.prefill_seconds += time.perf_counter() - began
        began = time.perf_counter()
        stepwise = replay_stepwise(span, inputs)
        result.stepwise_seconds += time.perf_counter() - began
        began = time.perf_counter()
        replay_stepwise_with_scales(span, inputs)
        result.scaled_seconds += time.perf_counter() - began
        steps = range(len(inputs))
        result.tried[1] += 1
        result.exact[1] += first_difference(steps, honest, stepwise) is None
        if index % THREADED == 0:
            torch.set_num_threads(2)
            at_two = replay_stepwise(span, inputs)  # a server of the span on two threads
            torch.set_num_threads(1)
            result.tried[2] += 1
            result.exact[2] += first_difference(steps, at_two, stepwise) is None
        outcomes = {"honest": (result.honest, honest)}
        for behavior in NOISES:
            runtime = BehaviorRuntime(parse_behavior(behavior), seed=index)
            outcomes[behavior] = (result.noise[behavior], [runtime.finish_step(y) for y in honest])
        for caught, outputs in outcomes.values():
            statistics = judge(prefill, outputs)
            severity = max(tolerance.suspicion_for(statistics).severity(statistics).values())
            differs = first_difference(steps, outputs, stepwise) is not None
            failed = bool(tolerance.for_session(statistics).exceeded(statistics))
            caught.judged.append(Judged(failed, severity, differs))
    return result


def run(tolerances_path: str | None = None, sessions: int = SESSIONS) -> Section:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tolerances = load_tolerances(tolerances_path)
        runs = []
        for dtype in DTYPES:
            if dtype not in tolerances.dtypes("tiny"):
                log.warning("escalation: no tolerance document for tiny in %s; skipped", dtype)
                continue
            log.info("escalation: %s ...", dtype)
            runs.append(measure(dtype, tolerances, sessions))
    finally:
        torch.set_num_threads(threads)
    return _section(runs, sessions)


def _section(runs: list[DtypeRun], sessions: int) -> Section:
    cost_rows, detect_rows, targets = [], [], []
    for r in runs:
        honest = r.honest
        escalated = honest.near(NEAR) + SHARE * (1 - honest.near(NEAR) - honest.prefill())
        ratio = r.stepwise_seconds / r.prefill_seconds
        cost_rows.append(
            [
                r.dtype,
                f"{r.prefill_seconds / sessions * 1e3:.1f} ms",
                f"{r.stepwise_seconds / sessions * 1e3:.1f} ms",
                f"{ratio:.2f}",
                f"{r.scaled_seconds / r.prefill_seconds:.2f}",
                f"{r.exact[1]}/{r.tried[1]}",
                f"{r.exact[2]}/{r.tried[2]}",
                f"{honest.near(NEAR):.0%} ({honest.near(LOW_NEAR):.0%} at {LOW_NEAR})",
                f"{escalated * ratio:.2f}",
            ]
        )
        for behavior, caught in r.noise.items():
            detect_rows.append(
                [
                    r.dtype,
                    behavior,
                    f"{caught.prefill():.0%}",
                    f"{caught.near(NEAR):.0%}",
                    f"{caught.with_policy(NEAR, SHARE):.0%}",
                    f"{caught.with_policy(LOW_NEAR, SHARE):.0%}",
                    f"{caught.every_check():.0%}",
                ]
            )
            if behavior == "noise:0.003" and r.dtype in ("bfloat16", "float16"):
                share = caught.with_policy(NEAR, SHARE)
                targets.append(
                    Target(f"{behavior} caught with escalation, {r.dtype}", f"{share:.0%}", "≥ 90%", share >= TARGET)
                )
    cost_header = [
        "dtype", "prefill replay", "stepwise replay", "stepwise ÷ prefill", "with scales ÷ prefill",
        "bit-exact, 1 thread", "bit-exact, 2 threads", "honest near", "extra cost per check",
    ]  # fmt: skip
    detect_header = [
        "dtype", "behaviour", "prefill alone", "escalated by nearness", "with escalation",
        f"with escalation at near {LOW_NEAR}", "every check escalated",
    ]  # fmt: skip
    markdown = "\n\n".join(
        [
            "## Escalation: a stepwise replay for what one prefill cannot see",
            f"Machine: {machine_summary()}; one torch thread. {sessions} sessions per dtype, as calibration serves "
            "them (`tiny`, batches 1 to 8, a prompt of 1 to 64 tokens then 0 to 48 decode steps), each checked on its "
            "random span against the shipped thresholds. A stepwise replay redoes the server's computation (the "
            "same chunks, a fresh KV cache): its cost against the check's prefill replay, whether it reproduced the "
            "served bits (a server on 1 thread; every few sessions also one on 2 threads), and the share of honest "
            f"checks that reach {NEAR} of a threshold (and {LOW_NEAR}), escalated by nearness; a further "
            f"{SHARE:.0%} of the others are escalated at random. Extra cost: the time escalation adds to a check on "
            "average, in prefill replays.",
            table(cost_header, cost_rows),
            "Noise at 1e-3, 3e-3 and 1e-2 of the output's RMS on every step (`noise:SCALE`): the share of sessions "
            "caught by the prefill statistics alone, the share it passes that nearness escalates, the expected share "
            f"caught with escalation as the default policy draws it (near {NEAR}, share {SHARE}) with bits compared "
            f"(exact comparison on), the same at near {LOW_NEAR}, and the share if every check were escalated.",
            table(detect_header, detect_rows),
            "Exact comparison is off by default (`EscalationPolicy.exact`): receipts do not say which hardware a "
            "server ran on, and an honest server on another class differs in its bits (docs/verification.md).",
        ]
    )
    return Section("escalation", markdown, tuple(targets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tolerances", help="tolerance documents to judge by (default: the shipped ones)")
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="sessions per dtype")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    section = run(args.tolerances, args.sessions)
    print(section.markdown)
    for target in section.targets:
        print(f"{target.what}: {target.measured} (target {target.target}, {'met' if target.met else 'NOT met'})")


if __name__ == "__main__":
    main()
