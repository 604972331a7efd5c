"""The line a running server prints once a minute: what it served, and what the ledger makes of it.

``status_line`` is pure; ``fetch_standing`` asks the ledger (``node start --ledger URL``) for this server's
spot checks, trust and earnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.market_records import MICRO
from swarmtrust.protocol.rest import ServerReputation


@dataclass
class ServerTally:
    """What this server has served since it started (counted by the handlers)."""

    sessions: int = 0  # sessions opened, stateless forwards included
    steps: int = 0  # steps computed and receipted
    one_token_steps: int = 0  # of those, one-token steps (``step_batcher``: they share forward passes)
    one_token_passes: int = 0  # the forward passes that computed them

    def copy(self) -> ServerTally:
        return ServerTally(self.sessions, self.steps, self.one_token_steps, self.one_token_passes)

    def count_pass(self, steps: int) -> None:
        self.one_token_passes += 1
        self.one_token_steps += steps


class LedgerStanding(NamedTuple):
    """This server as the ledger sees it."""

    state: str  # newcomer, trusted or quarantined
    trust: float
    passes: int
    fails: int
    balance: int  # micro-credits in its account: what it has earned and not spent
    earning_in_escrow: int  # micro-credits paid to it, held until their challenge window closes


def status_line(
    tally: ServerTally, since: ServerTally, open_sessions: int, standing: LedgerStanding | str | None
) -> str:
    """One line for the operator. ``since``: the tally at the previous line; ``standing``: the ledger's view, a
    reason it is unknown (the ledger did not answer), or None when the server reports to no ledger."""
    served = (
        f"{open_sessions} session(s) open; {tally.sessions} sessions, {tally.steps} steps served "
        f"(+{tally.sessions - since.sessions} sessions, +{tally.steps - since.steps} steps since the last line)"
    )
    passes = tally.one_token_passes - since.one_token_passes
    if passes:
        batched = (tally.one_token_steps - since.one_token_steps) / passes
        served += f"; one-token steps {batched:.1f} sessions a forward pass"
    if standing is None:
        return f"{served}; no ledger (start with --ledger URL to see spot checks, trust and earnings)"
    if isinstance(standing, str):
        return f"{served}; ledger: {standing}"
    return (
        f"{served}; spot checks {standing.passes} passed, {standing.fails} failed; trust {standing.trust:.3f} "
        f"({standing.state}); earned {_credits(standing.balance)} credits, {_credits(standing.earning_in_escrow)} "
        "in escrow"
    )


def _credits(micro: int) -> str:
    return f"{micro / MICRO:,.2f}"


def fetch_standing(api: LedgerApi, server_key: str) -> LedgerStanding | str:
    """The ledger's view of ``server_key``, or why it could not be had (in a few words)."""
    try:
        reputation = ServerReputation.model_validate(api.get(f"/servers/{server_key}/reputation"))
        account = api.get(f"/accounts/{server_key}")
    except (LedgerApiError, ValueError) as exc:  # unreachable, refused, or an answer of another shape
        return f"no answer ({exc})"
    return LedgerStanding(
        reputation.state,
        reputation.trust,
        reputation.passes,
        reputation.fails,
        int(account.get("balance") or 0),
        int(account.get("earning_in_escrow") or 0),
    )
