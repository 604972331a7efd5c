"""Decoding receipts from the wire: the msgspec records against the hand-made ones they replaced (issue 18).

The same signed receipts (as servers sign them and a ledger ingests them: hash-chained sessions) are decoded
by this tree and by a checkout of ``BASELINE``, the last commit with the hand-made record framework, each in
a fresh process of this interpreter, rounds interleaved. Two operations: ``Receipt.decode`` of the body
(fields checked, canonical encoding insisted on, consistency checked) and ``open_signed`` of the envelope
(the same plus the Ed25519 signature).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import msgpack

from bench.ledger_ingest import make_receipts
from bench.report import Section, Target, machine_summary, median, table

log = logging.getLogger(__name__)

BASELINE = "463c017"  # the wire kernel as protocol/, before msgspec
RECEIPTS = 5_000
ROUNDS = 5
TARGET_SPEEDUP = 3.0
ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh process with PYTHONPATH at a tree: times both operations over the receipts in argv[1]. The
# baseline predates the ``swarmtrust`` namespace: argv[2] names the package its wire kernel is in.
TIMER = """
import importlib, json, sys, time
import msgpack
Receipt = importlib.import_module(sys.argv[2] + ".receipts").Receipt
open_signed = importlib.import_module(sys.argv[2] + ".signing").open_signed
wires = msgpack.unpackb(open(sys.argv[1], "rb").read())
bodies = [msgpack.unpackb(w)[0] for w in wires]
for body, wire in zip(bodies[:200], wires[:200]):  # warm up (compiled checks, decoders)
    Receipt.decode(body); open_signed(Receipt, wire)
start = time.perf_counter()
for body in bodies:
    Receipt.decode(body)
decode = (time.perf_counter() - start) / len(bodies)
start = time.perf_counter()
for wire in wires:
    open_signed(Receipt, wire)
opened = (time.perf_counter() - start) / len(wires)
print(json.dumps({"decode": decode, "open_signed": opened}))
"""


def make_wires(count: int) -> list[bytes]:
    """Signed receipts as servers sign them, hash-chained in sessions (no output sketch: servers send none)."""
    return [signed.to_wire() for signed in make_receipts(count)]


def _time(tree: Path, kernel: str, wires_file: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", TIMER, str(wires_file), kernel]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=True)
    timed: dict[str, float] = json.loads(done.stdout)
    return timed


def run() -> Section:
    with tempfile.TemporaryDirectory(prefix="swarmtrust-decode-") as tmp:
        baseline = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(baseline), BASELINE], cwd=ROOT, check=True)
        try:
            wires_file = Path(tmp) / "wires.msgpack"
            wires_file.write_bytes(msgpack.packb(make_wires(RECEIPTS), use_bin_type=True))
            runs: dict[str, list[dict[str, float]]] = {"now": [], "baseline": []}
            for _ in range(ROUNDS):
                runs["now"].append(_time(ROOT, "swarmtrust.protocol", wires_file))
                runs["baseline"].append(_time(baseline, "protocol", wires_file))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=True)
    rows, speedups = [], {}
    for operation in ("decode", "open_signed"):
        now = median([r[operation] for r in runs["now"]])
        before = median([r[operation] for r in runs["baseline"]])
        speedups[operation] = before / now
        rows.append([f"`{operation}`", f"{before * 1e6:.1f} µs", f"{now * 1e6:.1f} µs", f"{before / now:.1f}×"])
    markdown = "\n".join(
        [
            "## Decoding a receipt: msgspec records (issue 18)",
            "",
            f"Machine: {machine_summary()}. {RECEIPTS:,} signed receipts as servers sign them (hash-chained "
            "sessions of 50 steps, no output sketch), decoded by this tree and by commit "
            f"{BASELINE} (the hand-made record framework with compiled checks), each in a fresh process, "
            f"medians of {ROUNDS} interleaved rounds. `decode`: the body's fields checked, its canonical "
            "encoding insisted on and its consistency checked; `open_signed`: the envelope, the same, and the "
            "Ed25519 signature.",
            "",
            table(["operation", f"at {BASELINE}", "now", "faster"], rows),
            "",
            f"Target: decoding a receipt ≥ {TARGET_SPEEDUP:.0f}× faster than before. The wire bytes are unchanged "
            "(`tests/protocol/test_golden_wire.py` pins every record type's).",
        ]
    )
    target = Target(
        "receipt decode, msgspec ÷ hand-made records",
        f"{speedups['decode']:.1f}× faster",
        f"≥ {TARGET_SPEEDUP:.0f}×",
        speedups["decode"] >= TARGET_SPEEDUP,
    )
    return Section("receipt-decoding", markdown, (target,))
