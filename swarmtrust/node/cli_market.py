"""``swarmtrust market ...``: an operator's or a client's account at the ledger from the command line: the
balance, bonding and unbonding, a price, transfers, and the account's history. Every record is signed with
``--key`` and sent with a request signed by the same key."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from swarmtrust.node.cli_options import UsageError
from swarmtrust.protocol.market_records import MAX_PRICE, MICRO

market_app = typer.Typer(
    help="Your account at the ledger: balance, bond and unbond, price, transfer, history.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Key = Annotated[Path, typer.Option(help="Your signing key (`swarmtrust node keygen`); its public key is the account.")]
Ledger = Annotated[str, typer.Option(help="The ledger service's URL, e.g. http://127.0.0.1:8080.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the ledger's answer as JSON.")]
Credits = Annotated[str, typer.Argument(help="Credits, e.g. 12.5 (at most 6 decimals: 1 micro-credit).")]


def parse_credits(text: str) -> int:
    """Micro-credits from a decimal number of credits; UsageError for anything but a positive amount with at
    most 6 decimals."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(f"{text!r} is not a number of credits (e.g. 12.5)") from None
    micro = amount * MICRO
    if not amount.is_finite() or micro != micro.to_integral_value():
        raise UsageError(f"{text!r}: credits have at most 6 decimals (1 micro-credit = 0.000001)")
    if micro <= 0:
        raise UsageError(f"{text!r}: the amount must be above 0")
    return int(micro)


def _credits(micro: int | None) -> str:
    return "-" if micro is None else f"{Decimal(micro) / MICRO:,.6f}".rstrip("0").rstrip(".")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _api(key_path: Path, ledger: str) -> Any:
    from swarmtrust.node.ledger_api import LedgerApi
    from swarmtrust.protocol.keys import load_signing_key

    key = load_signing_key(key_path)
    return key, LedgerApi(ledger, key)


def _send(key_path: Path, ledger: str, kind: str, build: Any, as_json: bool) -> None:
    """Sign the record ``build(public_key)`` makes with the key and post it as ``kind``; print the ledger's
    answer."""
    from swarmtrust.protocol.signing import sign_record

    key, api = _api(key_path, ledger)
    with api:
        record = build(bytes(key.verify_key))
        answer = api.request("POST", f"/market/{kind}", sign_record(record, key).to_wire(), "application/octet-stream")
        taken = answer.json()
        account = api.get(f"/accounts/{bytes(key.verify_key).hex()}")
    if as_json:
        typer.echo(json.dumps({"taken": taken, "account": account}))
    else:
        typer.echo(f"{kind} recorded at seq {taken['seq']}; " + _describe(account))


def _describe(account: dict[str, Any]) -> str:
    parts = [f"balance {_credits(account['balance'])} credits"]
    if account.get("bond") is not None:
        parts.append(
            f"bond {_credits(account['bond'])}" + (" (meets the bond rule)" if account["fully_bonded"] else "")
        )
    if account.get("price"):
        parts.append(f"price {account['price']} micro-credits per block-token")
    if account.get("earning_in_escrow"):
        parts.append(f"earning {_credits(account['earning_in_escrow'])} in escrow")
    if account.get("paying_in_escrow"):
        parts.append(f"paying {_credits(account['paying_in_escrow'])} in escrow")
    return "; ".join(parts)


@market_app.command()
def balance(key: Key, ledger: Ledger, as_json: AsJson = False) -> None:
    """Your balance, bond, price and what is in escrow for and from you."""
    signing_key, api = _api(key, ledger)
    with api:
        account = api.get(f"/accounts/{bytes(signing_key.verify_key).hex()}")
    typer.echo(json.dumps(account) if as_json else _describe(account))


@market_app.command()
def bond(amount: Credits, key: Key, ledger: Ledger, as_json: AsJson = False) -> None:
    """Move credits from your account into your bond, which a confirmed cheat is slashed from."""
    from swarmtrust.protocol.market_records import BondDeposit

    micro = parse_credits(amount)
    _send(key, ledger, "bond", lambda me: BondDeposit(os.urandom(16), me, micro, _now_ms()), as_json)


@market_app.command()
def unbond(amount: Credits, key: Key, ledger: Ledger, as_json: AsJson = False) -> None:
    """Move credits from your bond back to your account: refused while anything you served can still be
    challenged (payments in escrow, undecided challenges, or a session younger than the challenge window)."""
    from swarmtrust.protocol.market_records import BondWithdrawal

    micro = parse_credits(amount)
    _send(key, ledger, "unbond", lambda me: BondWithdrawal(os.urandom(16), me, micro, _now_ms()), as_json)


@market_app.command()
def price(
    micro_credits: Annotated[
        int, typer.Argument(min=0, max=MAX_PRICE, help="Micro-credits per block-token (0: serve for free).")
    ],
    key: Key,
    ledger: Ledger,
    model: Annotated[str, typer.Option(help="The model the price is for.")] = "tiny",
    as_json: AsJson = False,
) -> None:
    """Quote your price: micro-credits per block-token (one token through one block)."""
    from swarmtrust.protocol.market_records import PriceQuote

    _send(key, ledger, "price", lambda me: PriceQuote(me, model, micro_credits, _now_ms()), as_json)


@market_app.command()
def transfer(
    amount: Credits,
    key: Key,
    ledger: Ledger,
    to: Annotated[str, typer.Option(help="The payee's public key (64 hex digits).")],
    memo: Annotated[str | None, typer.Option(help="A note recorded with the transfer.")] = None,
    as_json: AsJson = False,
) -> None:
    """Send credits to another key's account (a client key of yours, say, to pay for your own sessions)."""
    from swarmtrust.protocol.market_records import Transfer

    micro = parse_credits(amount)
    try:
        payee = bytes.fromhex(to)
    except ValueError:
        raise UsageError(f"--to {to!r}: a public key is 64 hex digits") from None
    if len(payee) != 32:
        raise UsageError(f"--to {to!r}: a public key is 64 hex digits")
    _send(key, ledger, "transfer", lambda me: Transfer(os.urandom(16), me, payee, micro, memo, _now_ms()), as_json)


@market_app.command()
def history(
    key: Key,
    ledger: Ledger,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Movements to show, newest first.")] = 20,
    as_json: AsJson = False,
) -> None:
    """Movements into and out of your account, newest first."""
    signing_key, api = _api(key, ledger)
    me = bytes(signing_key.verify_key).hex()
    with api:
        page = api.get(f"/accounts/{me}/movements", limit=str(limit))
    if as_json:
        typer.echo(json.dumps(page["items"]))
        return
    for move in page["items"]:
        sign = "-" if move["from_account"] == me else "+"
        other = move["to_account"] if sign == "-" else (move["from_account"] or "minted")
        amount = sign + _credits(move["amount"])
        typer.echo(f"seq {move['event_seq']:>8}  {amount:>15}  {move['purpose']:<12} {other}")
