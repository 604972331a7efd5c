"""``swarmtrust demo`` at this stage of the project: everything built so far, end to end, on this machine.

A DHT bootstrap and three block servers of ``tiny`` start as child processes on 127.0.0.1 (blocks 0:4
twice, 4:8 once). A client generates text through them, checking a signed receipt for every step of
every hop; midway, the server carrying blocks 0:4 is killed with SIGKILL and the client fails over to
the other one by replaying the session. The tokens are compared with the whole model run in-process.
The receipts then go into a SQLite ledger (retried once: idempotent; a forged and an equivocating one:
refused), an epoch's Merkle root is proven, the ledger is audited clean, and a tampered copy of it is
audited to show the altered event being named. Verifiers, reputation and the market join as they land.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ledger.db import create_ledger_engine
from ledger.migrate import upgrade
from ledger.store import Ledger
from node.merkle import inclusion_proof, merkle_root, verify_inclusion
from node.receipts import Receipt
from node.signing import Signed, sign_record
from swarmtrust.launcher import LocalSwarm

PROMPT = "Hello, swarm! "


def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the ledger, keys and logs go (default: a temporary directory).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=4, max=500, help="Tokens to generate.")] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final report as JSON only.")] = False,
) -> None:
    """Run what swarmtrust has built so far, end to end, on this machine."""
    from node.cli_options import configure_logging

    configure_logging(verbose=False)
    logging.getLogger("node").setLevel(logging.ERROR)  # the demo narrates failovers itself
    console = Console(quiet=as_json, highlight=False)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="swarmtrust-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = run_demo(workdir, max_new_tokens, console)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    if not (report["tokens_match_local"] and report["audit_clean"] and report["tampering_caught"]):
        raise typer.Exit(1)


def run_demo(workdir: Path, max_new_tokens: int, console: Console) -> dict[str, Any]:
    from node.client.swarm import SwarmClient
    from node.model.local import LocalModel
    from node.model.source import resolve_model

    console.rule("swarmtrust demo: a swarm with signed receipts, failover, the ledger and its audit")
    source = resolve_model("tiny")
    with LocalSwarm(workdir) as swarm:
        swarm.start_dht()
        console.print(f"DHT bootstrap at {swarm.peer}")
        servers = {
            name: swarm.launch_server(name, blocks) for name, blocks in (("a", "0:4"), ("b", "4:8"), ("c", "0:4"))
        }
        names = {}
        for name, process in servers.items():
            info = LocalSwarm.ready(process)
            names[info["public_key"]] = name
            blocks = f"{info['blocks'][0]}:{info['blocks'][1]}"
            console.print(f"server {name}: blocks {blocks}, key {info['public_key'][:16]}…, pid {process.pid}")
        with SwarmClient([swarm.peer]) as client:
            client.wait_for_blocks(source.model_id, 8, min_servers=3)
            prompt_ids = _tokenize(source.directory, PROMPT)
            victim: list[str] = []

            def on_event(kind: str, data: dict[str, Any]) -> None:
                if kind == "step" and data["step"] == max_new_tokens // 2:
                    victim.append(names[data["route"][0][0]])
                    servers[victim[0]].kill_hard()
                    console.print(
                        f"step {data['step']}: [red]kill -9[/] server {victim[0]} (blocks 0:4) mid-generation"
                    )
                if kind == "failover":
                    console.print(
                        f"step {data['step']}: client failed over ({data['reason']}) to server "
                        f"{names[data['replacements'][0]]}, replaying {data['replayed_tokens']} tokens"
                    )

            started = time.perf_counter()
            result = client.generate(source, prompt_ids, max_new_tokens, on_event=on_event)
            seconds = time.perf_counter() - started
        started_pids = [process.pid for process in swarm.processes]
    local = LocalModel(source).generate(prompt_ids, max_new_tokens)
    receipts = [hop.receipt for step in result.steps for hop in step if hop.receipt is not None]
    matches = result.tokens == local.tokens
    console.print(
        f"generated {len(result.tokens)} tokens in {seconds:.1f} s through {len(result.steps)} steps, "
        f"{len(receipts)} receipts checked; same tokens as the model run in-process: {matches}"
    )
    return {
        "tokens": result.tokens,
        "tokens_match_local": matches,
        "killed_server": victim[0] if victim else None,
        "failovers": len(result.failovers),
        "faults": [f.reason for f in result.faults],
        "process_groups": started_pids,  # every child ran in its own group, all stopped by now
        **_ledger_stage(workdir, receipts, console),
    }


def _tokenize(directory: Path, text: str) -> list[int]:
    from transformers import AutoTokenizer

    return list(AutoTokenizer.from_pretrained(str(directory), local_files_only=True)(text).input_ids)


def _ledger_stage(workdir: Path, receipts: list[Signed[Receipt]], console: Console) -> dict[str, Any]:
    by_server = {r.signer for r in receipts}
    epoch = [r.digest for r in receipts if r.signer == min(by_server)]
    root = merkle_root(epoch)
    proof = inclusion_proof(epoch, len(epoch) // 2)
    proof_ok = verify_inclusion(epoch[len(epoch) // 2], proof, root)
    console.print(
        f"epoch of one server's {len(epoch)} receipts: Merkle root {root.hex()[:16]}…, inclusion proof ok: {proof_ok}"
    )

    url = f"sqlite:///{workdir / 'ledger.db'}"
    engine = create_ledger_engine(url)
    upgrade(engine)
    engine.dispose()
    with Ledger.open(url) as ledger:
        results = ledger.ingest_receipts([r.to_wire() for r in receipts])
        accepted = sum(r.status == "accepted" for r in results)
        retried = sum(r.status == "duplicate" for r in ledger.ingest_receipts([r.to_wire() for r in receipts]))
        forged = bytearray(receipts[0].to_wire())
        forged[-1] ^= 1
        refused = ledger.ingest_receipts([bytes(forged), _equivocation(receipts[0], workdir)])
        clean = ledger.audit()
    console.print(
        f"ledger {url}: {accepted} receipts accepted, a retry of all of them wrote nothing new ({retried} duplicates)"
    )
    for result in refused:
        console.print(f"refused: {result.reason}: {result.message}")
    console.print(f"audit: {clean.events_checked} events, chain head {clean.head_hash[:16]}…, clean: {clean.ok}")

    tampered_seq = _tamper_copy(workdir)
    with Ledger.open(f"sqlite:///{workdir / 'tampered.db'}") as copy:
        caught = copy.audit()
    verdict = "[green]caught it[/]" if not caught.ok else "[red]missed it[/]"
    console.print(
        f"a copy with one byte of event {tampered_seq} changed: audit {verdict}, "
        f"first bad sequence number {caught.first_bad_seq}"
    )
    return {
        "receipts": len(receipts),
        "receipts_accepted": accepted,
        "refused": [r.reason for r in refused],
        "merkle_proof_ok": proof_ok,
        "audit_clean": clean.ok,
        "head_hash": clean.head_hash,
        "tampering_caught": (not caught.ok) and caught.first_bad_seq == tampered_seq,
        "data_dir": str(workdir),
    }


def _equivocation(original: Signed[Receipt], workdir: Path) -> bytes:
    """The same step signed again with another output, as a cheating server might: refused as a conflict."""
    from node.keys import load_signing_key

    for key_file in workdir.glob("*.key"):
        key = load_signing_key(key_file)
        if bytes(key.verify_key) == original.signer:
            return sign_record(replace(original.record, output_digest=bytes(32)), key).to_wire()
    raise RuntimeError("the demo's server keys are missing from its data directory")


def _tamper_copy(workdir: Path) -> int:
    """Copy the ledger and flip one payload byte of an event, as an attacker with database access would."""
    seq = 7
    source = sqlite3.connect(workdir / "ledger.db")
    with sqlite3.connect(workdir / "tampered.db") as copy:
        source.backup(copy)
    source.close()
    with sqlite3.connect(workdir / "tampered.db") as db:
        db.execute("DROP TRIGGER events_no_update")  # the guard stops accidents, not the owner of the file
        payload = bytearray(db.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0])
        payload[-3] ^= 0x01
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (bytes(payload), seq))
    return seq
