"""Choosing a chain of servers that covers a range of blocks at the least expected step time (pure code).

As in Petals' sequence manager, it is a shortest path over block boundaries: a server covering blocks
``[a, b)`` offers an edge from every boundary ``i`` in ``[a, b)`` to every ``j`` in ``(i, b]`` (a client
may use part of a server's span), costing ``step_cost``. ``step_cost`` is the one place where the
price of a hop is defined; reputation joins it in a later issue.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from node.errors import SwarmtrustError


class NoRouteError(SwarmtrustError):
    """No chain of usable servers covers the blocks; the message names the first uncovered block."""


@dataclass(frozen=True)
class Candidate:
    key: str  # server public key, hex
    start: int
    end: int  # exclusive
    seconds_per_block: float  # expected compute time of one block for one decode step
    hop_seconds: float  # expected network round trip of one hop


@dataclass(frozen=True)
class Hop:
    candidate: Candidate
    start: int
    end: int


def step_cost(candidate: Candidate, blocks: int) -> float:
    """Expected seconds for one step through ``blocks`` blocks of ``candidate``."""
    return candidate.hop_seconds + candidate.seconds_per_block * blocks


def choose_chain(candidates: Sequence[Candidate], start: int, end: int, *, exclude: Collection[str] = ()) -> list[Hop]:
    """The cheapest chain of hops covering ``[start, end)``, skipping servers whose key is in ``exclude``."""
    usable = [c for c in candidates if c.key not in exclude and c.start < end and c.end > start]
    best: dict[int, float] = {start: 0.0}
    back: dict[int, tuple[int, Hop]] = {}
    queue: list[tuple[float, int]] = [(0.0, start)]
    while queue:
        cost, boundary = heapq.heappop(queue)
        if boundary == end:
            break
        if cost > best.get(boundary, float("inf")):
            continue
        for candidate in usable:
            if not candidate.start <= boundary < candidate.end:
                continue
            for stop in range(boundary + 1, min(candidate.end, end) + 1):
                total = cost + step_cost(candidate, stop - boundary)
                if total < best.get(stop, float("inf")):
                    best[stop] = total
                    back[stop] = (boundary, Hop(candidate, boundary, stop))
                    heapq.heappush(queue, (total, stop))
    if end not in best:
        reached = max(best)
        raise NoRouteError(
            f"no usable server covers block {reached} (blocks {start}:{end} needed; "
            f"{len(usable)} usable servers); start a server for it or wait for one to announce itself"
        )
    chain: list[Hop] = []
    boundary = end
    while boundary != start:
        boundary, hop = back[boundary]
        chain.append(hop)
    return chain[::-1]
