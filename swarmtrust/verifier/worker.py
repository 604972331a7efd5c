"""The verifier loop: claim an assignment, fetch its evidence, check it, sign a verdict, submit it.

``--behavior`` exists for tests and the demo, like the servers': ``honest`` (default); ``always-pass``
and ``always-fail`` (a lying verifier, which consensus must outvote); ``stall`` (claims work and never
answers, like a verifier that died mid-check).

Sessions are judged by the model's registration at the ledger (the dtypes it may be served in, with their
history: ``protocol.serving_dtypes``) and by the calibrator-signed tolerance records the ledger serves with it
(``verifier.ledger_tolerances``; a local ``--tolerances`` file overrides them), fetched together and kept for
``registration_ttl`` seconds. A session in a dtype with no tolerances gets no verdict, and the log says why.

A verifier signs one verdict per assignment: when the ledger refuses it or cannot be reached, the same bytes
are sent again on the next try (a new signature would give a new audit coin, ``ledger.beacon``, so an
operator refusing verdicts could draw coins until one suits it). They are kept in memory for the
assignment's life; a restarted verifier has lost them and signs afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import nacl.signing

from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.challenges import Verdict, VerdictOutcome
from swarmtrust.protocol.errors import SwarmtrustError
from swarmtrust.protocol.serving_dtypes import RegistrationHistory, history_from_answer
from swarmtrust.protocol.signing import sign_record
from swarmtrust.verifier.checking import Finding, check_evidence
from swarmtrust.verifier.escalation import DEFAULT_ESCALATION, EscalationPolicy
from swarmtrust.verifier.ledger_tolerances import LEDGER_TRUST, CalibratorTrust, LedgerTolerances
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance_document import Tolerances

log = logging.getLogger(__name__)

VERIFIER_BEHAVIORS = ("honest", "always-pass", "always-fail", "stall")
MAX_KEPT_VERDICTS = 1024  # signed verdicts awaiting the ledger's acceptance; the oldest are forgotten first
FINAL_REFUSALS = frozenset({"reassigned", "unknown_assignment", "not_yours", "mismatch"})  # no retry can help


class VerifierBehaviorError(SwarmtrustError):
    """An unknown ``--behavior`` for a verifier."""


@dataclass(frozen=True)
class WorkerConfig:
    poll_interval: float = 0.5  # seconds between asking for work when there is none
    behavior: str = "honest"
    registration_ttl: float = 10.0  # seconds a fetched model registration (and its tolerance records) is reused
    trust: CalibratorTrust = LEDGER_TRUST  # whose tolerance records are taken (default: the ledger's)
    escalation: EscalationPolicy = DEFAULT_ESCALATION  # when a check is replayed step by step (audits: always)


class VerifierWorker:
    def __init__(
        self,
        api: LedgerApi,
        key: nacl.signing.SigningKey,
        spans: SpanCache,
        tolerances: Tolerances | None = None,
        config: WorkerConfig | None = None,
    ) -> None:
        """``tolerances``: a local override (``--tolerances FILE``) of the ledger's records for the pairs it holds."""
        self.api = api
        self.key = key
        self.public_key = bytes(key.verify_key)
        self.spans = spans
        self.config = config or WorkerConfig()
        self._tolerances = LedgerTolerances(spans.source.model_id, self.config.trust, tolerances, spans.device_kind)
        if self.config.behavior not in VERIFIER_BEHAVIORS:
            raise VerifierBehaviorError(f"--behavior {self.config.behavior!r}: one of {', '.join(VERIFIER_BEHAVIORS)}")
        self.verdicts_submitted = 0
        self._signed: OrderedDict[str, bytes] = OrderedDict()  # assignment id -> its verdict's wire, until taken
        self._judging: tuple[float, RegistrationHistory, Tolerances] | None = None  # (fetched at, what to judge by)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; a ledger that cannot be reached is retried with back-off."""
        backoff = self.config.poll_interval
        if self.config.behavior == "honest":
            try:
                self.judging()  # logs at once which dtypes it judges by what, and which it cannot judge
            except SwarmtrustError as exc:
                log.warning("cannot read the model's registration and tolerances yet: %s", exc)
        while not stop.is_set():
            try:
                worked = self.work_once()
                backoff = self.config.poll_interval
            except LedgerApiError as exc:
                log.warning("ledger service: %s; retrying in %.1f s", exc, backoff)
                worked = False
                backoff = min(backoff * 2, 30.0)
            except SwarmtrustError as exc:  # e.g. a challenge this verifier cannot judge: no verdict, go on
                log.warning("skipped an assignment: %s", exc)
                worked = False
                backoff = min(backoff * 2, 30.0)  # the ledger hands it back until its deadline: ask less often
            if not worked:
                stop.wait(backoff)

    def work_once(self) -> bool:
        """Claim and settle one assignment; False when there was none."""
        assignment = self.api.claim_assignment([self.spans.source.model_id])
        if assignment is None:
            return False
        if self.config.behavior == "stall":
            log.warning("stalling on assignment %s (test behaviour)", assignment["assignment_id"])
            threading.Event().wait()  # never returns: the process is killed or its deadline passes
        challenge = assignment["challenge"]
        started = time.perf_counter()
        aid = str(assignment["assignment_id"])
        wire = self._signed.get(aid)
        detail = "sent again, unchanged"
        if wire is None:
            finding = self._finding(challenge, str(assignment.get("round", "initial")))
            wire = sign_record(self._verdict(assignment, finding), self.key).to_wire()
            detail = f"{finding.outcome} ({finding.detail})"
            self._keep(aid, wire)
        try:
            result = self.api.submit_verdict(wire)
        except LedgerApiError as exc:
            if exc.code in FINAL_REFUSALS:
                self._signed.pop(aid, None)
            raise
        self._signed.pop(aid, None)
        self.verdicts_submitted += 1
        log.info(
            "challenge %s of server %s: %s in %.2f s; the challenge is now %s",
            challenge["challenge_id"][:12], challenge["server_key"][:12], detail,
            time.perf_counter() - started, result.get("outcome") or result.get("phase"),
        )  # fmt: skip
        return True

    def _keep(self, aid: str, wire: bytes) -> None:
        self._signed[aid] = wire
        while len(self._signed) > MAX_KEPT_VERDICTS:
            self._signed.popitem(last=False)

    def _finding(self, challenge: dict[str, Any], round_name: str) -> Finding:
        behavior = self.config.behavior
        if behavior in ("always-pass", "always-fail"):
            outcome: VerdictOutcome = "pass" if behavior == "always-pass" else "fail"
            return Finding(outcome, 0, None, None, f"{behavior} (test behaviour)")
        evidence = self.api.evidence(str(challenge["evidence_digest"]))
        server = bytes.fromhex(str(challenge["server_key"]))
        escalation = self.config.escalation.for_round(round_name)
        registration, tolerances = self.judging()
        return check_evidence(
            evidence, server, self.spans, tolerances, registration=registration, escalation=escalation
        )

    def judging(self) -> tuple[RegistrationHistory, Tolerances]:
        """The held model's registrations and tolerances at the ledger (cached briefly); LedgerApiError when it
        cannot say, so that no verdict is given on a guess."""
        now = time.monotonic()
        if self._judging is not None and now - self._judging[0] < self.config.registration_ttl:
            return self._judging[1], self._judging[2]
        model_id = self.spans.source.model_id
        answer = self.api.model(model_id)
        history = history_from_answer(model_id, answer)
        tolerances = self._tolerances.update(answer, history)
        self._judging = (now, history, tolerances)
        return history, tolerances

    def _verdict(self, assignment: dict[str, Any], finding: Finding) -> Verdict:
        challenge = assignment["challenge"]
        worst, tolerance = finding.worst, finding.tolerance
        return Verdict(
            verifier_key=self.public_key,
            assignment_id=bytes.fromhex(str(assignment["assignment_id"])),
            challenge_id=bytes.fromhex(str(challenge["challenge_id"])),
            evidence_digest=bytes.fromhex(str(challenge["evidence_digest"])),
            server_key=bytes.fromhex(str(challenge["server_key"])),
            outcome=finding.outcome,
            steps_checked=finding.steps_checked,
            worst_step=worst.step if worst else 0,
            max_rel_error=_finite(worst.max_rel) if worst else 0.0,
            mean_rel_error=_finite(worst.mean_rel) if worst else 0.0,
            max_rel_threshold=tolerance.max_rel if tolerance else 0.0,
            mean_rel_threshold=tolerance.mean_rel if tolerance else 0.0,
            decided_ms=time.time_ns() // 1_000_000,
        )


def _finite(value: float) -> float:
    return value if value < float("inf") else 1e300
