"""The benchmarks' CPU accounting: /proc read right, stretches cut from snapshots, per-step figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.concurrent_clients import steady_use
from bench.cpu_use import CpuSampler, CpuTally, Roles, process_seconds, snapshot, spent

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc: Linux only")


def burn(seconds: float) -> None:
    """Spend about ``seconds`` of this process's CPU time (measured as CPU, not wall time)."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_process_seconds_agrees_with_the_process_own_clock() -> None:
    before_proc, before_own = process_seconds(os.getpid()), time.process_time()
    burn(0.3)
    spent_proc, spent_own = process_seconds(os.getpid()) - before_proc, time.process_time() - before_own
    assert spent_proc == pytest.approx(spent_own, abs=0.05)  # /proc counts in clock ticks of 10 ms


@pytest.mark.processes
def test_a_process_that_is_gone_has_spent_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_seconds(child.pid) == 0.0


def test_the_clients_role_is_this_process_group() -> None:
    pids = Roles({}).pids()
    assert os.getpid() in pids["clients"]
    assert set(snapshot(pids)["clients"]) == set(pids["clients"])


def test_spent_is_per_role_and_counts_new_processes_from_zero() -> None:
    before = {"servers": {1: 2.0, 2: 1.0}, "clients": {3: 0.5}}
    after = {"servers": {1: 2.5, 2: 1.25, 4: 0.5}, "clients": {3: 1.5}}
    assert spent(before, after) == {"servers": 1.25, "clients": 1.0}


def sampler_with(samples: list[tuple[float, dict[str, dict[int, float]]]]) -> CpuSampler:
    sampler = CpuSampler(Roles({}))
    sampler.samples = samples
    return sampler


def test_a_stretch_runs_from_the_first_snapshot_in_it_to_the_last() -> None:
    sampler = sampler_with([(t, {"servers": {1: t * 2}}) for t in (0.0, 1.0, 2.0, 3.0, 4.0)])
    assert sampler.between(0.5, 3.5) == ({"servers": 4.0}, 2.0)  # snapshots at 1 and 3
    assert sampler.between(0.5, 1.5) is None  # one snapshot: no stretch to read


def test_the_steady_stretch_is_where_every_client_decodes() -> None:
    sampler = sampler_with([(t, {"servers": {1: t}}) for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)])
    # prefill first; client a decodes from 0.5 to 4.5, b from 1.5 to 3.5: every client decodes from 1.5 to 3.5,
    # whose snapshots are at 2 and 3; a and b each take one step in (2, 3]
    clients = [[0.0, 0.5, 2.5, 4.5], [0.0, 1.5, 2.9, 3.5]]
    assert steady_use(sampler, clients) == ({"servers": 1.0}, 1.0, 2)


def test_a_tally_gives_cpu_per_step_and_the_ceiling() -> None:
    tally = CpuTally()
    tally.add({"clients": 0.5, "servers": 1.5}, 1.0, 400)
    tally.add({"clients": 0.5, "servers": 1.5}, 1.0, 400)
    assert tally.cores_busy == 2.0
    assert tally.steps_per_second == 400
    assert tally.ms_per_step() == 5.0
    assert tally.ms_per_step("clients") == 1.25
    assert tally.ceiling(cores=4) == 800
