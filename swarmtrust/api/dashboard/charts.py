"""Geometry of the dashboard's SVG drawings (pure): the block-coverage map and the reputation band.

Only numbers come out of here; the templates draw them (and escape every name they print).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swarmtrust.ledger.reputation_history import HistoryPoint

BLOCK_WIDTH = 40  # SVG units per block
LANE_HEIGHT = 22
LANE_GAP = 4


@dataclass(frozen=True)
class Bar:
    server: dict[str, Any]
    x: float
    y: float
    width: float
    height: float
    css_class: str  # trusted, newcomer, quarantined; plus offline


@dataclass(frozen=True)
class CoverageMap:
    blocks: int
    width: int
    height: int
    bars: list[Bar]
    uncovered: list[int]  # blocks no online, unquarantined server serves


def coverage_map(servers: Sequence[dict[str, Any]]) -> CoverageMap:
    """Each announced server as a bar over its blocks, packed into lanes so that bars never overlap."""
    spans = [s for s in servers if s["block_start"] is not None and s["block_end"] is not None]
    blocks = max((s["block_end"] for s in spans), default=0)
    lanes: list[int] = []  # the end of the last bar in each lane
    bars: list[Bar] = []
    for server in sorted(spans, key=lambda s: (s["block_start"], -s["block_end"], s["public_key"])):
        lane = next((i for i, end in enumerate(lanes) if end <= server["block_start"]), len(lanes))
        if lane == len(lanes):
            lanes.append(0)
        lanes[lane] = server["block_end"]
        state = server["reputation"]["state"]
        bars.append(
            Bar(
                server=server,
                x=server["block_start"] * BLOCK_WIDTH,
                y=LANE_HEIGHT + lane * (LANE_HEIGHT + LANE_GAP),
                width=(server["block_end"] - server["block_start"]) * BLOCK_WIDTH - 2,
                height=LANE_HEIGHT,
                css_class=state if server["online"] else f"{state} offline",
            )
        )
    served = {
        block
        for s in spans
        if s["online"] and s["reputation"]["state"] != "quarantined"
        for block in range(s["block_start"], s["block_end"])
    }
    height = LANE_HEIGHT + max(1, len(lanes)) * (LANE_HEIGHT + LANE_GAP)
    return CoverageMap(blocks, blocks * BLOCK_WIDTH, height, bars, [b for b in range(blocks) if b not in served])


@dataclass(frozen=True)
class BandChart:
    width: int
    height: int
    band: str  # polygon points of the credible band
    mean: str  # polyline points of the posterior mean
    marks: list[tuple[float, float, str]]  # (x, y, event) for fails and administrators' actions
    first_ms: int
    last_ms: int


def band_chart(points: Sequence[HistoryPoint], width: int = 720, height: int = 200) -> BandChart | None:
    """The long posterior's 5-95% band and mean after each event, against the event's time."""
    if not points:
        return None
    first, last = points[0].at_ms, points[-1].at_ms
    span = max(1, last - first)

    def x(at: int) -> float:
        return round(10 + (width - 20) * (at - first) / span, 1) if len(points) > 1 else width / 2

    def y(value: float) -> float:
        return round(10 + (height - 20) * (1.0 - value), 1)

    upper = [f"{x(p.at_ms)},{y(p.upper)}" for p in points]
    lower = [f"{x(p.at_ms)},{y(p.lower)}" for p in reversed(points)]
    marks = [(x(p.at_ms), y(p.mean), p.event) for p in points if p.event != "pass"]
    mean = " ".join(f"{x(p.at_ms)},{y(p.mean)}" for p in points)
    return BandChart(width, height, " ".join(upper + lower), mean, marks, first, last)
