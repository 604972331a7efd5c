"""Choosing a chain of servers that covers a range of blocks at the least expected cost (pure code).

As in Petals' sequence manager, a shortest path over block boundaries: a server covering blocks
``[a, b)`` may carry any sub-span ``[i, j)`` of it. A hop costs ``step_cost``: the network round trip,
plus per block the expected compute time and a risk premium that grows as the server's trust falls. That
function is the one place where the price of a hop is defined.

Because a hop's cost is linear in its number of blocks, the shortest path is a single sweep over the
boundaries: for each server, the best place to have entered it so far is kept as a running minimum.
That is O(sum of span lengths); 1,000 servers over 80 blocks take a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from swarmtrust.protocol.errors import SwarmtrustError


class NoRouteError(SwarmtrustError):
    """No chain of usable servers covers the blocks; the message names the first uncovered block."""


@dataclass(frozen=True)
class Candidate:
    key: str  # server public key, hex
    start: int
    end: int  # exclusive
    seconds_per_block: float  # expected compute time of one block for one decode step (measured by the client)
    hop_seconds: float  # expected network round trip of one hop
    risk_per_block: float = 0.0  # seconds-equivalent premium per block for trusting this server


@dataclass(frozen=True)
class Hop:
    candidate: Candidate
    start: int
    end: int


def step_cost(candidate: Candidate, blocks: int) -> float:
    """Expected price of one step through ``blocks`` blocks of ``candidate``: time plus risk."""
    return candidate.hop_seconds + (candidate.seconds_per_block + candidate.risk_per_block) * blocks


def choose_chain(candidates: Sequence[Candidate], start: int, end: int, *, exclude: Collection[str] = ()) -> list[Hop]:
    """The cheapest chain of hops covering ``[start, end)``, skipping servers whose key is in ``exclude``."""
    usable = [c for c in candidates if c.key not in exclude and c.start < end and c.end > start]
    # best[b]: least cost to have covered [start, b); via[b]: the hop that ends there on that path.
    infinity = float("inf")
    best = [infinity] * (end - start + 1)
    via: list[Hop | None] = [None] * (end - start + 1)
    best[0] = 0.0
    # For each server: the least (best[i] - slope * i) over the boundaries i where it could be entered.
    entry_value = [infinity] * len(usable)
    entry_at = [0] * len(usable)
    slopes = [c.seconds_per_block + c.risk_per_block for c in usable]
    by_first_block: dict[int, list[int]] = {}
    for index, c in enumerate(usable):
        by_first_block.setdefault(max(c.start, start), []).append(index)
    active: list[int] = []
    for boundary in range(start + 1, end + 1):
        entered = boundary - 1
        active += by_first_block.get(entered, [])
        offset = entered - start
        still: list[int] = []
        for index in active:
            c = usable[index]
            if c.end < boundary:
                continue  # this server ended before: drop it for good
            still.append(index)
            value = best[offset] - slopes[index] * entered
            if value < entry_value[index]:
                entry_value[index], entry_at[index] = value, entered
            cost = entry_value[index] + c.hop_seconds + slopes[index] * boundary
            if cost < best[offset + 1]:
                best[offset + 1] = cost
                via[offset + 1] = Hop(c, entry_at[index], boundary)
        active = still
        if best[offset + 1] == infinity:
            raise NoRouteError(
                f"no usable server covers block {entered} (blocks {start}:{end} needed; {len(usable)} usable "
                "servers); start a server for it or wait for one to announce itself"
            )
    chain: list[Hop] = []
    boundary = end
    while boundary != start:
        hop = via[boundary - start]
        assert hop is not None  # every boundary was reached, or NoRouteError was raised above
        chain.append(hop)
        boundary = hop.start
    return chain[::-1]
