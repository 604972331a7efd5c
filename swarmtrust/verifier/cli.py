"""``swarmtrust verifier start`` and ``swarmtrust verifier calibrate``."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from swarmtrust.node.cli_options import Device, InitialPeers, Verbose, configure_logging, split_peers

app = typer.Typer(
    help="Verifier nodes: recompute spans from evidence and sign verdicts.", no_args_is_help=True, rich_markup_mode=None
)


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
        Path | None,
        typer.Option(
            help="A local override: judge the (model, dtype) pairs this file (`verifier calibrate --out`) holds by "
            "it rather than by the ledger's signed tolerance records (default: the ledger's only)."
        ),
    ] = None,
    trust_calibrator: Annotated[
        list[str],
        typer.Option(
            help="Take only tolerance records signed by this calibrator key (hex; repeat for several). Default: any "
            "record the ledger serves (it admits them only from its administrators)."
        ),
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    poll_interval: Annotated[float, typer.Option(min=0.05, help="Seconds between asking for work when idle.")] = 0.5,
    exact_replay: Annotated[
        bool,
        typer.Option(
            help="Compare escalated checks bit for bit where the tolerance document measured stepwise replay exact "
            "on this hardware class: only where honest servers run on that class too, each session alone "
            "(`node start --batch-sessions 1`), as in one-machine swarms."
        ),
    ] = False,
    behavior: Annotated[
        str, typer.Option(help="honest, or always-pass / always-fail / stall (tests and the demo).")
    ] = "honest",
    torch_threads: Annotated[int | None, typer.Option(min=1, help="torch intra-op threads.")] = None,
    device: Device = "auto",
    cosign_interval: Annotated[
        float,
        typer.Option(
            min=0.0, help="Seconds between rounds of checking and co-signing the ledger's checkpoints (0: never)."
        ),
    ] = 5.0,
    checkpoint_memory: Annotated[
        Path | None,
        typer.Option(
            help="Where the latest checkpoint co-signed (or the reason for refusing one) is kept across restarts "
            "(default: beside the key, KEY.checkpoints.json)."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Check challenges assigned by the ledger, co-sign its checkpoints once recomputed from the events, and (with
    --probe-interval) probe servers as a client.

    Sessions are judged by the tolerance records the ledger serves for the model and each registered dtype (or
    --tolerances FILE); a session in a dtype with neither gets no verdict, and the log says why.

    Prints one JSON line when ready; stops cleanly on SIGTERM or SIGINT.
    """
    configure_logging(verbose)
    import torch

    from swarmtrust.node.device import resolve_device
    from swarmtrust.node.ledger_api import LedgerApi
    from swarmtrust.node.model.source import resolve_model
    from swarmtrust.protocol.keys import load_signing_key
    from swarmtrust.verifier.escalation import DEFAULT_ESCALATION
    from swarmtrust.verifier.ledger_tolerances import parse_calibrator_keys
    from swarmtrust.verifier.replay import SpanCache
    from swarmtrust.verifier.tolerance import load_tolerances
    from swarmtrust.verifier.worker import VerifierWorker, WorkerConfig

    if torch_threads:
        torch.set_num_threads(torch_threads)
    replay_device = resolve_device(device)
    signing_key = load_signing_key(key)
    source = resolve_model(model)
    thresholds = load_tolerances(str(tolerances)) if tolerances else None
    try:
        trust = parse_calibrator_keys(trust_calibrator)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--trust-calibrator") from None
    escalation = replace(DEFAULT_ESCALATION, exact=exact_replay)
    peers = split_peers(initial_peers)
    client = None
    if probe_interval > 0:
        if not peers:
            raise typer.BadParameter("--probe-interval needs --initial-peers to reach the swarm")
        from swarmtrust.node.client.swarm import SwarmClient

        client = SwarmClient(peers, ledger_url=ledger)  # forks its DHT process: before any thread starts
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threads = []
    cosign_api: LedgerApi | None = None
    try:
        with LedgerApi(ledger, signing_key) as api:
            worker = VerifierWorker(
                api,
                signing_key,
                SpanCache(source, device=replay_device),
                thresholds,
                WorkerConfig(poll_interval, behavior, trust=trust, escalation=escalation),
            )
            if client is not None:
                from swarmtrust.verifier.probes import ProbeConfig, build_prober

                prober = build_prober(client, source, ledger, ProbeConfig(probe_interval), probe_corpus)
                threads.append(threading.Thread(target=prober.run, args=(stop,), name="probes", daemon=True))
            if cosign_interval > 0:
                from swarmtrust.checkpoint_cosigning import CheckpointCosigner

                cosign_api = LedgerApi(ledger, signing_key)  # its own connection: it runs in its own thread
                memory = checkpoint_memory or key.with_name(key.name + ".checkpoints.json")
                cosigner = CheckpointCosigner(cosign_api, signing_key, memory=memory)
                threads.append(
                    threading.Thread(target=cosigner.run, args=(stop, cosign_interval), name="checkpoints", daemon=True)
                )
            for thread in threads:
                thread.start()
            typer.echo(json.dumps({"event": "ready", "public_key": worker.public_key.hex(), "behavior": behavior}))
            worker.run(stop)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if cosign_api is not None:
            cosign_api.close()
        if client is not None:
            client.close()


@app.command()
def calibrate(
    model: Annotated[str, typer.Option(help="'tiny' or a local model directory.")] = "tiny",
    dtype: Annotated[
        list[str] | None, typer.Option(help="Dtypes to calibrate (repeat): float32, bfloat16, float16; default all.")
    ] = None,
    seconds: Annotated[float, typer.Option(min=1, help="CPU seconds of honest sessions per dtype.")] = 180.0,
    sessions: Annotated[int, typer.Option(min=40, help="At most this many honest sessions per dtype.")] = 100_000,
    adversary_sessions: Annotated[
        int, typer.Option(min=1, help="Held-out sessions each adversary re-serves per dtype.")
    ] = 200,
    crafted_seconds: Annotated[
        float, typer.Option(min=0, help="CPU seconds per span searching crafted inputs that inflate honest errors.")
    ] = 4.0,
    out: Annotated[Path | None, typer.Option(help="Write the tolerance documents (JSON) here; default: print.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random prompts, batches and spans.")] = 0,
    device: Annotated[
        str, typer.Option(help="Where the verifier's replays run: auto, cpu, cuda or cuda:N (keys the documents).")
    ] = "cpu",
    server_device: Annotated[
        list[str] | None,
        typer.Option(
            help="A device honest servers run on (repeat): sessions are served in turn on each. Default: the CPU, "
            "and CUDA where this machine has it."
        ),
    ] = None,
) -> None:
    """Run honest sessions as servers do, fit each block's thresholds to their tail, raise them above what crafted
    inputs give an honest server, measure the held-out false positives and what each adversary behaviour is caught
    at: one tolerance document per dtype, for replays on --device, holding for servers on every --server-device."""
    configure_logging(False)
    import torch

    from swarmtrust.node.device import device_kind, resolve_device
    from swarmtrust.node.tensors import TORCH_DTYPES
    from swarmtrust.verifier.calibration import calibrate as run_calibration

    dtypes = dtype or ["float32", "bfloat16", "float16"]
    unknown = [d for d in dtypes if d not in TORCH_DTYPES]
    if unknown:
        raise typer.BadParameter(f"unknown dtype(s) {', '.join(unknown)}: use {', '.join(TORCH_DTYPES)}")
    replay_device = resolve_device(device)
    named = server_device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    servers = {device_kind(where): where for where in map(resolve_device, named)}
    documents = run_calibration(
        model, dtypes, seconds=seconds, max_sessions=sessions, adversary_sessions=adversary_sessions, seed=seed,
        crafted_seconds=crafted_seconds, progress=typer.echo, device=replay_device, servers=servers,
    )  # fmt: skip
    text = json.dumps(documents, indent=1)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}")


@app.command("sign-tolerance")
def sign_tolerance(
    key: Annotated[Path, typer.Option(help="The calibrator's signing key (`swarmtrust node keygen`).")],
    calibration: Annotated[Path, typer.Option(help="A calibration file (`swarmtrust verifier calibrate --out`).")],
    dtype: Annotated[str, typer.Option(help="Which dtype's document to sign: float32, bfloat16 or float16.")],
    out: Annotated[Path, typer.Option(help="Where to write the signed record (`swarmtrust ledger add-tolerance`).")],
    hardware: Annotated[
        str | None, typer.Option(help="The hardware class measured on (default: the document's, else this machine's).")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="Which replay device kind's document to sign (cpu, cuda) where the file holds several."),
    ] = None,
) -> None:
    """Sign one dtype's tolerance document of a calibration as a ToleranceRecord, for an administrator to add to
    the ledger (`swarmtrust ledger add-tolerance --record OUT`, or POST /api/v1/admin/tolerances)."""
    from swarmtrust.protocol.keys import load_signing_key
    from swarmtrust.verifier.tolerance_records import CalibrationFileError, sign_tolerance

    try:
        parsed = json.loads(calibration.read_text())
    except (OSError, ValueError) as exc:
        raise CalibrationFileError(f"cannot read the calibration file {calibration}: {exc}") from None
    signed = sign_tolerance(parsed, dtype, load_signing_key(key), hardware=hardware, device=device)
    out.write_bytes(signed.to_wire())
    record = signed.record
    typer.echo(
        f"signed the {record.dtype} tolerances of {record.model_id}, replayed on {record.device} "
        f"({record.hardware}), into {out}"
    )
