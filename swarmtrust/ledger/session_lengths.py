"""The lengths of the sessions clients run, from the receipts table: what a verifier's probes imitate.

A session is one server's receipts under one session id. Its prompt is the token count of step 0's input
(``input_shape`` is batch, tokens, hidden) and its length is the number of steps receipted (one step per
new token). Only the newest receipts of a model are read (a bounded window), and a summary, not the
sessions, is returned: shares of (prompt tokens, steps) pairs.

Every server's sessions together weigh the same. Anyone may submit receipts signed by a key of their own,
so a server could flood the ledger with sessions of an odd length: were sessions counted one by one, probes
would then ask for that length and the server would know them. Weighted by server, one key moves the
distribution by at most its share of the servers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from swarmtrust.ledger.models import ReceiptRow

DEFAULT_WINDOW = 20_000  # newest receipts read per summary
MAX_WINDOW = 100_000
MAX_SHARES = 1_000  # (prompt, steps) pairs returned at most: the heaviest, renormalised


@dataclass(frozen=True)
class ReceiptFacts:
    """What the summary needs of one receipt."""

    server_key: str
    session_id: str
    step: int
    input_shape: str  # comma-separated dimensions, as stored


@dataclass(frozen=True)
class LengthShare:
    prompt_tokens: int
    steps: int
    weight: float  # share of sessions (server-weighted); the shares of a summary sum to 1


@dataclass(frozen=True)
class SessionLengths:
    model_id: str
    receipts_read: int
    sessions: int  # sessions whose first step was in the window
    servers: int  # servers those sessions ran on
    shares: tuple[LengthShare, ...]  # heaviest first


def summarise_sessions(model_id: str, receipts: Iterable[ReceiptFacts], max_shares: int = MAX_SHARES) -> SessionLengths:
    """Server-weighted shares of (prompt tokens, steps); sessions whose step 0 is not among ``receipts``
    (begun before the window) or whose shape cannot be read are left out."""
    prompts: dict[tuple[str, str], int] = {}
    steps: dict[tuple[str, str], set[int]] = defaultdict(set)
    read = 0
    for receipt in receipts:
        read += 1
        session = (receipt.server_key, receipt.session_id)
        steps[session].add(receipt.step)
        if receipt.step == 0:
            tokens = _prompt_tokens(receipt.input_shape)
            if tokens is not None:
                prompts[session] = tokens
    per_server: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for session, tokens in prompts.items():
        per_server[session[0]].append((tokens, len(steps[session])))
    weights: dict[tuple[int, int], float] = defaultdict(float)
    for lengths in per_server.values():
        for pair in lengths:
            weights[pair] += 1.0 / (len(per_server) * len(lengths))
    heaviest = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:max_shares]
    total = sum(weight for _, weight in heaviest) or 1.0
    shares = tuple(LengthShare(prompt, count, weight / total) for (prompt, count), weight in heaviest)
    return SessionLengths(model_id, read, len(prompts), len(per_server), shares)


def session_lengths(connection: Connection, model_id: str, window: int = DEFAULT_WINDOW) -> SessionLengths:
    """The summary over the newest ``window`` receipts of ``model_id`` (at most ``MAX_WINDOW``)."""
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window {window}: read between 1 and {MAX_WINDOW} receipts")
    rows = connection.execute(
        select(ReceiptRow.server_key, ReceiptRow.session_id, ReceiptRow.step, ReceiptRow.input_shape)
        .where(ReceiptRow.model_id == model_id)
        .order_by(ReceiptRow.event_seq.desc())
        .limit(window)
    )
    return summarise_sessions(model_id, (ReceiptFacts(*row) for row in rows))


def _prompt_tokens(input_shape: str) -> int | None:
    dims = input_shape.split(",")
    if len(dims) != 3 or not dims[1].strip().isdigit():
        return None
    return int(dims[1])
