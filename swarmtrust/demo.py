"""``swarmtrust demo`` at this stage of the project: everything built so far, end to end, on this machine.

On 127.0.0.1, as child processes: a DHT bootstrap, the ledger service (SQLite in the data directory),
four block servers of ``tiny`` (blocks 0:4 twice, 4:8 twice, one of the 4:8 servers corrupting 30% of
its steps) and three verifiers. A client generates text, checking a signed receipt for every step of
every hop; midway the server carrying blocks 0:4 is killed with SIGKILL and the client fails over by
replaying the session; the tokens are compared with the model run in-process. More sessions follow,
every one spot-checked: the verifiers recompute them, disputes settle failures, and the cheater's
challenges end in FAIL. Then reputation: the ledger's trust in each server, the cheater quarantined, and
sessions routed by a fresh client that reads the ledger's reputations, none of them through the cheater.
Last, the ledger: a forged and an equivocating receipt refused, a clean audit, and the audit of a tampered
copy naming the altered event. The market joins later.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import httpx
import nacl.signing
import typer
from rich.console import Console

from ledger.store import Ledger
from node.market_records import MICRO
from node.receipts import Receipt
from node.signing import Signed, sign_record
from swarmtrust.launcher import ChildProcess, LocalSwarm

PROMPT = "Hello, swarm! "
SERVERS = (("a", "0:4", "honest"), ("b", "4:8", "honest"), ("c", "0:4", "honest"), ("x", "4:8", "cheat-rate:0.3"))
VERIFIERS = ("v1", "v2", "v3")
SERVER_NAMES = {name for name, _, _ in SERVERS}
PRICE = 2  # micro-credits per block-token
BOND = 100  # credits each server bonds


def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the ledger, keys and logs go (default: a temporary directory).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=4, max=500, help="Tokens per generation.")] = 16,
    sessions: Annotated[int, typer.Option(min=1, max=50, help="Spot-checked sessions through the cheater.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final report as JSON only.")] = False,
) -> None:
    """Run what swarmtrust has built so far, end to end, on this machine."""
    from node.cli_options import configure_logging

    configure_logging(verbose=False)
    logging.getLogger("node").setLevel(logging.ERROR)  # the demo narrates failovers itself
    console = Console(quiet=as_json, highlight=False)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="swarmtrust-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = run_demo(workdir, max_new_tokens, sessions, console)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    healthy = report["tokens_match_local"] and report["audit_clean"] and report["tampering_caught"]
    caught = report["cheater_caught"] and report["cheater_quarantined"] and not report["sessions_through_cheater"]
    caught = caught and report["dashboard_shows_cheater_quarantined"] and report["cheater_slashed"]
    if not (healthy and caught and not report["honest_failed"]):
        raise typer.Exit(1)


def run_demo(workdir: Path, max_new_tokens: int, sessions: int, console: Console) -> dict[str, Any]:
    from node.client.config import ClientConfig
    from node.client.swarm import SwarmClient
    from node.model.source import resolve_model

    console.rule("swarmtrust demo: receipts, failover, spot checks, consensus, reputation, the ledger and its audit")
    source = resolve_model("tiny")
    client_key = nacl.signing.SigningKey.generate()
    with LocalSwarm(workdir) as swarm:
        names, servers = _start(swarm, console)
        _open_market(swarm, names, client_key, console)
        paying = ClientConfig(pay=True)
        with SwarmClient([swarm.peer], ledger_url=swarm.api_url, client_key=client_key, config=paying) as client:
            client.wait_for_blocks(source.model_id, 8, min_servers=len(SERVERS))
            report, receipts = _failover_stage(client, source, servers, names, max_new_tokens, console)
            killed = report["killed_server"]
            report |= _spot_check_stage(client, source, swarm.api_url, names, max_new_tokens, sessions, console, killed)
        report |= _reputation_stage(swarm, source, names, max_new_tokens, console)
        report |= _dashboard_stage(swarm, names, console)
        report |= _market_stage(swarm, names, client_key, console)
        report["process_groups"] = [process.pid for process in swarm.processes]  # all stopped by now
    return report | _ledger_stage(workdir, receipts, console)


def _start(swarm: LocalSwarm, console: Console) -> tuple[dict[str, str], dict[str, ChildProcess]]:
    swarm.start_dht()
    swarm.start_api("--assignment-ttl", "10", admin_token=secrets.token_urlsafe(24))
    console.print(f"DHT bootstrap at {swarm.peer}; ledger service at {swarm.api_url}")
    console.print(
        f"admin dashboard at {swarm.api_url}/dashboard while the demo runs (token in {swarm.workdir / 'admin.token'})"
    )
    servers = {name: swarm.launch_server(name, blocks, "--behavior", how) for name, blocks, how in SERVERS}
    verifiers = {name: swarm.launch_verifier(name) for name in VERIFIERS}
    names: dict[str, str] = {}
    for name, process in servers.items():
        info = LocalSwarm.ready(process)
        names[info["public_key"]] = name
        blocks = f"{info['blocks'][0]}:{info['blocks'][1]}"
        console.print(f"server {name}: blocks {blocks}, {info['behavior']}, key {info['public_key'][:16]}…")
    for name, process in verifiers.items():
        names[LocalSwarm.ready(process)["public_key"]] = name
    console.print(f"verifiers {', '.join(VERIFIERS)} ready")
    return names, servers


def _failover_stage(
    client: Any, source: Any, servers: dict[str, ChildProcess], names: dict[str, str], tokens: int, console: Console
) -> tuple[dict[str, Any], list[Signed[Receipt]]]:
    from node.model.local import LocalModel

    prompt_ids = _tokenize(source.directory, PROMPT)
    honest = [s for s in client.servers(source.model_id, 8) if names[s.key] in ("a", "b", "c")]
    victim: list[str] = []

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "step" and data["step"] == tokens // 2:
            victim.append(names[data["route"][0][0]])
            servers[victim[0]].kill_hard()
            console.print(f"step {data['step']}: [red]kill -9[/] server {victim[0]} (blocks 0:4) mid-generation")
        if kind == "failover":
            console.print(
                f"step {data['step']}: client failed over ({data['reason']}) to server "
                f"{names[data['replacements'][0]]}, replaying {data['replayed_tokens']} tokens"
            )

    started = time.perf_counter()
    result = client.generate(source, prompt_ids, tokens, servers=honest, on_event=on_event)
    seconds = time.perf_counter() - started
    local = LocalModel(source).generate(prompt_ids, tokens)
    checked = sum(hop.receipt is not None for step in result.steps for hop in step)
    console.print(
        f"generated {len(result.tokens)} tokens in {seconds:.1f} s, {checked} receipts checked; "
        f"same tokens as the model run in-process: {result.tokens == local.tokens}"
    )
    receipts = [hop.receipt for step in result.steps for hop in step if hop.receipt is not None]
    report = {
        "tokens": result.tokens,
        "tokens_match_local": result.tokens == local.tokens,
        "killed_server": victim[0] if victim else None,
        "failovers": len(result.failovers),
    }
    return report, receipts


def _spot_check_stage(
    client: Any,
    source: Any,
    api_url: str,
    names: dict[str, str],
    tokens: int,
    sessions: int,
    console: Console,
    killed: str | None,
) -> dict[str, Any]:
    # The server killed with -9 never said goodbye: its DHT record lives on until it expires.
    alive = {s.key: s for s in client.servers(source.model_id, 8) if names.get(s.key) != killed}
    first = next(s for s in alive.values() if s.start == 0)
    for index in range(sessions):
        for second in ("b", "x"):
            route = [first, next(s for s in alive.values() if names[s.key] == second)]
            prompt = _tokenize(source.directory, f"{PROMPT}{index}")
            client.generate(source, prompt, tokens, servers=route, spot_check_rate=1.0)
    console.print(f"{2 * sessions} more sessions, every one spot-checked: waiting for the verifiers' outcomes…")
    deadline = time.monotonic() + 120
    while True:
        challenges = httpx.get(f"{api_url}/api/v1/challenges", params={"limit": 1000}, timeout=30).json()["items"]
        if all(c["phase"] == "decided" for c in challenges) or time.monotonic() > deadline:
            break
        time.sleep(1)
    tally: dict[str, dict[str, int]] = {}
    for challenge in challenges:
        counts = tally.setdefault(names.get(challenge["server_key"], "?"), {})
        counts[challenge["outcome"] or challenge["phase"]] = (
            counts.get(challenge["outcome"] or challenge["phase"], 0) + 1
        )
    disputes = httpx.get(f"{api_url}/api/v1/disputes", params={"limit": 1000}, timeout=30).json()["items"]
    for name in sorted(tally):
        console.print(f"server {name}: {tally[name]}")
    console.print(f"{len(disputes)} disputes; outcomes: {sorted(d['outcome'] or 'open' for d in disputes)}")
    return {
        "challenges": len(challenges),
        "outcomes": tally,
        "cheater_caught": tally.get("x", {}).get("fail", 0) > 0,
        "honest_failed": sum(tally.get(n, {}).get("fail", 0) for n in ("a", "b", "c")),
    }


def _reputation_stage(
    swarm: LocalSwarm, source: Any, names: dict[str, str], tokens: int, console: Console
) -> dict[str, Any]:
    """What the ledger now thinks of each server, and where a client that reads it routes its sessions."""
    from node.client.config import ClientConfig
    from node.client.swarm import SwarmClient

    book = httpx.get(f"{swarm.api_url}/api/v1/reputation", params={"model": source.model_id}, timeout=30).json()
    for key, entry in sorted(book["servers"].items(), key=lambda item: names.get(item[0], "?")):
        console.print(
            f"reputation of {names.get(key, key[:16])}: {entry['state']}, trust {entry['trust']:.2f}, "
            f"{entry['passes']} passes / {entry['fails']} fails, spot-check rate {entry['spot_check_rate']:.2f}"
        )
    carried: dict[str, int] = {}
    sessions = 4
    with SwarmClient([swarm.peer], ledger_url=swarm.api_url, config=ClientConfig(reputation_ttl=0)) as client:
        for index in range(sessions):
            result = client.generate(source, _tokenize(source.directory, f"{PROMPT}again {index}"), tokens)
            for name in {names.get(hop.server_key, "?") for hops in result.steps for hop in hops}:
                carried[name] = carried.get(name, 0) + 1
    through_cheater = carried.get("x", 0)
    console.print(f"{sessions} sessions routed by reputation: sessions per server {dict(sorted(carried.items()))}")
    cheater = next((e for k, e in book["servers"].items() if names.get(k) == "x"), None)
    return {
        "reputation": {names.get(k, k): {"state": e["state"], "trust": e["trust"]} for k, e in book["servers"].items()},
        "cheater_quarantined": cheater is not None and cheater["state"] == "quarantined",
        "sessions_by_reputation": carried,
        "sessions_through_cheater": through_cheater,
    }


def _dashboard_stage(swarm: LocalSwarm, names: dict[str, str], console: Console) -> dict[str, Any]:
    """What an administrator sees: the servers that announced themselves, and the cheater's page."""
    listed = httpx.get(f"{swarm.api_url}/api/v1/servers", timeout=30).json()["items"]
    cheater = next((s["public_key"] for s in listed if names.get(s["public_key"]) == "x"), None)
    token = (swarm.workdir / "admin.token").read_text()
    with httpx.Client(base_url=swarm.api_url, timeout=30, follow_redirects=True) as browser:
        browser.post("/dashboard/login", data={"token": token}).raise_for_status()
        page = browser.get(f"/dashboard/servers/{cheater}").text if cheater else ""
    shows = 'id="server-state" class="quarantined"' in page
    console.print(
        f"ledger directory: {len(listed)} servers announced; the dashboard shows the cheater "
        f"{'quarantined' if shows else 'NOT quarantined'}"
    )
    return {"servers_in_directory": len(listed), "dashboard_shows_cheater_quarantined": shows}


def _open_market(swarm: LocalSwarm, names: dict[str, str], client_key: Any, console: Console) -> None:
    """A faucet for the client and the treasury; every server bonds 100 credits and quotes a price."""
    from node.keys import load_signing_key
    from node.ledger_api import LedgerApi
    from node.market_records import BondDeposit, PriceQuote

    token = (swarm.workdir / "admin.token").read_text()
    with httpx.Client(base_url=f"{swarm.api_url}/api/v1/admin", timeout=30) as admin:
        admin.headers["Authorization"] = f"Bearer {token}"
        minted = [(bytes(client_key.verify_key).hex(), 1_000), ("treasury", 10)]
        minted += [(key, BOND) for key, name in names.items() if name in SERVER_NAMES]
        for account, credits in minted:
            body = {"account": account, "amount": credits * MICRO, "reason": "demo faucet"}
            admin.post("/mint", json=body).raise_for_status()
    for name in sorted(SERVER_NAMES):
        key = load_signing_key(swarm.workdir / f"{name}.key")
        now = time.time_ns() // 1_000_000
        with LedgerApi(swarm.api_url, key) as ledger:
            for kind, record in (
                ("bond", BondDeposit(os.urandom(16), bytes(key.verify_key), BOND * MICRO, now)),
                ("price", PriceQuote(bytes(key.verify_key), "tiny", PRICE, now)),
            ):
                ledger.request(
                    "POST", f"/market/{kind}", sign_record(record, key).to_wire(), "application/octet-stream"
                )
    console.print(
        f"market: the client holds 1000 credits; every server bonded 100 credits and charges {PRICE} "
        "micro-credits per block-token; the client pays for every session into escrow"
    )


def _market_stage(swarm: LocalSwarm, names: dict[str, str], client_key: Any, console: Console) -> dict[str, Any]:
    """What the market made of it all: payments, the cheater's refunds, slash and the verifiers' bounties."""
    market = httpx.get(f"{swarm.api_url}/api/v1/market", timeout=30).json()
    cheater = next((k for k, n in names.items() if n == "x"), None)
    bond = httpx.get(f"{swarm.api_url}/api/v1/accounts/{cheater}", timeout=30).json()["bond"] if cheater else None
    paid = httpx.get(f"{swarm.api_url}/api/v1/escrow", params={"limit": 1000}, timeout=30).json()["items"]
    console.print(
        f"market: {len(paid)} sessions paid into escrow; refunded {market['refunded']} micro-credits to the client, "
        f"slashed {market['slashed']} from the cheater's bond (now {bond}), bounties {market['bounties']} to "
        f"the verifiers who caught it, verifier fees {market['verifier_fees']}"
    )
    return {
        "market": market,
        "sessions_paid": len(paid),
        "cheater_slashed": bond is not None and bond < BOND * MICRO,
    }


def _tokenize(directory: Path, text: str) -> list[int]:
    from transformers import AutoTokenizer

    return list(AutoTokenizer.from_pretrained(str(directory), local_files_only=True)(text).input_ids)


def _ledger_stage(workdir: Path, receipts: list[Signed[Receipt]], console: Console) -> dict[str, Any]:
    from node.merkle import inclusion_proof, merkle_root, verify_inclusion

    epoch = [r.digest for r in receipts if r.signer == receipts[-1].signer]
    root = merkle_root(epoch)
    proof = inclusion_proof(epoch, len(epoch) // 2)
    proof_ok = verify_inclusion(epoch[len(epoch) // 2], proof, root)
    console.print(
        f"an epoch of one server's {len(epoch)} receipts: Merkle root {root.hex()[:16]}…, proof ok: {proof_ok}"
    )

    url = f"sqlite:///{workdir / 'ledger.db'}"
    with Ledger.open(url) as ledger:
        results = ledger.ingest_receipts([r.to_wire() for r in receipts])
        forged = bytearray(receipts[0].to_wire())
        forged[-1] ^= 1
        refused = ledger.ingest_receipts([bytes(forged), _equivocation(receipts[0], workdir)])
        clean = ledger.audit()
    console.print(
        f"ledger {url}: {sum(r.status == 'accepted' for r in results)} more receipts accepted, "
        f"{sum(r.status == 'duplicate' for r in results)} already there from challenges"
    )
    for result in refused:
        console.print(f"refused: {result.reason}: {result.message}")
    console.print(
        f"audit: {clean.events_checked} events {clean.kinds}, chain head {clean.head_hash[:16]}…, clean: {clean.ok}"
    )
    tampered_seq = _tamper_copy(workdir)
    with Ledger.open(f"sqlite:///{workdir / 'tampered.db'}") as copy:
        caught = copy.audit()
    verdict = "[green]caught it[/]" if not caught.ok else "[red]missed it[/]"
    console.print(
        f"a copy with one byte of event {tampered_seq} changed: audit {verdict}, first bad seq {caught.first_bad_seq}"
    )
    return {
        "receipts": len(receipts),
        "refused": [r.reason for r in refused],
        "merkle_proof_ok": proof_ok,
        "audit_clean": clean.ok,
        "events": clean.kinds,
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
    """Copy the ledger and flip one payload byte of a receipt event, as an attacker with database access would."""
    source = sqlite3.connect(workdir / "ledger.db")
    with sqlite3.connect(workdir / "tampered.db") as copy:
        source.backup(copy)
    source.close()
    with sqlite3.connect(workdir / "tampered.db") as db:
        seq = db.execute("SELECT MIN(seq) FROM events WHERE kind = 'receipt' AND seq > 5").fetchone()[0]
        db.execute("DROP TRIGGER events_no_update")  # the guard stops accidents, not the owner of the file
        payload = bytearray(db.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0])
        payload[-3] ^= 0x01
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (bytes(payload), seq))
    return int(seq)
