"""The demo's stages around its traffic: the market's opening, a failover with ``kill -9``, what the dashboard
shows, and the ledger's own defences (refused receipts, the audit, a tampered copy caught, a checkpoint and a
rewritten copy that fails it)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from swarmtrust.demo_plan import DemoError, DemoPlan
from swarmtrust.launcher import SWARMTRUST, ChildProcess, LocalSwarm
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.bond_rule import required_bond, session_block_tokens
from swarmtrust.protocol.market_records import MICRO
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, sign_record

PRICE = 1_000  # micro-credits per block-token: a 20-token session over 4 blocks costs 0.08 credits
CLIENT_CREDITS = 1_000  # the faucet's gift to each client


def bond_credits(blocks: str) -> int:
    """The whole credits a server of ``blocks`` ("A:B") bonds: the bond rule's least at ``PRICE`` for a
    full-length session through its span, so that clients route it beyond the exploration budget."""
    start, end = (int(part) for part in blocks.split(":"))
    needed = required_bond(PRICE, session_block_tokens(end - start))
    if needed is None:
        raise DemoError("the bond rule asks an unbounded bond under its terms: the demo's market cannot open")
    return -(-needed // MICRO)


def market_command(swarm: LocalSwarm, server: str, *args: str) -> subprocess.Popen[str]:
    """``swarmtrust market ARGS`` as the operator of ``server`` runs it (its key, this swarm's ledger)."""
    key = swarm.workdir / f"{server}.key"
    command = [*SWARMTRUST, "market", *args, "--key", str(key), "--ledger", swarm.api_url, "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(running: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = running.communicate(timeout=timeout)
    return running.returncode, out, err


def open_market(swarm: LocalSwarm, plan: DemoPlan, client_keys: list[Any], console: Console) -> None:
    """A faucet for the clients and the treasury; every server's operator bonds what the bond rule asks at
    ``PRICE`` (``bond_credits``) and quotes ``PRICE``, with ``swarmtrust market bond`` and ``market price``."""
    from swarmtrust.protocol.keys import load_signing_key

    server_keys = [load_signing_key(swarm.workdir / f"{s.name}.key") for s in plan.servers]
    bonds = [bond_credits(s.blocks) for s in plan.servers]
    # The treasury's 10 credits pay the verifiers' fees until the 2% fee on releases refills it.
    minted = [(bytes(k.verify_key).hex(), CLIENT_CREDITS) for k in client_keys] + [("treasury", 10)]
    minted += [(bytes(k.verify_key).hex(), bond) for k, bond in zip(server_keys, bonds, strict=True)]
    with LedgerApi(swarm.api_url, admin_token=admin_token(swarm)) as admin:
        for account, credits in minted:
            admin.post_json("/admin/mint", {"account": account, "amount": credits * MICRO, "reason": "demo faucet"})
    for stage in (["bond"], ["price"]):  # every operator at once, a bond before its price
        running = [
            market_command(swarm, s.name, *stage, str(bond if stage == ["bond"] else PRICE))
            for s, bond in zip(plan.servers, bonds, strict=True)
        ]
        for server, done in zip(plan.servers, map(_finished, running), strict=True):
            if done[0] != 0:
                raise DemoError(f"`swarmtrust market {stage[0]}` of {server.name} failed: {done[2].strip()}")
    console.print(
        f"market: {len(client_keys)} clients hold {CLIENT_CREDITS} credits each; every operator bonded "
        f"{max(bonds):,} credits (the bond rule's least at its price) and quoted {PRICE} micro-credits per "
        "block-token with `swarmtrust market`; clients pay every session into escrow"
    )


def unbond_attempt(swarm: LocalSwarm, server: str) -> str:
    """``swarmtrust market unbond 1`` by ``server``'s operator: "accepted", or the ledger's refusal code."""
    code, _, err = _finished(market_command(swarm, server, "unbond", "1"))
    if code == 0:
        return "accepted"
    found = re.search(r"\(\d{3} (\w+)\)", err)
    return found.group(1) if found else err.strip() or f"exit {code}"


def earning_server(swarm: LocalSwarm, plan: DemoPlan, names: dict[str, str]) -> str | None:
    """An honest server with payments in escrow (so it may not unbond yet), if any."""
    with LedgerApi(swarm.api_url) as api:
        for key, name in names.items():
            if plan.by_name(name).honest and api.get(f"/accounts/{key}").get("earning_in_escrow"):
                return name
    return None


def admin_token(swarm: LocalSwarm) -> str:
    return (swarm.workdir / "admin.token").read_text()


def failover_stage(
    client: Any,
    source: Any,
    plan: DemoPlan,
    processes: dict[str, ChildProcess],
    names: dict[str, str],
    prompt_ids: list[int],
    tokens: int,
    console: Console,
) -> tuple[dict[str, Any], list[Signed[Receipt]]]:
    """One generation through honest servers; midway the server of a half with a second honest server is
    killed with SIGKILL, and the client replays the session to another. Its tokens against the local model's."""
    from swarmtrust.node.model.local import LocalModel

    spare = plan.spare_honest()
    if spare is None:
        raise DemoError("the failover stage needs a half of the model with two honest servers")
    honest = [s for s in client.servers(source.model_id, 8) if plan.by_name(names[s.key]).honest]
    victim: list[str] = []

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "step" and data["step"] == tokens // 2 and not victim:
            key = next(k for k, start, end in data["route"] if f"{start}:{end}" == spare.blocks)
            victim.append(names[key])
            processes[victim[0]].kill_hard()
            console.print(f"step {data['step']}: [red]kill -9[/] server {victim[0]} ({spare.blocks}) mid-generation")
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
        "replayed_tokens": sum(f.replayed_tokens for f in result.failovers),
        # What the replacement was paid for: the replayed history, then the steps it served itself.
        "replacement": _replacement_billing(result, names),
    }
    return report, receipts


def _replacement_billing(result: Any, names: dict[str, str]) -> dict[str, Any] | None:
    if not result.failovers:
        return None
    key = result.failovers[0].replacements[0]
    blocks = result.failovers[0].blocks
    served = sum(1 for step in result.steps for hop in step if hop.server_key == key and hop.blocks == blocks)
    return {
        "server": names[key],
        "steps_served": served,
        "block_tokens_paid": sum(p["block_tokens"] for p in result.payments if p["server_key"] == key),
        "blocks": blocks[1] - blocks[0],
    }


def wait_for_decisions(api_url: str, timeout: float) -> int:
    """Wait until every spot check is decided (or ``timeout``); how many are still undecided."""
    deadline = time.monotonic() + timeout
    with LedgerApi(api_url) as api:
        while True:
            undecided = sum(1 for c in api.items("/challenges") if c["phase"] != "decided")
            if not undecided or time.monotonic() > deadline:
                return undecided
            time.sleep(0.5)


def settle_now(swarm: LocalSwarm) -> None:
    """Release every hold whose challenge window has passed (the service also does it on its own clock)."""
    with LedgerApi(swarm.api_url, admin_token=admin_token(swarm)) as admin:
        admin.post_json("/admin/settle")


def dashboard_shows_quarantined(swarm: LocalSwarm, keys: list[str]) -> bool:
    """Whether the admin dashboard's page of each of ``keys`` shows it quarantined, as an administrator sees it."""
    with httpx.Client(base_url=swarm.api_url, timeout=30, follow_redirects=True) as browser:
        form = browser.get("/dashboard/login").text  # the login form's CSRF token, bound to its cookie
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
        csrf = found.group(1) if found else ""
        browser.post("/dashboard/login", data={"token": admin_token(swarm), "csrf": csrf}).raise_for_status()
        pages = [browser.get(f"/dashboard/servers/{key}").text for key in keys]
    return all('id="server-state" class="quarantined"' in page for page in pages)


def ledger_stage(api_url: str, workdir: Path, receipts: list[Signed[Receipt]], console: Console) -> dict[str, Any]:
    """Receipts ingested (a forged and an equivocating one refused); one receipt proved part of its server's
    epoch; a clean audit; and the audit of a copy with one byte changed, naming that event."""
    url = f"sqlite:///{workdir / 'ledger.db'}"
    with Ledger.open(url) as ledger:
        results = ledger.ingest_receipts([r.to_wire() for r in receipts])
        forged = bytearray(receipts[0].to_wire())
        forged[-1] ^= 1
        refused = ledger.ingest_receipts([bytes(forged), _equivocation(receipts[0], workdir)])
        proof_ok = _epoch_proof(api_url, receipts[-1], console)
        clean = ledger.audit()
    console.print(
        f"ledger {url}: {sum(r.status == 'accepted' for r in results)} more receipts accepted, "
        f"{sum(r.status == 'duplicate' for r in results)} already there from spot checks"
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
    }


def _epoch_proof(api_url: str, receipt: Signed[Receipt], console: Console) -> bool:
    """Ask the ledger for a receipt's place in its server's epoch and check the proof against the root."""
    from swarmtrust.protocol.merkle import InclusionProof, verify_inclusion

    with LedgerApi(api_url) as api:
        answer = api.get(f"/receipts/{receipt.record.receipt_id.hex()}/proof")
    proof = InclusionProof(answer["index"], answer["tree_size"], tuple(bytes.fromhex(h) for h in answer["path"]))
    epoch = answer["epoch"]
    ok = verify_inclusion(receipt.digest, proof, bytes.fromhex(epoch["merkle_root"]))
    console.print(
        f"epoch {epoch['epoch']} of one server: {epoch['receipts']} receipts, {epoch['block_tokens']} block-tokens, "
        f"Merkle root {epoch['merkle_root'][:16]}…; a receipt's inclusion proof ({len(proof.path)} hashes) holds: {ok}"
    )
    return ok


def _equivocation(original: Signed[Receipt], workdir: Path) -> bytes:
    """The same step signed again with another output, as a cheating server might: refused as a conflict."""
    from swarmtrust.protocol.keys import load_signing_key

    for key_file in workdir.glob("*.key"):
        key = load_signing_key(key_file)
        if bytes(key.verify_key) == original.signer:
            return sign_record(original.record.replace(output_digest=bytes(32)), key).to_wire()
    raise DemoError("the demo's server keys are missing from its data directory; run the demo again")


def _tamper_copy(workdir: Path) -> int:
    """Copy the ledger and flip one payload byte of a receipt event, as an attacker with database access would."""
    with (
        contextlib.closing(sqlite3.connect(workdir / "ledger.db")) as source,
        contextlib.closing(sqlite3.connect(workdir / "tampered.db")) as copy,
    ):
        source.backup(copy)
    with contextlib.closing(sqlite3.connect(workdir / "tampered.db")) as db, db:
        # A receipt event after the opening ones (announcements, mints): a change mid-chain, not at its start.
        seq = db.execute("SELECT MIN(seq) FROM events WHERE kind = 'receipt' AND seq > 5").fetchone()[0]
        db.execute("DROP TRIGGER events_no_update")  # the guard stops accidents, not the owner of the file
        payload = bytearray(db.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0])
        payload[-3] ^= 0x01
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (bytes(payload), seq))
    return int(seq)


def checkpoint_stage(workdir: Path, api_url: str, console: Console, wait_s: float = 20.0) -> dict[str, Any]:
    """A checkpoint of the ledger as it stands (as `swarmtrust ledger checkpoint` proposes one), the verifiers'
    co-signatures it gathers within ``wait_s`` (a verifier has a say after ten verdicts that agreed with decided
    outcomes), and a copy of the ledger rewritten and re-linked under it, which ``audit --checkpoints`` refuses."""
    from swarmtrust.ledger.checkpoints import audit_checkpoints, propose_checkpoint
    from swarmtrust.protocol.keys import load_signing_key

    key = load_signing_key(workdir / "ledger.key")
    with Ledger.open(f"sqlite:///{workdir / 'ledger.db'}") as ledger:
        proposed = propose_checkpoint(ledger.engine, key).checkpoint
    if proposed is None:
        raise DemoError("the ledger has no events to checkpoint; run the demo again")
    record = proposed.record
    deadline = time.monotonic() + wait_s
    with LedgerApi(api_url) as api:
        view = api.checkpoint(record.number) or {}
        while view.get("total_weight") and not view.get("final") and time.monotonic() < deadline:
            time.sleep(0.5)
            view = api.checkpoint(record.number) or {}
    signers = ", ".join(key_hex[:12] + "…" for key_hex in view.get("signers", [])) or "none yet"
    console.print(
        f"checkpoint {record.number} at seq {record.seq}: state root {record.state_root.hex()[:16]}…, signing set "
        f"{len(record.verifier_keys)} verifier(s) of weight {view.get('total_weight', 0)}; co-signed by {signers}; "
        f"final: {view.get('final', False)}"
    )
    seq = _rewrite_copy(workdir, key)
    with Ledger.open(f"sqlite:///{workdir / 'rewritten.db'}") as copy:
        report = audit_checkpoints(copy.engine)
    caught = not report.ok
    verdict = "[green]caught it[/]" if caught else "[red]missed it[/]"
    console.print(
        f"a copy with event {seq} rewritten, re-signed with the ledger key and every later hash re-linked: "
        f"audit --checkpoints {verdict} ({report.problems[0] if report.problems else 'no problem found'})"
    )
    return {
        "checkpoint": {
            "number": record.number,
            "seq": record.seq,
            "signers": view.get("signers", []),
            "final": view.get("final", False),
            "total_weight": view.get("total_weight", 0),
        },
        "rewrite_caught": caught,
    }


def _rewrite_copy(workdir: Path, key: Any) -> int:
    """Copy the ledger and rewrite one ledger-signed event (a mint: ten times the credits), re-signed with the
    ledger's key and every later event re-linked, as an operator holding both would: the chain stays consistent."""
    from swarmtrust.ledger.events import GENESIS_HASH, event_hash, open_event_record
    from swarmtrust.ledger.statements import Mint

    with (
        contextlib.closing(sqlite3.connect(workdir / "ledger.db")) as source,
        contextlib.closing(sqlite3.connect(workdir / "rewritten.db")) as copy,
    ):
        source.backup(copy)
    rewritten = 0
    with contextlib.closing(sqlite3.connect(workdir / "rewritten.db")) as db, db:
        db.execute("DROP TRIGGER events_no_update")  # the guard stops accidents, not the owner of the file
        prev = GENESIS_HASH
        rows = db.execute("SELECT seq, kind, payload, signer, signature, recorded_ms FROM events ORDER BY seq")
        for seq, kind, payload, signer_hex, signature, recorded_ms in rows.fetchall():
            signer = bytes.fromhex(signer_hex)
            if kind == "mint" and not rewritten:
                record = open_event_record(kind, payload, signer, signature).record
                if isinstance(record, Mint):
                    forged = sign_record(record.replace(amount=record.amount * 10), key)
                    payload, signature, rewritten = forged.body, forged.signature, seq
            digest = event_hash(seq, kind, payload, signer, signature, recorded_ms, prev)
            db.execute(
                "UPDATE events SET payload = ?, signature = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (payload, signature, prev.hex(), digest.hex(), seq),
            )
            prev = digest
        db.execute("UPDATE chain_head SET hash = ?", (prev.hex(),))
    if not rewritten:
        raise DemoError("the demo's ledger holds no mint to rewrite; run the demo again")
    return rewritten
