"""Which blocks a server started with ``--num-blocks`` serves, and when it moves (pure).

As in Petals: each block's coverage is the summed weight of the servers holding it (their announced throughput
times their trust at the ledger); a server takes the window of its length whose weakest block is weakest
(ties: the smaller total, then the first), and later moves there when that would raise the swarm's weakest
block past its current by ``REBALANCE_GAIN`` (Petals' balance quality of 0.75), so that servers do not chase
each other over small differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

REBALANCE_GAIN = 1 / 0.75


@dataclass(frozen=True)
class Holder:
    """A server as the choice sees it: its blocks and its weight (throughput × trust)."""

    start: int
    end: int
    weight: float


def coverage(holders: Sequence[Holder], num_blocks: int) -> list[float]:
    """Each block's summed weight of the servers holding it."""
    cover = [0.0] * num_blocks
    for holder in holders:
        for block in range(max(0, holder.start), min(num_blocks, holder.end)):
            cover[block] += holder.weight
    return cover


def thinnest_start(cover: Sequence[float], length: int) -> int:
    """The first block of the window of ``length`` blocks where the swarm is thinnest."""
    if not 0 < length <= len(cover):
        raise ValueError(f"a window of {length} blocks does not fit a model of {len(cover)}")
    windows = range(len(cover) - length + 1)
    return min(windows, key=lambda start: (min(cover[start : start + length]), sum(cover[start : start + length])))


def weakest_with(cover: Sequence[float], start: int, length: int, weight: float) -> float:
    """The swarm's weakest block once a server of ``weight`` holds ``[start, start + length)``."""
    return min(c + weight if start <= block < start + length else c for block, c in enumerate(cover))


def better_start(others: Sequence[float], current: int, length: int, weight: float) -> int | None:
    """Where this server should move, given the coverage ``others`` give without it; None to stay."""
    best = thinnest_start(others, length)
    if best == current:
        return None
    now = weakest_with(others, current, length, weight)
    after = weakest_with(others, best, length, weight)
    return best if after > now * REBALANCE_GAIN else None
