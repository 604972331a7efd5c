"""``swarmtrust generate``: text through the swarm (or ``--local``, in-process), every receipt checked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

MAX_BATCH = 1024  # prompts in one command

if TYPE_CHECKING:  # both load torch: imported where used, so that `swarmtrust --help` stays light
    from swarmtrust.node.sampling import StopRule


def generate(
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens to generate.")],
    model: Annotated[str, typer.Option(help="'tiny' or a local Hugging Face model directory.")] = "tiny",
    initial_peers: InitialPeers = [],  # noqa: B006 - typer reads the default, never mutates it
    prompt: Annotated[
        list[str], typer.Option(help="Prompt text (tokenized with the model's tokenizer); repeat for a batch.")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature (0: greedy, the most likely token each step).")
    ] = 0.0,
    top_k: Annotated[int, typer.Option(min=0, help="Sample among the k most likely tokens only (0: all).")] = 0,
    top_p: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Sample among the fewest tokens whose probability reaches p.")
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the sampling (the same seed, the same text).")
    ] = None,
    stop: Annotated[
        list[str], typer.Option(help="Stop once the text holds this string (repeatable; needs the tokenizer).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    ignore_eos: Annotated[
        bool, typer.Option("--ignore-eos", help="Go on past the model's end-of-sequence token.")
    ] = False,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print the text as it is generated (not with --json).")
    ] = True,
    prompt_ids: Annotated[
        list[str], typer.Option(help="Prompt token ids, comma-separated, e.g. 1,2,3; repeat for a batch.")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    local: Annotated[
        bool, typer.Option("--local", help="Run the whole model in this process (the reference).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print tokens and per-step receipt summaries as JSON.")
    ] = False,
    step_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one server's answer.")] = 30.0,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for servers to cover every block.")] = 30.0,
    torch_threads: Annotated[int | None, typer.Option(min=1, help="torch intra-op threads.")] = None,
    device: Annotated[
        str, typer.Option(help="With --local: where the model runs (auto: CUDA when present, else CPU; cpu; cuda:N).")
    ] = "auto",
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
    checkpoint_memory: Annotated[
        Path | None,
        typer.Option(
            help="File keeping the latest final checkpoint seen per ledger across runs: a ledger answering from an "
            "earlier or another history is refused (default: CLIENT_KEY.seen-checkpoints.json with --client-key, else "
            "kept for this run only)."
        ),
    ] = None,
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
    """Generate through the swarm (or --local), greedy or sampled, checking every receipt on the way."""
    configure_logging(verbose)
    import torch

    from swarmtrust.node.model.source import resolve_model
    from swarmtrust.node.sampling import Sampling

    if torch_threads:
        torch.set_num_threads(torch_threads)

    # One generation per prompt of the batch, in turn; each its own draws (the seed plus its place).
    def sampling_of(index: int) -> Sampling:
        return Sampling(temperature, top_k, top_p, None if seed is None else seed + index)

    source = resolve_model(model)
    batch = _prompt_ids(source.directory, prompt, prompt_ids)
    reader = _Reader.of(source.directory, stop, ignore_eos, stream and not as_json)
    if local:
        from swarmtrust.node.device import resolve_device
        from swarmtrust.node.model.local import LocalModel

        reference = LocalModel(source, resolve_device(device))
        for index, ids in enumerate(batch):
            reader.begin()
            generated = reference.generate(
                ids, max_new_tokens, on_token=reader.heard, sampling=sampling_of(index), stop=reader.stop,
                decode=reader.decode,
            )  # fmt: skip
            reader.end()
            report = {"model": source.model_id, "prompt_ids": ids, "tokens": generated.tokens, "local": True}
            _print_result(report | {"stopped": generated.stopped}, reader, as_json)
        return
    peers = split_peers(initial_peers)
    if not peers:
        raise UsageError("--initial-peers is required (or pass --local to run the model in-process)")
    from swarmtrust.node.client.checkpoint_memory import seen_checkpoints_file
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
        # the longest session's length: the most one can be billed
        bond_session_tokens=max(len(ids) for ids in batch) + max_new_tokens,
        pay=pay,
        allow_dtypes=tuple(_serving_dtypes(allow_dtype)),
        checkpoint_memory=checkpoint_memory or (seen_checkpoints_file(client_key) if client_key else None),
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

        for index, ids in enumerate(batch):
            reader.begin()
            result = client.generate(
                source, ids, max_new_tokens, on_event=on_event, sampling=sampling_of(index), stop=reader.stop,
                decode=reader.decode, on_token=reader.heard,
            )  # fmt: skip
            reader.end()
            _print_result({"model": source.model_id, "prompt_ids": ids, **result.to_json()}, reader, as_json)


def _serving_dtypes(dtypes: list[str]) -> list[str]:
    from swarmtrust.protocol.model_records import SERVING_DTYPES

    for dtype in dtypes:
        if dtype not in SERVING_DTYPES:
            raise typer.BadParameter(f"--allow-dtype {dtype!r}: one of {', '.join(SERVING_DTYPES)}")
    return dtypes


def _prompt_ids(directory: Path, prompts: list[str], prompt_ids: list[str]) -> list[list[int]]:
    """The token ids of each prompt of the batch."""
    if bool(prompts) == bool(prompt_ids):
        raise UsageError("give --prompt TEXT or --prompt-ids 1,2,3 (either repeated for a batch), not both")
    if len(prompts) + len(prompt_ids) > MAX_BATCH:
        raise UsageError(f"at most {MAX_BATCH} prompts in a batch")
    batch = []
    for text in prompt_ids:
        try:
            ids = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise UsageError(f"--prompt-ids {text!r}: comma-separated integers, e.g. 1,2,3") from None
        if not ids:
            raise UsageError("--prompt-ids is empty")
        batch.append(ids)
    if prompts:
        from swarmtrust.node.model.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(directory)
        batch = [list(tokenizer(text).input_ids) for text in prompts]
    return batch


class _Reader:
    """The text side of generation: the tokenizer (when the model directory has one), when to stop, and the
    text printed as it comes."""

    def __init__(self, tokenizer: Any, stop: StopRule, streaming: bool) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.streaming = streaming
        self.tokens: list[int] = []
        self.shown = ""  # the text printed so far

    @classmethod
    def of(cls, directory: Path, stop_strings: list[str], ignore_eos: bool, streaming: bool) -> _Reader:
        from swarmtrust.node.model.tokenizer import NoTokenizerError, load_tokenizer
        from swarmtrust.node.sampling import StopRule

        try:
            tokenizer = load_tokenizer(directory)
        except NoTokenizerError:
            if stop_strings:
                raise
            tokenizer = None
        eos = frozenset() if ignore_eos else end_of_sequence_ids(directory)
        return cls(tokenizer, StopRule(eos, tuple(stop_strings)), streaming and tokenizer is not None)

    def begin(self) -> None:
        """A new generation of the batch."""
        self.tokens, self.shown = [], ""

    def decode(self, tokens: Sequence[int]) -> str:
        if self.tokenizer is None:
            from swarmtrust.node.model.tokenizer import NoTokenizerError

            raise NoTokenizerError("no tokenizer to read the text with")
        text: str = self.tokenizer.decode(list(tokens), skip_special_tokens=True)
        return text

    def heard(self, token: int) -> None:
        """A new token: print the text it adds (a token may complete a character begun by the one before)."""
        self.tokens.append(token)
        if self.streaming:
            text = self.decode(self.tokens)
            if text.startswith(self.shown) and not text.endswith("\ufffd"):  # never half a character
                typer.echo(text[len(self.shown) :], nl=False)
                self.shown = text

    def end(self) -> None:
        if self.streaming:
            text = self.decode(self.tokens)
            typer.echo(text[len(self.shown) :] if text.startswith(self.shown) else "")
            self.shown = text


def end_of_sequence_ids(directory: Path) -> frozenset[int]:
    """The model's end-of-sequence token ids, from its config.json (one id or a list; none when absent)."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return frozenset()
    eos = config.get("eos_token_id")
    if isinstance(eos, int):
        return frozenset({eos})
    if isinstance(eos, list):
        return frozenset(i for i in eos if isinstance(i, int))
    return frozenset()


def _print_result(report: dict[str, Any], reader: _Reader, as_json: bool) -> None:
    tokens: list[int] = report["tokens"]
    report["text"] = reader.decode(tokens) if reader.tokenizer is not None else None  # no tokenizer: tokens only
    if as_json:
        typer.echo(json.dumps(report))
        return
    if not reader.streaming:
        typer.echo(report["text"] if report["text"] is not None else " ".join(map(str, tokens)))
    steps = report.get("steps")
    if steps:
        failovers = len(report.get("failovers") or [])
        typer.echo(f"[{len(steps)} steps through the swarm, every receipt checked; {failovers} failover(s)]", err=True)
