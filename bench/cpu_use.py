"""CPU time a local swarm's processes spend, by role, over a stretch of a benchmark (read from ``/proc``).

Where every party of a swarm shares one machine's cores, what one step costs the machine in all (clients, servers,
their p2p daemons, the ledger) bounds the steps per second it can reach: ``cores ÷ CPU per step``. A benchmark
that measures throughput measures this beside it, to tell a machine that is full from a pipeline that waits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from swarmtrust.launcher import ChildProcess, process_group

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """User and system CPU seconds a live process has spent (0 for one that is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the command name, in brackets, may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


@dataclass(frozen=True)
class Roles:
    """Which processes play which part: each launched process with its group (its DHT process and p2p daemon),
    and ``clients``: this process's own group (the benchmark's client threads and their p2p daemon)."""

    groups: Mapping[str, Sequence[ChildProcess]]

    def pids(self) -> dict[str, list[int]]:
        by_role = {role: [pid for p in processes for pid in p.group()] for role, processes in self.groups.items()}
        by_role["clients"] = process_group(os.getpgid(0))
        return by_role


def snapshot(pids: Mapping[str, Sequence[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each of ``pids``, by role."""
    return {role: {pid: process_seconds(pid) for pid in role_pids} for role, role_pids in pids.items()}


def spent(before: Mapping[str, Mapping[int, float]], after: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """CPU seconds each role spent between two snapshots (processes that started in between count from zero)."""
    return {
        role: sum(seconds - before.get(role, {}).get(pid, 0.0) for pid, seconds in pids.items())
        for role, pids in after.items()
    }


class CpuSampler:
    """Snapshots of ``roles`` every ``interval`` seconds on a thread of its own, while in the ``with`` block, so
    that the CPU spent in a stretch known only afterwards (while every client was decoding) can be read off."""

    def __init__(self, roles: Roles, interval: float = 0.05) -> None:
        self._pids = roles.pids()  # found once: scanning /proc at every snapshot would load the machine measured
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="cpu-sampler", daemon=True)
        self.samples: list[tuple[float, dict[str, dict[int, float]]]] = []

    def _sample(self) -> None:
        while True:
            self.samples.append((time.perf_counter(), snapshot(self._pids)))
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), snapshot(self._pids)))

    def between(self, start: float, end: float) -> tuple[dict[str, float], float] | None:
        """CPU seconds by role and the wall seconds from the first snapshot at or after ``start`` to the last at
        or before ``end`` (``time.perf_counter`` times); None when no two snapshots lie in between."""
        inside = [(at, taken) for at, taken in self.samples if start <= at <= end]
        if len(inside) < 2:
            return None
        (first_at, first), (last_at, last) = inside[0], inside[-1]
        return spent(first, last), last_at - first_at


@dataclass
class CpuTally:
    """CPU seconds by role, wall seconds and steps, summed over the measured stretches of one configuration."""

    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    steps: float = 0.0

    def add(self, used: Mapping[str, float], wall: float, steps: float) -> None:
        for role, seconds in used.items():
            self.seconds[role] = self.seconds.get(role, 0.0) + seconds
        self.wall += wall
        self.steps += steps

    @property
    def cores_busy(self) -> float:
        return sum(self.seconds.values()) / self.wall

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall

    def ms_per_step(self, role: str | None = None) -> float:
        """CPU milliseconds a step cost the machine: all roles, or one."""
        total = sum(self.seconds.values()) if role is None else self.seconds.get(role, 0.0)
        return 1000 * total / self.steps

    def ceiling(self, cores: int) -> float:
        """Steps per second this machine would reach were all its cores busy at this CPU per step."""
        return cores * 1000 / self.ms_per_step()
