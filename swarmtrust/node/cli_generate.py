"""``swarmtrust generate``: text through the swarm (or ``--local``, in-process), every receipt checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from swarmtrust.node.cli_options import (
    AutoNat,
    Host,
    InitialPeers,
    NatPortMap,
    Port,
    UsageError,
    UseAutoRelay,
    UseRelay,
    Verbose,
    configure_logging,
    network_options,
    split_peers,
)


def generate(
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens to generate.")],
    model: Annotated[str, typer.Option(help="'tiny' or a local Hugging Face model directory.")] = "tiny",
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    prompt: Annotated[str | None, typer.Option(help="Prompt text (tokenized with the model's tokenizer).")] = None,
    prompt_ids: Annotated[str | None, typer.Option(help="Prompt token ids, comma-separated, e.g. 1,2,3.")] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Run the whole model in this process (the reference).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print tokens and per-step receipt summaries as JSON.")
    ] = False,
    step_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one server's answer.")] = 30.0,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for servers to cover every block.")] = 30.0,
    torch_threads: Annotated[int | None, typer.Option(min=1, help="torch intra-op threads.")] = None,
    no_receipts: Annotated[bool, typer.Option("--no-receipts", hidden=True)] = False,
    no_push: Annotated[
        bool,
        typer.Option("--no-push", help="Send every server its input from here (no server-to-server push)."),
    ] = False,
    ledger: Annotated[
        str | None, typer.Option(help="Ledger service URL: spot-checked sessions are challenged there.")
    ] = None,
    spot_check_rate: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Share of server sessions to challenge (default: each server's reputation decides)."
        ),
    ] = None,
    client_key: Annotated[Path | None, typer.Option(help="Key that signs challenges (default: a fresh one).")] = None,
    enforce_bonds: Annotated[
        bool,
        typer.Option(
            "--enforce-bonds/--ignore-bonds",
            help="Servers whose bond is short of the bond rule at their price (docs/market.md) share the "
            "newcomers' exploration budget.",
        ),
    ] = True,
    pay: Annotated[
        bool,
        typer.Option(help="Pay servers through the ledger's market (needs --ledger and --client-key with credits)."),
    ] = False,
    allow_dtype: Annotated[
        list[str],
        typer.Option(
            help="Also route to servers announcing this dtype (repeatable), beyond what the model's registration at "
            "the ledger (else its config.json torch_dtype) allows; verifiers still judge by the registration."
        ),
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    host: Host = "127.0.0.1",
    port: Port = 0,
    nat_port_map: NatPortMap = None,
    auto_nat: AutoNat = None,
    use_relay: UseRelay = None,
    use_auto_relay: UseAutoRelay = None,
    verbose: Verbose = False,
) -> None:
    """Generate greedily through the swarm (or --local), checking every receipt on the way."""
    configure_logging(verbose)
    import torch

    from swarmtrust.node.model.source import resolve_model

    if torch_threads:
        torch.set_num_threads(torch_threads)
    source = resolve_model(model)
    ids = _prompt_ids(source.directory, prompt, prompt_ids)
    if local:
        from swarmtrust.node.model.local import LocalModel

        tokens = LocalModel(source).generate(ids, max_new_tokens).tokens
        _print_result(
            {"model": source.model_id, "prompt_ids": ids, "tokens": tokens, "local": True}, source.directory, as_json
        )
        return
    peers = split_peers(initial_peers)
    if not peers:
        raise UsageError("--initial-peers is required (or pass --local to run the model in-process)")
    from swarmtrust.node.client.config import ClientConfig
    from swarmtrust.node.client.swarm import SwarmClient
    from swarmtrust.protocol.keys import load_signing_key

    network = network_options(host, port, nat_port_map, auto_nat, use_relay, use_auto_relay)
    config = ClientConfig(
        step_timeout=step_timeout,
        receipts=not no_receipts,
        push=not no_push,
        spot_check_rate=spot_check_rate,
        enforce_bonds=enforce_bonds,
        bond_session_tokens=len(ids) + max_new_tokens,  # this session's length: the most it can be billed
        pay=pay,
        allow_dtypes=tuple(_serving_dtypes(allow_dtype)),
    )
    key = load_signing_key(client_key) if client_key else None
    with SwarmClient(peers, network=network, config=config, ledger_url=ledger, client_key=key) as client:
        head = client.head(source)
        client.wait_for_blocks(source.model_id, head.num_blocks, timeout=wait)

        def on_event(kind: str, data: dict[str, object]) -> None:
            if kind == "failover" and not as_json:
                replacements = ", ".join(str(r)[:16] for r in data["replacements"])  # type: ignore[attr-defined]
                typer.echo(
                    f"failover at step {data['step']}: server {str(data['failed'])[:16]} failed ({data['reason']}); "
                    f"replayed {data['replayed_tokens']} tokens to {replacements}",
                    err=True,
                )

        result = client.generate(source, ids, max_new_tokens, on_event=on_event)
    _print_result({"model": source.model_id, "prompt_ids": ids, **result.to_json()}, source.directory, as_json)


def _serving_dtypes(dtypes: list[str]) -> list[str]:
    from swarmtrust.protocol.model_records import SERVING_DTYPES

    for dtype in dtypes:
        if dtype not in SERVING_DTYPES:
            raise typer.BadParameter(f"--allow-dtype {dtype!r}: one of {', '.join(SERVING_DTYPES)}")
    return dtypes


def _prompt_ids(directory: Path, prompt: str | None, prompt_ids: str | None) -> list[int]:
    if (prompt is None) == (prompt_ids is None):
        raise UsageError("give exactly one of --prompt TEXT or --prompt-ids 1,2,3")
    if prompt_ids is not None:
        try:
            ids = [int(part) for part in prompt_ids.split(",") if part.strip()]
        except ValueError:
            raise UsageError(f"--prompt-ids {prompt_ids!r}: comma-separated integers, e.g. 1,2,3") from None
        if not ids:
            raise UsageError("--prompt-ids is empty")
        return ids
    from swarmtrust.node.model.tokenizer import load_tokenizer

    return list(load_tokenizer(directory)(prompt).input_ids)


def _print_result(report: dict[str, Any], directory: Path, as_json: bool) -> None:
    from swarmtrust.node.model.tokenizer import NoTokenizerError, load_tokenizer

    tokens: list[int] = report["tokens"]
    try:
        report["text"] = load_tokenizer(directory).decode(tokens, skip_special_tokens=True)
    except NoTokenizerError:
        report["text"] = None  # a model directory without a tokenizer: tokens only
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(report["text"] if report["text"] is not None else " ".join(map(str, tokens)))
    steps = report.get("steps")
    if steps:
        failovers = len(report.get("failovers") or [])
        typer.echo(f"[{len(steps)} steps through the swarm, every receipt checked; {failovers} failover(s)]", err=True)
