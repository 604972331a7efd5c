"""Running swarm roles as child processes on this machine: for the demo, the benchmarks and the tests.

Every child starts in a new session (its own process group), so stopping it also ends what it started
itself (its forked DHT process and p2pd daemons), by that group's id, even after a ``kill -9``.

    with LocalSwarm(workdir) as swarm:
        swarm.start_dht()
        server = swarm.launch_server("a", "0:4")
        info = swarm.ready(server)
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from swarmtrust.protocol.errors import SwarmtrustError

SWARMTRUST = [sys.executable, "-m", "swarmtrust"]
START_TIMEOUT = 120.0  # seconds for a child to print its first line (imports, model load, DHT join)
TINY_FLOAT32: Mapping[str, Sequence[str]] = {"tiny": ("float32",)}  # what the demo and live tests register
EOF = ""  # what ``read_line`` finds once a child closed its output (every real line ends with a newline)


class LaunchError(SwarmtrustError):
    """A child process did not start as expected; the message carries the end of its log."""


@dataclass
class ChildProcess:
    name: str
    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)  # what it prints on stdout
    log: list[str] = field(default_factory=list)  # what it prints on stderr
    log_done: threading.Event = field(default_factory=threading.Event)  # stderr read to its end

    @property
    def pid(self) -> int:
        return self.popen.pid

    def read_line(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            state = "exited" if self.popen.poll() is not None else "still running"
            raise LaunchError(
                f"{self.name} ({state}) printed nothing within {timeout:.0f} s:\n{self.stderr()}"
            ) from None
        if line == EOF:  # it closed its output, so it is ending: say why at once rather than at the timeout
            self.lines.put(EOF)
            self.log_done.wait(10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(10)
            raise LaunchError(f"{self.name} exited ({self.popen.poll()}) without a line to read:\n{self.stderr()}")
        return line

    def stderr(self) -> str:
        """The last lines it wrote to stderr (for error messages)."""
        return "".join(self.log[-60:])

    def save_log(self, path: Path) -> None:
        """Everything it wrote to stderr, into ``path``."""
        path.write_text("".join(self.log))

    def kill_hard(self) -> None:
        """``kill -9`` of the process itself, as a crash would; ``stop`` ends what it leaves behind."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean leave), then SIGKILL to its whole process group if anything lingers."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # its group id is its pid (start_new_session=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)

    def group(self) -> list[int]:
        """Pids of every live process in its group: itself, its DHT process, its p2pd daemons."""
        return process_group(self.pid)


def process_group(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
    return found


def tolerance_records(
    calibration_file: Path | None,
    model_id: str,
    dtypes: Sequence[str],
    calibrator: Any,
    held: Mapping[str, Any],
) -> list[bytes]:
    """Signed tolerance records of ``model_id`` for those of ``dtypes`` the calibration file (default: shipped)
    holds a document for (each replay device kind's), skipping any the ledger ``held`` already (its
    ``tolerances`` answer, by dtype then device kind: the same document by the same calibrator, so a restart on
    the same database logs nothing new)."""
    from importlib import resources

    from swarmtrust.protocol.model_records import ToleranceRecord, document_device
    from swarmtrust.protocol.signing import open_signed
    from swarmtrust.verifier.tolerance_records import sign_tolerance

    if calibration_file is None:
        text = resources.files("swarmtrust.verifier").joinpath("tolerances.json").read_text()
    else:
        text = calibration_file.read_text()
    data = json.loads(text)
    candidates = data if isinstance(data, list) else list(data.values()) if "format" not in data else [data]
    ours = [d for d in candidates if isinstance(d, dict) and d.get("model") == model_id]
    wires = []
    for dtype in dtypes:
        for device in sorted({document_device(d) for d in ours if d.get("dtype") == dtype}):
            signed = sign_tolerance(ours, dtype, calibrator, device=device)
            stored = held.get(dtype, {}).get(device)
            if stored is not None:
                kept = open_signed(ToleranceRecord, bytes.fromhex(stored["record"])).record
                if (kept.calibrator_key, kept.document) == (signed.record.calibrator_key, signed.record.document):
                    continue
            wires.append(signed.to_wire())
    return wires


def free_port() -> int:
    """A loopback TCP port free a moment ago, for a process that must listen where it is told (a service restarted
    at the same URL, a server behind a proxy); a port 0 bind is better wherever the address can be reported."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(name: str, args: list[str], env: dict[str, str] | None = None) -> ChildProcess:
    popen = subprocess.Popen(
        [*SWARMTRUST, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    child = ChildProcess(name, popen)
    if popen.stdout is None or popen.stderr is None:
        raise LaunchError(f"{name}: no pipes to read its output from")
    threading.Thread(
        target=_pump, args=(popen.stdout, child.lines.put, lambda: child.lines.put(EOF)), daemon=True
    ).start()
    threading.Thread(target=_pump, args=(popen.stderr, child.log.append, child.log_done.set), daemon=True).start()
    return child


def _pump(stream: IO[str], sink: Any, at_end: Any) -> None:
    for line in stream:
        sink(line)
    at_end()


class LocalSwarm:
    """A DHT bootstrap and servers on loopback; leaving the ``with`` block stops all of them."""

    def __init__(self, workdir: Path, *, torch_threads: int = 1) -> None:
        self.workdir = workdir
        self.torch_threads = torch_threads
        self.processes: list[ChildProcess] = []
        self.peer = ""
        self.api_url = ""

    def start_dht(self) -> str:
        dht = launch("dht", ["dht", "start"])
        self.processes.append(dht)
        self.peer = dht.read_line(START_TIMEOUT).strip()
        if not self.peer.startswith("/ip4/"):
            raise LaunchError(f"the DHT printed {self.peer!r} instead of its multiaddr:\n{dht.stderr()}")
        return self.peer

    def launch_server(self, name: str, blocks: str, *extra: str) -> ChildProcess:
        """Start ``swarmtrust node start`` with a key of its own (created once in the workdir) serving ``blocks``
        ("A:B"; empty when ``extra`` has ``--num-blocks``); it announces itself to this swarm's ledger service
        too, when one was started first."""
        from swarmtrust.protocol.keys import generate_key_file

        key = self.workdir / f"{name}.key"
        if not key.exists():
            generate_key_file(key)
        args = ["node", "start", "--key", str(key), "--initial-peers", self.peer]
        args += ["--blocks", blocks] if blocks else []  # none: the server chooses (``--num-blocks`` in ``extra``)
        args += ["--torch-threads", str(self.torch_threads), "--name", name, *extra]
        if self.api_url and "--ledger" not in extra:
            args += ["--ledger", self.api_url]
        server = launch(name, args)
        self.processes.append(server)
        return server

    def start_api(
        self,
        *extra: str,
        db_url: str | None = None,
        admin_token: str | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        tolerances: Path | None = None,
    ) -> str:
        """Start ``swarmtrust api serve`` on a free port (default: a SQLite ledger in the workdir); its URL.
        With ``admin_token``, administration and the dashboard are on (the token goes through a 0600 file).
        ``models``: model id -> the dtypes it may be served in (the default first), registered at once (e.g.
        ``TINY_FLOAT32``); without, the ledger starts with no event at all and models fall back to their config.
        Each registered (model, dtype) that the calibration file ``tolerances`` (default: the shipped
        ``swarmtrust/verifier/tolerances.json``) holds a document for gets it as a tolerance record, signed by a
        calibrator key of the workdir's (``calibrator.key``), so that verifiers judge by ledger-served tolerances;
        the others get none, and verifiers give their sessions no verdict. Checkpoints are proposed only with
        ``--checkpoint-interval`` in ``extra`` (each one costs every co-signing verifier a fold of the new events)."""
        db = db_url or f"sqlite:///{self.workdir / 'ledger.db'}"
        args = ["api", "serve", "--db", db, "--port", "0", "--key", str(self.workdir / "ledger.key"), *extra]
        if "--checkpoint-interval" not in extra:  # checkpoints only where asked: each costs verifiers a fold
            args += ["--checkpoint-interval", "0"]
        if admin_token is not None:
            token_file = self.workdir / "admin.token"
            token_file.touch(mode=0o600)
            token_file.write_text(admin_token)
            args += ["--admin-token-file", str(token_file)]
        api = launch("api", args)
        self.processes.append(api)
        line = api.read_line(START_TIMEOUT)
        if "http://" not in line:
            raise LaunchError(f"the ledger service printed {line!r}:\n{api.stderr()}")
        self.api_url = line.split()[4]
        if models:
            self._register(db, models, tolerances)
        return self.api_url

    def _register(self, db_url: str, models: Mapping[str, Sequence[str]], tolerances: Path | None) -> None:
        """Register models in the ledger the service just migrated, signed with its key (as the operator's
        ``swarmtrust ledger register-model`` does), and add their calibrated tolerance records (as an
        administrator's ``swarmtrust verifier sign-tolerance`` and ``swarmtrust ledger add-tolerance`` do)."""
        from swarmtrust.ledger.store import Ledger
        from swarmtrust.protocol.keys import generate_key_file, load_signing_key

        key = load_signing_key(self.workdir / "ledger.key")
        calibrator_key = self.workdir / "calibrator.key"
        if not calibrator_key.exists():
            generate_key_file(calibrator_key)
        calibrator = load_signing_key(calibrator_key)
        with Ledger.open(db_url) as ledger:
            for model_id, dtypes in models.items():
                ledger.register_model(key, model_id, dtypes)
                held = ledger.model(model_id) or {}
                for wire in tolerance_records(tolerances, model_id, dtypes, calibrator, held.get("tolerances", {})):
                    ledger.add_tolerance(wire)

    def launch_verifier(self, name: str, *extra: str) -> ChildProcess:
        """Start ``swarmtrust verifier start`` against this swarm's ledger service (co-signing checkpoints only
        with ``--cosign-interval`` in ``extra``)."""
        from swarmtrust.protocol.keys import generate_key_file

        key = self.workdir / f"{name}.key"
        if not key.exists():
            generate_key_file(key)
        args = ["verifier", "start", "--key", str(key), "--ledger", self.api_url, "--poll-interval", "0.3"]
        args += ["--torch-threads", str(self.torch_threads), *extra]
        if "--cosign-interval" not in extra:  # co-signing only where asked (checkpoints are off unless asked)
            args += ["--cosign-interval", "0"]
        verifier = launch(name, args)
        self.processes.append(verifier)
        return verifier

    @staticmethod
    def ready(server: ChildProcess) -> dict[str, Any]:
        """A server's or verifier's ready line (public key, ...), once it is up."""
        line = server.read_line(START_TIMEOUT)
        try:
            info: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise LaunchError(f"{server.name} printed {line!r} instead of its ready line:\n{server.stderr()}") from None
        return info

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> LocalSwarm:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
