"""The simulation loop: requests routed by the real router, checked and judged by the real consensus
and reputation code, against servers and verifiers that behave as the scenario says."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from ledger.consensus import RoundVerdict, choose_weighted, next_step
from ledger.reputation import DEFAULT_PARAMS, apply_outcome, newcomer, newcomer_prior_mean, outcome_weight
from ledger.reputation_projection import COHORT_START
from node.beta import Beta
from node.client.bans import BanList
from node.client.config import ClientConfig
from node.client.latency import LatencyTracker
from node.client.reputation import ReputationBook, ServerTrust
from node.client.router import Router
from node.client.routing import NoRouteError
from swarmtrust.simulation.config import SimulationConfig
from swarmtrust.simulation.metrics import Metrics, report
from swarmtrust.simulation.world import BLOCKS, SimServer, SimVerifier, World

MS_PER_REQUEST = 1000  # simulated time between client sessions
DISPUTE_VERIFIERS = 2
AUDIT_RATE = 0.1


@dataclass
class PendingCheck:
    due: int  # request index at which it is decided
    server: SimServer
    corrupted: bool
    blocks: int


def simulate(config: SimulationConfig) -> dict[str, Any]:
    rng = random.Random(config.seed)
    world = World(rng)
    client = ClientConfig()
    honest_count = round(config.servers * (1 - config.malicious_fraction))
    behavior = config.adversary.split(":")[0]
    behavior = "cheat" if behavior == "collude" else behavior
    for index in range(config.servers):
        # Spans alternate so that honest servers alone cover every block.
        span = ((0, 4), (4, 8))[index % 2] if index < 4 else None
        malicious = index >= honest_count and config.adversary != "sybil"
        world.add_server(behavior if malicious else "honest", config.cheat_rate, 0, span)
    colluders = config.colluding_verifiers if config.adversary == "collude" else 0
    world.verifiers = [SimVerifier(world.new_key(), colluding=i < colluders) for i in range(config.verifiers)]

    metrics = Metrics()
    latency, bans = LatencyTracker(client.latency_smoothing), BanList(client.ban_seconds, client.max_ban_seconds)
    cohort, cohort_ms = COHORT_START, 0
    pending: deque[PendingCheck] = deque()
    returning: list[tuple[int, SimServer]] = []  # whitewashers coming back: (request index, old identity)
    flood_at = config.requests // 4 if config.adversary == "sybil" else None
    flooded: set[str] = set()
    book = ReputationBook()
    behavior_params = {"after": config.honest_then_cheat_after, "period": config.intermittent_period}

    for request in range(config.requests):
        now = request * MS_PER_REQUEST
        if request == flood_at:
            count = round(honest_count * config.malicious_fraction / (1 - config.malicious_fraction))
            flooded |= {world.add_server("sybil", 1.0, request).key for _ in range(count)}
        back = [old for due, old in returning if due == request]
        returning = [(due, old) for due, old in returning if due != request]
        for old in back:
            flooded.add(world.add_server("whitewash", 1.0, request, (old.start, old.end)).key)
        if request % config.book_refresh == 0:
            book = _book(world, now, cohort, now - cohort_ms)
        router = Router(client, latency, bans, book, rng)
        active = {s.key: s for s in world.active()}
        for server in active.values():
            server.load *= config.load_decay
        metrics.requests += 1
        try:
            chain = router.chain([s.info for s in active.values()], 0, BLOCKS, explore=router.explores())
        except NoRouteError:
            metrics.failed += 1
            continue
        late = request >= config.requests // 2
        corrupted_request, malicious_hops = False, 0
        for hop in chain:
            server = active[hop.candidate.key]
            corrupted = server.corrupts(rng, behavior_params)
            server.served += 1
            server.load += 1.0
            blocks = hop.end - hop.start
            latency.observe(server.key, blocks, server.step_seconds(blocks, config.capacity), client.hop_seconds)
            work = (hop.end - hop.start) * config.steps_per_request
            metrics.serving_work += work
            metrics.late_serving_work += work if late else 0.0
            metrics.hops += 1
            metrics.newcomer_hops += book.of(server.key).state == "newcomer"
            if flood_at is not None or returning or flooded:
                metrics.hops_after_flood += 1
                metrics.flood_hops += server.key in flooded
            malicious_hops += server.malicious
            corrupted_request |= corrupted
            if rng.random() < router.spot_check_rate(server.key):
                pending.append(PendingCheck(request + config.check_latency, server, corrupted, hop.end - hop.start))
        metrics.corrupted += corrupted_request
        metrics.window_point(corrupted_request, malicious_hops, len(chain))
        while pending and pending[0].due <= request:
            check = pending.popleft()
            outcome, weights, verifiers_used = _adjudicate(check, world, rng, metrics)
            replayed = check.blocks * config.steps_per_request * config.replay_cost * verifiers_used
            metrics.verification_work += replayed
            metrics.late_verification_work += replayed if late else 0.0
            server = check.server
            if server.quarantined_at is not None:
                continue  # already out: nothing more to learn
            server.checks += 1
            weight = outcome_weight(outcome, *weights)
            before = cohort
            server.reputation, cohort = apply_outcome(
                server.reputation, cohort, cohort_ms, outcome == "pass", weight, now, DEFAULT_PARAMS
            )
            if cohort != before:
                cohort_ms = now
            if server.reputation.quarantined:
                server.quarantined_at, server.served_at_quarantine = request, server.served
                server.checks_at_quarantine = server.checks
                if server.behavior == "whitewash":
                    returning.append((request + config.whitewash_delay, server))
    scenario = {"adversary": config.adversary, "malicious_fraction": config.malicious_fraction, "seed": config.seed}
    return report(metrics, world, scenario, client.exploration)


def _book(world: World, now: int, cohort: Beta, cohort_age_ms: int) -> ReputationBook:
    """What clients read from the ledger now (the simulation's ledger is these reputations, and the
    newcomer prior the ledger would publish from the cohort)."""
    servers = {}
    for server in world.active():
        if server.reputation is None:
            continue
        rep = server.reputation
        posterior = rep.long_at(now)
        servers[server.key] = ServerTrust(rep.state(), Beta(posterior.alpha, posterior.beta), rep.spot_check_rate(now))
    prior = newcomer(newcomer_prior_mean(cohort, cohort_age_ms), now)
    return ReputationBook(servers, ServerTrust("newcomer", prior.long, prior.spot_check_rate(now)), "simulation")


def _adjudicate(
    check: PendingCheck, world: World, rng: random.Random, metrics: Metrics
) -> tuple[str, tuple[float, float], int]:
    """One check through the consensus rounds; (outcome, (pass weight, fail weight), verifiers involved)."""
    metrics.checks += 1
    verdicts: list[RoundVerdict] = []
    involved: set[str] = set()
    by_key = {v.key: v for v in world.verifiers}

    def verdict(verifier: SimVerifier, round_: str) -> None:
        involved.add(verifier.key)
        assignment = rng.getrandbits(128).to_bytes(16, "little").hex()
        outcome = verifier.judge(check.server, check.corrupted)
        verdicts.append(RoundVerdict(assignment, verifier.key, round_, outcome, verifier.reliability))

    verdict(rng.choice(world.verifiers), "initial")  # first come, first served
    phase, wanted = "initial", 1
    while True:
        step = next_step(
            phase,
            wanted,
            verdicts,
            dispute_verifiers=DISPUTE_VERIFIERS,
            audit_rate=AUDIT_RATE,
            max_audit_rate=1.0,
            can_escalate=len(involved) < len(world.verifiers),
        )
        if step.action == "decide":
            break
        if step.action == "wait":  # not enough verifiers left to complete the round: decide on what is there
            step = next_step(phase, 0, verdicts, dispute_verifiers=0, audit_rate=0.0, max_audit_rate=0.0)
            break
        metrics.disputes += step.action == "dispute" and phase != "dispute"
        missing = step.wanted - (len([v for v in verdicts if v.round == step.action]))
        phase, wanted = step.action, step.wanted
        candidates = [(v.key, v.reliability) for v in world.verifiers if v.key not in involved]
        drawn = choose_weighted(candidates, missing, rng.getrandbits(64).to_bytes(8, "little"))
        for key in drawn:
            verdict(by_key[key], phase)
        if len(drawn) < missing:
            wanted = len([v for v in verdicts if v.round == phase])  # fewer verifiers left than wanted
    decision = step.decision
    assert decision is not None
    for v in verdicts:
        verifier = by_key[v.verifier_key]
        if v.outcome == decision.outcome:
            verifier.agreements += 1
        else:
            verifier.disagreements += 1
    return decision.outcome, (decision.pass_weight, decision.fail_weight), len(verdicts)
