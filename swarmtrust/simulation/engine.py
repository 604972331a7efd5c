"""The simulation loop: requests routed by the real router, checked and judged by the real consensus
and reputation code, against servers and verifiers that behave as the scenario says. A check finds a
corrupted session with the probability the calibration's measured session rates give (``detection``)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from swarmtrust.ledger.consensus import Decision, NextStep, RoundVerdict, choose_weighted, next_step
from swarmtrust.ledger.reputation import DEFAULT_PARAMS, apply_outcome, newcomer, newcomer_prior_mean, outcome_weight
from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.chain_search import NoRouteError
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.reputation import ReputationBook, ServerTrust
from swarmtrust.node.client.route_policy import Router
from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.bond_rule import SPOT_CHECK_FLOOR
from swarmtrust.protocol.newcomers import COHORT_START
from swarmtrust.simulation.config import SimulationConfig
from swarmtrust.simulation.detection import check_detection, checks_bound
from swarmtrust.simulation.metrics import Metrics, report
from swarmtrust.simulation.world import BLOCKS, Evidence, SimServer, SimVerifier, Tactics, World

MS_PER_REQUEST = 1000  # simulated time between client sessions
DISPUTE_VERIFIERS = 2
AUDIT_RATE = 0.1
HOPS_PER_SESSION = 1.5  # about: spans of 4 and 8 of the 8 blocks (a colluding cheater's estimate of its load)


@dataclass
class PendingCheck:
    due: int  # request index at which it is decided
    server: SimServer
    corrupted: bool
    blocks: int


@dataclass(frozen=True)
class CheckModel:
    """What one check of a session finds, from the calibration's measured session rates (``config.detection``)."""

    detection: float  # chance a check of a corrupted session fails it
    false_alarm: float  # chance a check of an honest session fails it
    shared_false_alarms: bool  # a false alarm is in the evidence (every replay sees it) or per replay

    @classmethod
    def of(cls, config: SimulationConfig) -> CheckModel:
        steps = config.steps_per_request
        compared = config.compared_steps or steps
        corrupted = config.corrupted_steps or steps
        return cls(
            check_detection(config.measured_detection.rate, steps, corrupted, compared),
            config.session_false_positive_rate,
            config.false_positive_scope == "session",
        )

    def evidence(self, check: PendingCheck, rng: random.Random) -> Evidence:
        if check.corrupted and rng.random() < self.detection:
            return Evidence(check.server, True, 0.0)
        if self.shared_false_alarms:
            return Evidence(check.server, False, 1.0 if rng.random() < self.false_alarm else 0.0)
        return Evidence(check.server, False, self.false_alarm)


def colluders_first_share(config: SimulationConfig) -> float:
    """The colluders' share of first looks: by the reliability draw, their share of the verifiers (they judge
    everyone but their partners honestly, so their reliability stays as good as anyone's); first come, first
    served, the share their faster polling wins."""
    colluders = config.colluding_verifiers if config.colluding else 0
    if config.first_assignment == "draw":
        return colluders / config.verifiers
    fast = colluders * config.colluder_poll_speedup
    return fast / (fast + config.verifiers - colluders)


def collude_cheat_rate(config: SimulationConfig, detection: float) -> float:
    """The rate a colluding cheater picks: low enough that, checked at the floor rate once trusted, and
    escaping when a colluder looks first and is not audited, it expects to last the whole run. (Its
    corrupted sessions before conviction, about 1/(r·d·(1 − escape)), do not depend on the rate.)"""
    escape = colluders_first_share(config) * (1.0 - AUDIT_RATE)
    horizon = config.requests * HOPS_PER_SESSION / config.servers
    exposure = SPOT_CHECK_FLOOR * detection * (1.0 - escape) * horizon
    return 1.0 if exposure <= 1.0 else 1.0 / exposure


def simulate(config: SimulationConfig) -> dict[str, Any]:
    rng = random.Random(config.seed)
    world = World(rng, config.dtype)
    client = ClientConfig()
    model = CheckModel.of(config)
    honest_count = round(config.servers * (1 - config.malicious_fraction))
    behavior = {"collude-frame": "cheat", "collude": "collude"}.get(config.adversary, config.adversary.split(":")[0])
    cheat_rate = collude_cheat_rate(config, model.detection) if behavior == "collude" else config.cheat_rate
    for index in range(config.servers):
        # Spans alternate so that honest servers alone cover every block.
        span = ((0, 4), (4, 8))[index % 2] if index < 4 else None
        malicious = index >= honest_count and config.adversary != "sybil"
        world.add_server(behavior if malicious else "honest", cheat_rate, 0, span)
    colluders = config.colluding_verifiers if config.colluding else 0
    kind = "framing" if config.adversary == "collude-frame" else "colluding"
    world.verifiers = [
        SimVerifier(world.new_key(), kind if i < colluders else "honest") for i in range(config.verifiers)
    ]

    metrics = Metrics()
    latency, bans = LatencyTracker(client.latency_smoothing), BanList(client.ban_seconds, client.max_ban_seconds)
    cohort, cohort_ms = COHORT_START, 0
    pending: deque[PendingCheck] = deque()
    returning: list[tuple[int, SimServer]] = []  # whitewashers coming back: (request index, old identity)
    flood_at = config.requests // 4 if config.adversary == "sybil" else None
    flooded: set[str] = set()
    book = ReputationBook()
    tactics = Tactics(after=config.honest_then_cheat_after, period=config.intermittent_period)

    for request in range(config.requests):
        now = request * MS_PER_REQUEST
        if request == flood_at:
            count = round(honest_count * config.malicious_fraction / (1 - config.malicious_fraction))
            flooded |= {world.add_server("sybil", 1.0, request).key for _ in range(count)}
        back = [old for due, old in returning if due == request]
        returning = [(due, old) for due, old in returning if due != request]
        for old in back:
            flooded.add(world.add_server(old.behavior, old.cheat_rate, request, (old.start, old.end)).key)
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
            corrupted = server.corrupts(rng, tactics)
            server.served += 1
            server.corrupted_served += corrupted
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
            evidence = model.evidence(check, rng)
            decision, verifiers_used = _adjudicate(evidence, world, config, rng, metrics)
            replayed = check.blocks * config.steps_per_request * config.replay_cost * verifiers_used
            metrics.verification_work += replayed
            metrics.late_verification_work += replayed if late else 0.0
            server = check.server
            if decision is None or server.quarantined_at is not None:
                continue  # still open (the ledger would wait for more verifiers), or already out
            metrics.hidden += evidence.shows_corruption and decision.outcome == "pass"
            server.checks += 1
            server.corrupted_checks += check.corrupted
            weight = outcome_weight(decision.outcome, decision.pass_weight, decision.fail_weight)
            before = cohort
            server.reputation, cohort = apply_outcome(
                server.reputation, cohort, cohort_ms, decision.outcome == "pass", weight, now, DEFAULT_PARAMS
            )
            if cohort != before:
                cohort_ms = now
            if server.reputation.quarantined:
                server.quarantined_at, server.served_at_quarantine = request, server.served
                server.checks_at_quarantine = server.checks
                server.corrupted_checks_at_quarantine = server.corrupted_checks
                server.corrupted_at_quarantine = server.corrupted_served
                if server.returns:
                    returning.append((request + config.whitewash_delay, server))
    scenario = {
        "adversary": config.adversary,
        "malicious_fraction": config.malicious_fraction,
        "dtype": config.dtype,
        "corruption": config.corruption,
        "false_positive_rate": config.session_false_positive_rate,
        "false_positive_scope": config.false_positive_scope,
        "first_assignment": config.first_assignment,
        "seed": config.seed,
    }
    caught, false = config.measured_detection, config.detection.false_positives(config.dtype)
    checking = {
        "measured_session_detection": caught.rate,  # sessions corrupted on every step, caught in calibration
        "session_detection": model.detection,  # a check of a corrupted session here (fewer steps: less)
        "session_false_alarm": model.false_alarm,
        "measured": {
            "caught": caught.failed,
            "sessions": caught.sessions,
            "false_positives": false.failed,
            "held_out_span_sessions": false.sessions,
        },
        "checks_bound": checks_bound(model.detection),
        "cheat_rate": cheat_rate if config.malicious_fraction > 0 else None,
        "source": config.detection.describe(config.dtype, config.corruption),
    }
    return report(metrics, world, scenario, checking, client.exploration)


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


def consensus_step(
    phase: str, wanted: int, verdicts: list[RoundVerdict], rng: random.Random, *, can_escalate: bool
) -> NextStep:
    """The simulation's only call into the ledger's round logic. The audit coin is a fresh uniform draw:
    like the ledger's beacon coin, nobody can know it before the verdict is in."""
    return next_step(
        phase,
        wanted,
        verdicts,
        dispute_verifiers=DISPUTE_VERIFIERS,
        audit_rate=AUDIT_RATE,
        max_audit_rate=1.0,
        can_escalate=can_escalate,
        audit_coin=rng.random(),
    )


def first_verifier(world: World, config: SimulationConfig, rng: random.Random) -> SimVerifier:
    """Who looks at a new challenge first: a reliability-weighted draw, or (first come, first served) the
    verifier that polls first, weighted by how often each polls."""
    if config.first_assignment == "draw":
        weights = [v.reliability for v in world.verifiers]
    else:
        weights = [config.colluder_poll_speedup if v.colluding else 1.0 for v in world.verifiers]
    return rng.choices(world.verifiers, weights)[0]


def _adjudicate(
    evidence: Evidence, world: World, config: SimulationConfig, rng: random.Random, metrics: Metrics
) -> tuple[Decision | None, int]:
    """One check through the consensus rounds: (the decision, or None while a fail lacks its quorum and no
    verifier is left to ask; verdicts given)."""
    metrics.checks += 1
    verdicts: list[RoundVerdict] = []
    involved: set[str] = set()
    by_key = {v.key: v for v in world.verifiers}

    def verdict(verifier: SimVerifier, round_: str) -> None:
        involved.add(verifier.key)
        assignment = rng.getrandbits(128).to_bytes(16, "little").hex()
        outcome = verifier.judge(evidence, rng)
        verdicts.append(RoundVerdict(assignment, verifier.key, round_, outcome, verifier.reliability))

    first = first_verifier(world, config, rng)
    first.first_looks += 1
    metrics.colluder_first_looks += first.colluding
    verdict(first, "initial")
    phase, wanted = "initial", 1
    while True:
        step = consensus_step(phase, wanted, verdicts, rng, can_escalate=len(involved) < len(world.verifiers))
        if step.action == "decide":
            break
        if step.action == "wait":  # a round nobody is left to complete, or a fail short of its quorum
            metrics.undecided += 1
            return None, len(verdicts)
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
    if decision is None:
        raise RuntimeError("ledger.consensus.next_step decided without a decision")
    for v in verdicts:
        verifier = by_key[v.verifier_key]
        if v.outcome == decision.outcome:
            verifier.agreements += 1
        else:
            verifier.disagreements += 1
    return decision, len(verdicts)
