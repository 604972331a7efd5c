"""What the simulation measures, and its JSON report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from swarmtrust.simulation.world import World


@dataclass
class Metrics:
    requests: int = 0
    failed: int = 0  # no chain of usable servers
    corrupted: int = 0  # answered with at least one corrupted hop
    serving_work: float = 0.0  # block-steps served
    verification_work: float = 0.0  # block-steps recomputed by verifiers
    late_serving_work: float = 0.0  # ... in the second half of the run (steady state)
    late_verification_work: float = 0.0
    hops: int = 0
    newcomer_hops: int = 0  # hops carried by servers still in the newcomer state
    flood_hops: int = 0  # hops carried by identities that joined in a sybil flood or whitewashed back
    hops_after_flood: int = 0
    checks: int = 0
    disputes: int = 0
    undecided: int = 0  # checks left open: a fail short of its quorum, nobody left to ask
    hidden: int = 0  # checks whose evidence showed the corruption, decided pass (colluders carried it)
    colluder_first_looks: int = 0  # checks a colluding verifier looked at first
    series: dict[str, list[float]] = field(default_factory=lambda: {"corrupted": [], "malicious_share": []})
    _window: list[tuple[int, int, int]] = field(default_factory=list)  # (corrupted, malicious hops, hops)

    def window_point(self, corrupted: bool, malicious_hops: int, hops: int, every: int = 100) -> None:
        """Per ``every`` requests: the share corrupted, and the share of hops carried by malicious servers."""
        self._window.append((int(corrupted), malicious_hops, hops))
        if len(self._window) == every:
            self.series["corrupted"].append(sum(c for c, _, _ in self._window) / every)
            total = sum(h for _, _, h in self._window)
            self.series["malicious_share"].append(sum(m for _, m, _ in self._window) / total if total else 0.0)
            self._window.clear()


def report(
    metrics: Metrics, world: World, scenario: dict[str, Any], checking: dict[str, Any], exploration: float
) -> dict[str, Any]:
    malicious = [s for s in world.servers.values() if s.malicious]
    honest = [s for s in world.servers.values() if not s.malicious]
    caught = [s for s in malicious if s.quarantined_at is not None]
    answered = max(metrics.requests - metrics.failed, 1)
    honest_verifiers = [v.reliability for v in world.verifiers if not v.colluding]
    colluders = [v.reliability for v in world.verifiers if v.colluding]
    return {
        "scenario": scenario,
        "checking": checking,
        "requests": metrics.requests,
        "failed_requests": metrics.failed,
        "honest_false_quarantines": sum(s.quarantined_at is not None for s in honest),
        "corrupted_output_share": metrics.corrupted / answered,
        "verification_overhead": metrics.verification_work / max(metrics.serving_work, 1e-9),
        "steady_state_verification_overhead": metrics.late_verification_work / max(metrics.late_serving_work, 1e-9),
        "median_checks_to_quarantine": statistics.median(s.checks_at_quarantine for s in caught) if caught else None,
        "max_checks_to_quarantine": max((s.checks_at_quarantine for s in caught), default=None),
        "median_requests_to_quarantine": statistics.median(s.served_at_quarantine for s in caught) if caught else None,
        # Checks of corrupted sessions, and corrupted sessions served, up to the conviction (the bound's terms).
        "max_corrupted_checks_to_quarantine": max((s.corrupted_checks_at_quarantine for s in caught), default=None),
        "median_corrupted_before_quarantine": statistics.median(s.corrupted_at_quarantine for s in caught)
        if caught
        else None,
        # (identity, corrupted checks survived, convicted) for every malicious identity: the bound's test.
        "malicious_records": [
            (s.key[:8], s.corrupted_checks, s.quarantined_at is not None, s.corrupted_served) for s in malicious
        ],
        "malicious_identities": len(malicious),
        "malicious_quarantined": len(caught),
        "malicious_never_caught_but_served": sum(1 for s in malicious if s.quarantined_at is None and s.served),
        "newcomer_traffic_share": metrics.newcomer_hops / max(metrics.hops, 1),
        "flood_traffic_share": metrics.flood_hops / max(metrics.hops_after_flood, 1)
        if metrics.hops_after_flood
        else None,
        "exploration_budget": exploration,
        "checks": metrics.checks,
        "disputes": metrics.disputes,
        "undecided_checks": metrics.undecided,
        "hidden_by_colluders": metrics.hidden,
        "colluder_first_look_share": metrics.colluder_first_looks / max(metrics.checks, 1),
        "verifier_reliability": {
            "honest_mean": statistics.fmean(honest_verifiers) if honest_verifiers else None,
            "colluding_mean": statistics.fmean(colluders) if colluders else None,
        },
        "series": metrics.series,
    }
