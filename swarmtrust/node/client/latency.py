"""Step times the client measures itself, per server (servers' own claims only seed the estimate)."""

from __future__ import annotations


class LatencyTracker:
    def __init__(self, smoothing: float) -> None:
        self._smoothing = smoothing
        self._per_block: dict[str, float] = {}  # seconds per block per step, smoothed

    def observe(self, key: str, blocks: int, seconds: float, hop_seconds: float) -> None:
        sample = max(seconds - hop_seconds, 0.0) / blocks
        known = self._per_block.get(key)
        self._per_block[key] = sample if known is None else known + self._smoothing * (sample - known)

    def expected_seconds(self, key: str, blocks: int, hop_seconds: float) -> float | None:
        """Expected duration of one decode step of ``blocks`` blocks on a server, once measured here."""
        measured = self._per_block.get(key)
        return None if measured is None else hop_seconds + measured * blocks

    def seconds_per_block(self, key: str, announced_throughput: float, span_blocks: int) -> float:
        """Measured if this client has used the server, else derived from its announced throughput."""
        measured = self._per_block.get(key)
        if measured is not None:
            return measured
        return 1.0 / (max(announced_throughput, 1e-3) * span_blocks)
