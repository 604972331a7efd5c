"""``swarmtrust demo`` at this stage of the project: everything built so far, end to end.

Two block-server identities sign hash-chained receipts for inference sessions over real activation
tensors, close an epoch under a Merkle root, and submit the receipts to a SQLite ledger; the demo
retries a batch (idempotent), submits a forged and a conflicting receipt (refused), audits the clean
ledger, then tampers with a copy of it and shows the audit naming the altered event. The swarm itself
(servers, clients, verifiers, market) joins this command as those issues land.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ledger.db import create_ledger_engine
from ledger.migrate import upgrade
from ledger.store import Ledger
from node.keys import generate_key_file, public_key_hex
from node.merkle import inclusion_proof, merkle_root, verify_inclusion
from node.receipts import CLIENT_NONCE_SIZE, SESSION_ID_SIZE, Receipt, receipt_id_for
from node.signing import Signed, sign_record


def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the ledger and keys go (default: a temporary directory).")
    ] = None,
    sessions: Annotated[int, typer.Option(min=1, max=1000, help="Inference sessions per server.")] = 20,
    steps: Annotated[int, typer.Option(min=1, max=1000, help="Decode steps per session.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final report as JSON only.")] = False,
) -> None:
    """Run what swarmtrust has built so far, end to end, on this machine."""
    console = Console(quiet=as_json, highlight=False)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="swarmtrust-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = run_foundation_demo(workdir, sessions, steps, console)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    if not (report["audit_clean"] and report["tampering_caught"]):
        raise typer.Exit(1)


def run_foundation_demo(workdir: Path, sessions: int, steps: int, console: Console) -> dict[str, Any]:
    import torch  # the activations are real tensors; imported here to keep `swarmtrust --help` fast

    console.rule("swarmtrust demo — foundation: keys, signed receipts, ledger, audit")
    keys = []
    for name in ("server-a", "server-b"):
        path = workdir / f"{name}.key"
        key = generate_key_file(path, force=True)
        keys.append(key)
        console.print(f"key {path} (0600) -> public key {public_key_hex(key)[:16]}…")

    url = f"sqlite:///{workdir / 'ledger.db'}"
    engine = create_ledger_engine(url)
    upgrade(engine)
    engine.dispose()
    console.print(f"ledger {url} at the current schema")

    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(64, 64, generator=generator) / 8
    started = time.perf_counter()
    signed: list[Signed[Receipt]] = []
    for index, key in enumerate(keys):
        block_start = 4 * index
        for _ in range(sessions):
            signed += _session_receipts(key, weights, block_start, steps, generator)
    sign_seconds = time.perf_counter() - started
    console.print(f"signed {len(signed)} receipts over real activations in {sign_seconds:.2f} s")

    epoch = [s.digest for s in signed[: sessions * steps]]
    root = merkle_root(epoch)
    proof = inclusion_proof(epoch, len(epoch) // 2)
    proof_ok = verify_inclusion(epoch[len(epoch) // 2], proof, root)
    console.print(
        f"epoch of {len(epoch)} receipts: Merkle root {root.hex()[:16]}…, "
        f"inclusion proof of {len(proof.path)} hashes verifies: {proof_ok}"
    )

    wires = [s.to_wire() for s in signed]
    with Ledger.open(url) as ledger:
        started = time.perf_counter()
        accepted = sum(
            r.status == "accepted"
            for i in range(0, len(wires), 1000)
            for r in ledger.ingest_receipts(wires[i : i + 1000])
        )
        ingest_seconds = time.perf_counter() - started
        console.print(
            f"ingested {accepted} receipts in {ingest_seconds:.2f} s "
            f"({accepted / ingest_seconds:,.0f}/s, signatures checked)"
        )
        retry = ledger.ingest_receipts(wires[:100])
        console.print(f"retried 100: {sum(r.status == 'duplicate' for r in retry)} duplicates, nothing new written")
        forged = bytearray(wires[0])
        forged[-1] ^= 1
        conflicting = _conflicting_copy(signed[0], keys[0])
        refused = ledger.ingest_receipts([bytes(forged), conflicting])
        for result in refused:
            console.print(f"refused: {result.reason} — {result.message}")
        clean = ledger.audit()
    console.print(f"audit: {clean.events_checked} events, head {clean.head_hash[:16]}…, clean={clean.ok}")

    tampered_seq = _tamper_copy(workdir)
    with Ledger.open(f"sqlite:///{workdir / 'tampered.db'}") as copy:
        caught = copy.audit()
    console.print(
        f"tampered copy (one byte of event {tampered_seq}'s payload changed): audit "
        f"{'caught it' if not caught.ok else 'MISSED it'}, first bad seq {caught.first_bad_seq}"
    )
    return {
        "data_dir": str(workdir),
        "receipts_signed": len(signed),
        "receipts_accepted": accepted,
        "ingest_per_second": round(accepted / ingest_seconds),
        "refused": [r.reason for r in refused],
        "merkle_proof_ok": proof_ok,
        "audit_clean": clean.ok,
        "head_hash": clean.head_hash,
        "tampering_caught": (not caught.ok) and caught.first_bad_seq == tampered_seq,
    }


def _session_receipts(key: Any, weights: Any, block_start: int, steps: int, generator: Any) -> list[Signed[Receipt]]:
    import torch

    from node.tensors import fingerprint

    server = bytes(key.verify_key)
    session, nonce = os.urandom(SESSION_ID_SIZE), os.urandom(CLIENT_NONCE_SIZE)
    out: list[Signed[Receipt]] = []
    prev: bytes | None = None
    for step in range(steps):
        hidden_in = torch.randn(1, 1, 64, generator=generator)
        hidden_out = torch.nn.functional.gelu(hidden_in @ weights) + hidden_in
        fin, fout = fingerprint(hidden_in), fingerprint(hidden_out)
        receipt = Receipt(
            receipt_id_for(server, session, step),
            session,
            step,
            server,
            "tiny",
            bytes(32),
            block_start,
            block_start + 4,
            fin.dtype,
            fin.digest,
            fin.shape,
            fout.digest,
            fout.shape,
            prev,
            nonce,
            time.time_ns() // 1_000_000,
        )
        out.append(sign_record(receipt, key))
        prev = out[-1].digest
    return out


def _conflicting_copy(original: Signed[Receipt], key: Any) -> bytes:
    """The same step signed again with another output: equivocation, which the ledger must refuse."""
    r = original.record
    other = Receipt(
        r.receipt_id,
        r.session_id,
        r.step,
        r.server_key,
        r.model_id,
        r.weights_digest,
        r.block_start,
        r.block_end,
        r.dtype,
        r.input_digest,
        r.input_shape,
        bytes(32),
        r.output_shape,
        r.prev_receipt,
        r.client_nonce,
        r.timestamp_ms,
    )
    return sign_record(other, key).to_wire()


def _tamper_copy(workdir: Path) -> int:
    """Copy the ledger and flip one payload byte of an event, as an attacker with database access would."""
    target = workdir / "tampered.db"
    source = sqlite3.connect(workdir / "ledger.db")
    with sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    seq = 7
    with sqlite3.connect(target) as db:
        db.execute("DROP TRIGGER events_no_update")  # the guard stops accidents, not an owner of the file
        payload = bytearray(db.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0])
        payload[-3] ^= 0x01
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (bytes(payload), seq))
    shutil.rmtree(workdir / "tampered.db-wal", ignore_errors=True)
    return seq
