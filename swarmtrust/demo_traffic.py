"""The demo's traffic: clients generating text through the swarm, routed by the ledger's reputations, while a
live table shows what every server served, how its checks went and what the ledger now thinks of it.

Sessions go on until ``duration`` seconds have passed, or, sooner, once every cheater is quarantined and
enough sessions have run since to show where the traffic went.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from swarmtrust.demo_plan import DemoPlan
from swarmtrust.demo_tally import TrafficTally
from swarmtrust.node.client.faults import SessionFailedError
from swarmtrust.node.ledger_api import LedgerApi

SESSIONS_AFTER = 20  # sessions after the last cheater's quarantine before the traffic may stop early
POLL_SECONDS = 1.5  # between reads of the ledger's reputations and spot checks
# Sessions of first contact per server: a cheater corrupting 30% of steps passes one 8-step session unseen 5.8%
# of the time (0.7⁸), three in a row 0.02% (0.7²⁴); a trickle of exploration would give it those in time.
CONTACT_ROUNDS = 3
PROMPTS = (
    "The quick brown fox",
    "Once upon a time, in a village by the sea,",
    "The capital of France is",
    "def fibonacci(n):",
    "In 1969 the first humans",
    "Roses are red,",
)


@dataclass
class LedgerView:
    """What the ledger service says now: each server's reputation and the spot checks so far."""

    reputation: dict[str, dict[str, Any]] = field(default_factory=dict)  # by server key
    challenges: int = 0
    decided: int = 0
    verdicts: int = 0
    disputes: int = 0
    open_disputes: int = 0

    @classmethod
    def read(cls, api: LedgerApi, model_id: str) -> LedgerView:
        book = api.get("/reputation", model=model_id)
        challenges = api.items("/challenges")
        disputes = api.items("/disputes")
        return cls(
            reputation=book["servers"],
            challenges=len(challenges),
            decided=sum(c["phase"] == "decided" for c in challenges),
            verdicts=len(api.items("/verdicts")),
            disputes=len(disputes),
            open_disputes=sum(d["outcome"] is None for d in disputes),
        )

    def states(self) -> dict[str, str]:
        return {key: entry["state"] for key, entry in self.reputation.items()}


@dataclass
class Traffic:
    tally: TrafficTally
    view: LedgerView
    seconds: float


def run_traffic(
    *,
    client: Any,
    source: Any,
    plan: DemoPlan,
    names: dict[str, str],
    client_keys: Sequence[Any],
    api_url: str,
    duration: float,
    max_new_tokens: int,
    avoid: set[str],
    console: Console,
    clock: Callable[[], float] = time.monotonic,
) -> Traffic:
    """Generate sessions (clients taking turns) until ``duration`` or the early end; ``avoid``: server keys
    known to be gone (a server killed earlier leaves its DHT record behind until it expires).

    The first sessions make first contact: each goes through a route the demo picks, until every server has
    served ``CONTACT_ROUNDS`` of them, as a swarm's steady trickle of exploration and probes would in time.
    Then the routing decides.
    Without it, a server that lost the first coin flips waits on the exploration budget, which shrinks as
    newcomers fail, and a short demo may end before it serves anyone."""
    tally = TrafficTally(started=clock())
    cheaters = {key for key, name in names.items() if name in {s.name for s in plan.cheaters}}
    view = LedgerView()
    servers: list[Any] = []
    listed_at = polled_at = float("-inf")
    with (
        LedgerApi(api_url) as api,
        Live(_render(plan, names, tally, view, 0.0), console=console, refresh_per_second=4) as live,
    ):
        while clock() - tally.started < duration and not tally.done(cheaters, SESSIONS_AFTER):
            if clock() - listed_at > 5.0:
                servers = [s for s in client.servers(source.model_id, 8) if s.key not in avoid]
                listed_at = clock()
            index = tally.sessions + tally.failed
            contacts = first_contact(servers) * CONTACT_ROUNDS
            route = contacts[index] if index < len(contacts) else servers
            prompt = tokenize(source.directory, f"{PROMPTS[index % len(PROMPTS)]} ({index})")
            try:
                result = client.generate(
                    source, prompt, max_new_tokens, servers=route, client_key=client_keys[index % len(client_keys)]
                )
            except SessionFailedError as exc:  # e.g. every server of a half failed at once: the next may not
                tally.failed += 1
                live.console.print(f"a session failed: {exc}")
                time.sleep(0.5)
                continue
            tally.session(clock(), Counter(hop.server_key for step in result.steps for hop in step))
            if clock() - polled_at > POLL_SECONDS:
                view = LedgerView.read(api, source.model_id)
                for key in tally.states(clock(), view.states()):
                    label = "cheater" if key in cheaters else "[red]HONEST[/] server"
                    caught = tally.quarantined[key]
                    live.console.print(
                        f"{caught.seconds:5.1f} s: {label} {names.get(key, key[:12])} seen quarantined, after "
                        f"{caught.sessions} sessions through it"
                    )
                polled_at = clock()
            live.update(_render(plan, names, tally, view, clock() - tally.started))
        view = LedgerView.read(api, source.model_id)
        tally.states(clock(), view.states())
        live.update(_render(plan, names, tally, view, clock() - tally.started))
    return Traffic(tally, view, clock() - tally.started)


def first_contact(servers: Sequence[Any]) -> list[list[Any]]:
    """Routes (one server per span, spans in block order) that together use every server once at least."""
    spans: dict[tuple[int, int], list[Any]] = {}
    for server in sorted(servers, key=lambda s: (s.start, s.end, s.key)):
        spans.setdefault((server.start, server.end), []).append(server)
    rounds = max((len(group) for group in spans.values()), default=0)
    return [[group[k % len(group)] for group in spans.values()] for k in range(rounds)]


def tokenize(directory: Path, text: str) -> list[int]:
    return list(_tokenizer(str(directory))(text).input_ids)


@functools.cache
def _tokenizer(directory: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory, local_files_only=True)


def _render(plan: DemoPlan, names: dict[str, str], tally: TrafficTally, view: LedgerView, elapsed: float) -> Group:
    table = Table(title="the swarm, as the ledger sees it", title_justify="left")
    for column in ("server", "blocks", "behavior", "sessions", "steps", "pass", "fail", "trust", "state"):
        table.add_column(column, justify="left" if column in {"server", "blocks", "behavior", "state"} else "right")
    keys = {name: key for key, name in names.items()}
    for server in plan.servers:
        key = keys.get(server.name, "")
        entry = view.reputation.get(key, {})
        state = entry.get("state", "—")
        style = {"quarantined": "red", "trusted": "green"}.get(state, "")
        table.add_row(
            server.name,
            server.blocks,
            server.behavior,
            str(tally.by_server[key]),
            str(tally.steps[key]),
            str(entry.get("passes", 0)),
            str(entry.get("fails", 0)),
            f"{entry['trust']:.2f}" if "trust" in entry else "—",
            Text(state, style=style),
        )
    status = Text(
        f"{elapsed:5.1f} s · {tally.sessions} sessions · {view.challenges} spot checks ({view.decided} decided) · "
        f"{view.verdicts} verdicts · {view.disputes} disputes ({view.open_disputes} open)"
    )
    return Group(status, table)
