"""``swarmtrust ledger ...``: create or upgrade the schema, audit the event log, register models' dtypes and
record calibrated tolerances (operators with the database and the ledger's key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from swarmtrust.ledger.settings import LedgerSettings

if TYPE_CHECKING:
    from swarmtrust.ledger.audit import AuditReport
    from swarmtrust.ledger.store import Ledger

# The SQL stack (the ``ledger`` extra) is imported by the commands that use it, so that ``swarmtrust --help``
# and the other roles' commands work on a machine without it.

app = typer.Typer(
    help="The SQL ledger: schema migrations, audits, model registrations.", no_args_is_help=True, rich_markup_mode=None
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLAlchemy URL of the ledger (default: SWARMTRUST_DB_URL, then a SQLite file in the data dir).",
        show_default=False,
    ),
]


def _display(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _open(url: str) -> Ledger:
    from swarmtrust.ledger.store import Ledger

    return Ledger.open(url)


@app.command()
def upgrade(db: DbOption = None) -> None:
    """Create the ledger schema, or upgrade it to this version's; safe to run again."""
    from swarmtrust.ledger.db import create_ledger_engine
    from swarmtrust.ledger.migrate import upgrade as upgrade_schema

    url = LedgerSettings().resolved_db_url(db)
    engine = create_ledger_engine(url)
    try:
        before, after = upgrade_schema(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"ledger {_display(url)} is already at schema revision {after}")
    else:
        typer.echo(f"ledger {_display(url)} upgraded: {before or 'empty'} -> {after}")


@app.command()
def audit(
    db: DbOption = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="A head hash recorded earlier: fail unless the chain still contains it."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    checkpoints: Annotated[
        bool,
        typer.Option(
            "--checkpoints",
            help="Also recompute every checkpoint from the events and check its verifiers' co-signatures.",
        ),
    ] = False,
) -> None:
    """Verify the hash chain and every signature, and re-derive the derived tables from the events.

    Exit status 0 when the ledger is clean, 1 when anything was altered, deleted or inserted out of chain.
    """
    from swarmtrust.ledger.checkpoints import audit_checkpoints

    url = LedgerSettings().resolved_db_url(db)
    with _open(url) as ledger:
        report = ledger.audit(anchor=anchor)
        attested = audit_checkpoints(ledger.engine) if checkpoints else None
    if as_json:
        shown = _report_json(report)
        if attested is not None:
            shown["checkpoints"] = {
                "ok": attested.ok,
                "checkpoints": [vars(c) for c in attested.checkpoints],
                "problems": attested.problems,
            }
        typer.echo(json.dumps(shown, indent=2))
    else:
        _print_report(report, _display(url))
        if attested is not None:
            final = attested.last_final
            typer.echo(
                f"checkpoints: {len(attested.checkpoints)}; last final: "
                + (
                    f"{final.number} (seq {final.seq}, {final.signed_weight} of {final.total_weight} weight)"
                    if final
                    else "none"
                )
            )
            for problem in attested.problems:
                typer.echo(f"  checkpoint problem: {problem}")
    if not report.ok or (attested is not None and not attested.ok):
        raise typer.Exit(1)


@app.command()
def checkpoint(
    ledger_key: Annotated[
        Path,
        typer.Option(envvar="SWARMTRUST_LEDGER_KEY", help="The ledger's signing key (the one `api serve --key` uses)."),
    ],
    db: DbOption = None,
) -> None:
    """Propose a checkpoint of the log as it stands (the ledger signs it; verifiers co-sign it once they have
    recomputed it from the events)."""
    from swarmtrust.ledger.checkpoints import propose_checkpoint
    from swarmtrust.protocol.keys import load_signing_key

    key = load_signing_key(ledger_key)
    url = LedgerSettings().resolved_db_url(db)
    with _open(url) as ledger:
        done = propose_checkpoint(ledger.engine, key)
    if done.checkpoint is None:
        typer.echo("no event yet: nothing to checkpoint")
        return
    record = done.checkpoint.record
    verb = "proposed" if done.status == "recorded" else "stands: no event since"
    typer.echo(
        f"checkpoint {record.number} at seq {record.seq} {verb}; state root {record.state_root.hex()[:16]}…, "
        f"{len(record.verifier_keys)} verifier(s) sign the next"
    )


def _report_json(report: AuditReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "events_checked": report.events_checked,
        "events_by_kind": report.kinds,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "first_bad_seq": report.first_bad_seq,
        "audit_coins": {"checked": report.coins_checked, "awaiting_reveal": report.coins_awaiting_reveal},
        "problems": [{"seq": p.seq, "where": p.where, "message": p.message} for p in report.problems],
    }


def _print_report(report: AuditReport, where: str) -> None:
    console = Console(highlight=False)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items())) or "none"
    console.print(f"ledger {where}")
    console.print(f"events checked: {report.events_checked} ({kinds})")
    console.print(f"chain head: seq {report.head_seq} hash {report.head_hash}")
    console.print(
        f"audit coins: {report.coins_checked} recomputed from revealed seeds, "
        f"{report.coins_awaiting_reveal} awaiting their seed's reveal"
    )
    if report.ok:
        console.print("[green]clean[/]: the chain links, every signature verifies, derived tables match the events")
        return
    console.print(f"[red]{len(report.problems)} problem(s)[/]; first bad sequence number: {report.first_bad_seq}")
    for problem in report.problems[:50]:
        seq = "-" if problem.seq is None else str(problem.seq)
        console.print(f"  seq {seq:>8}  {problem.where}: {problem.message}", markup=False)
    if len(report.problems) > 50:
        console.print(f"  ... and {len(report.problems) - 50} more (use --json for all)")


@app.command("register-model")
def register_model(
    model_id: Annotated[str, typer.Option(help="The model id clients, servers and receipts use, e.g. tiny.")],
    dtype: Annotated[
        list[str],
        typer.Option(help="An allowed serving dtype (repeat; the first is the default): float32, bfloat16, float16."),
    ],
    ledger_key: Annotated[
        Path,
        typer.Option(envvar="SWARMTRUST_LEDGER_KEY", help="The ledger's signing key (the one `api serve --key` uses)."),
    ],
    db: DbOption = None,
) -> None:
    """Fix the dtypes a model may be served in: clients route only to those, servers refuse to start in
    another, verifiers fail sessions served in another (judged by the registration when each session began)."""
    from swarmtrust.protocol.keys import load_signing_key

    key = load_signing_key(ledger_key)
    url = LedgerSettings().resolved_db_url(db)
    with _open(url) as ledger:
        done = ledger.register_model(key, model_id, dtype)
    verb = "registered" if done.status == "recorded" else "was already registered"
    typer.echo(f"model {model_id} {verb} for {', '.join(dtype)} (event {done.seq})")


@app.command("add-tolerance")
def add_tolerance(
    record: Annotated[Path, typer.Option(help="A signed tolerance record (`swarmtrust verifier sign-tolerance`).")],
    db: DbOption = None,
) -> None:
    """Record a calibrator-signed tolerance record for its model and dtype (the latest per pair is kept)."""
    from swarmtrust.ledger.model_registry import open_tolerance

    wire = record.read_bytes()
    signed = open_tolerance(wire)
    url = LedgerSettings().resolved_db_url(db)
    with _open(url) as ledger:
        done = ledger.add_tolerance(wire)
    r = signed.record
    verb = "recorded" if done.status == "recorded" else "was already recorded"
    typer.echo(
        f"tolerance for {r.model_id} in {r.dtype}, replayed on {r.device} ({r.hardware!r}), {verb} (event {done.seq})"
    )


@app.command()
def models(db: DbOption = None) -> None:
    """Registered models: their allowed serving dtypes (the default first) and calibrated tolerances."""
    url = LedgerSettings().resolved_db_url(db)
    with _open(url) as ledger:
        views = ledger.models()
    if not views:
        typer.echo("no model is registered: each is served and judged in its config.json torch_dtype")
    for view in views:
        tolerances = (
            ", ".join(
                f"{dtype} on {device} ({t['hardware']})"
                for dtype, by_device in view["tolerances"].items()
                for device, t in by_device.items()
            )
            or "none"
        )
        typer.echo(
            f"{view['model_id']}: {', '.join(view['dtypes'])} since {view['registered_ms']} "
            f"({len(view['history'])} registrations); tolerances: {tolerances}"
        )
