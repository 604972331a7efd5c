"""``swarmtrust verifier start`` and ``swarmtrust verifier calibrate``."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from node.cli_options import InitialPeers, Verbose, configure_logging, split_peers

app = typer.Typer(help="Verifier nodes: recompute spans from evidence and sign verdicts.", no_args_is_help=True)


@app.command()
def start(
    key: Annotated[Path, typer.Option(help="The verifier's signing key (`swarmtrust node keygen`).")],
    ledger: Annotated[str, typer.Option(help="URL of the ledger service, e.g. http://127.0.0.1:8080.")],
    model: Annotated[
        str, typer.Option(help="'tiny' or a local model directory: the weights to recompute with.")
    ] = "tiny",
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    probe_interval: Annotated[
        float, typer.Option(min=0, help="Mean seconds between probe sessions (0: no probes).")
    ] = 0.0,
    probe_corpus: Annotated[
        Path | None,
        typer.Option(help="Directory of text (.txt, .md, .py) to compose probe prompts from (default: Python's own)."),
    ] = None,
    tolerances: Annotated[
        Path | None, typer.Option(help="Thresholds from `verifier calibrate` (default: shipped).")
    ] = None,
    poll_interval: Annotated[float, typer.Option(min=0.05, help="Seconds between asking for work when idle.")] = 0.5,
    behavior: Annotated[
        str, typer.Option(help="honest, or always-pass / always-fail / stall (tests and the demo).")
    ] = "honest",
    torch_threads: Annotated[int | None, typer.Option(min=1, help="torch intra-op threads.")] = None,
    verbose: Verbose = False,
) -> None:
    """Check challenges assigned by the ledger, and (with --probe-interval) probe servers as a client.

    Prints one JSON line when ready; stops cleanly on SIGTERM or SIGINT.
    """
    configure_logging(verbose)
    import torch

    from node.keys import load_signing_key
    from node.ledger_api import LedgerApi
    from node.model.source import resolve_model
    from verifier.replay import SpanCache
    from verifier.tolerance import load_tolerances
    from verifier.worker import VerifierWorker, WorkerConfig

    if torch_threads:
        torch.set_num_threads(torch_threads)
    signing_key = load_signing_key(key)
    source = resolve_model(model)
    thresholds = load_tolerances(str(tolerances) if tolerances else None)
    peers = split_peers(initial_peers)
    client = None
    if probe_interval > 0:
        if not peers:
            raise typer.BadParameter("--probe-interval needs --initial-peers to reach the swarm")
        from node.client.swarm import SwarmClient

        client = SwarmClient(peers, ledger_url=ledger)  # forks its DHT process: before any thread starts
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threads = []
    try:
        with LedgerApi(ledger, signing_key) as api:
            worker = VerifierWorker(
                api, signing_key, SpanCache(source), thresholds, WorkerConfig(poll_interval, behavior)
            )
            if client is not None:
                from verifier.probes import ProbeConfig, build_prober

                prober = build_prober(client, source, ledger, ProbeConfig(probe_interval), probe_corpus)
                threads.append(threading.Thread(target=prober.run, args=(stop,), name="probes", daemon=True))
            for thread in threads:
                thread.start()
            typer.echo(json.dumps({"event": "ready", "public_key": worker.public_key.hex(), "behavior": behavior}))
            worker.run(stop)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if client is not None:
            client.close()


@app.command()
def calibrate(
    model: Annotated[str, typer.Option(help="'tiny' or a local model directory.")] = "tiny",
    dtype: Annotated[list[str] | None, typer.Option(help="Dtypes to calibrate (repeat; default both).")] = None,
    comparisons: Annotated[int, typer.Option(min=100, help="Honest step comparisons per dtype.")] = 100_000,
    margin: Annotated[float, typer.Option(min=1.0, help="Thresholds = largest honest error x this margin.")] = 4.0,
    out: Annotated[Path | None, typer.Option(help="Write thresholds (JSON) here; default: print them.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random prompts and spans.")] = 0,
) -> None:
    """Measure honest error distributions (prefill vs decode, batch sizes, dtypes) and set the thresholds."""
    configure_logging(False)
    from verifier.calibration import calibrate as run_calibration

    report = run_calibration(
        model, dtype or ["float32", "bfloat16"], comparisons=comparisons, margin=margin, seed=seed, progress=typer.echo
    )
    text = json.dumps(report, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}")
