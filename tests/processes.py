"""Real swarm processes for tests: a DHT bootstrap and block servers, each its own OS process.

Every process is started in a new session (its own process group), so that stopping it also ends what
it started (its forked DHT process and p2pd daemons), by that group's id, even after a ``kill -9``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SWARMTRUST = [sys.executable, "-m", "swarmtrust"]
START_TIMEOUT = 120.0


@dataclass
class SwarmProcess:
    name: str
    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def read_line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"{self.name} printed nothing within {timeout:.0f} s; its log:\n{self.stderr()}"
            ) from None

    def stderr(self) -> str:
        return "".join(self.log[-60:])

    def kill_hard(self) -> None:
        """``kill -9`` of the process itself, as a crash; its children are ended by ``stop``."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean leave), then SIGKILL to the whole process group if anything lingers."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # the group id is the pid: start_new_session=True
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def descendants(self) -> list[int]:
        """Pids of every live process in this process's group (itself, its DHT process, its p2pd)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getpgid(int(entry.name)) == self.pid:
                        found.append(int(entry.name))
        return found


def launch(name: str, args: list[str], env: dict[str, str] | None = None) -> SwarmProcess:
    popen = subprocess.Popen(
        [*SWARMTRUST, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    process = SwarmProcess(name, popen)
    threading.Thread(target=_pump, args=(popen.stdout, process.lines.put), daemon=True).start()
    threading.Thread(target=_pump, args=(popen.stderr, process.log.append), daemon=True).start()
    return process


def _pump(stream: Any, sink: Any) -> None:
    for line in stream:
        sink(line)


class Swarm:
    """Processes of one test swarm; ``close`` stops all of them, whatever happened."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[SwarmProcess] = []
        self.peer = ""

    def start_dht(self) -> str:
        dht = launch("dht", ["dht", "start"])
        self.processes.append(dht)
        self.peer = dht.read_line(START_TIMEOUT).strip()
        assert self.peer.startswith("/ip4/127.0.0.1/tcp/"), self.peer
        return self.peer

    def launch_server(self, name: str, blocks: str, *extra: str) -> SwarmProcess:
        key = self.workdir / f"{name}.key"
        if not key.exists():
            from node.keys import generate_key_file

            generate_key_file(key)
        server = launch(
            name,
            ["node", "start", "--key", str(key), "--blocks", blocks, "--initial-peers", self.peer,
             "--torch-threads", "1", "--name", name, *extra],
        )  # fmt: skip
        self.processes.append(server)
        return server

    @staticmethod
    def ready(server: SwarmProcess) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(server.read_line(START_TIMEOUT))
        assert info["event"] == "ready", info
        return info

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@contextlib.contextmanager
def running_swarm(workdir: Path) -> Iterator[Swarm]:
    swarm = Swarm(workdir)
    try:
        yield swarm
    finally:
        swarm.close()


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
