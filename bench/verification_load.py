"""The verifiers' busy time per served step, as a share of the servers' compute, at the spot-check rates of a
newcomer (1.0) and of a trusted server (the floor, 0.05).

For each model of the performance table, a session shaped as its rows run them (an 8-token prompt, then the
row's decode steps) is served on each hop of the two-server chain (blocks 0:4 and 4:8, receipts signed), timing
the servers' forward passes; a verifier then checks each hop's evidence with the real ``check_evidence`` (the
receipts, the prefill replay, the statistics), without escalation and with it forced, so the expected check
is the plain one plus the escalation share (0.05) of the stepwise replay. A challenged session is checked by
one verifier and re-checked by another at the ledger's audit rate (0.1, verifiers past their apprenticeship;
an apprentice's every pass is re-checked, doubling the figure). So, per served step:
verifier seconds = rate × (1 + audit rate) × expected check seconds of the session's hops ÷ steps.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import nacl.signing
import torch

from bench.concurrent_clients import DECODE_STEPS as CONCURRENT_STEPS
from bench.concurrent_clients import MODEL_CONFIG as HIDDEN_256
from bench.plots import bar_chart
from bench.report import Section, machine_summary, median, save_results, table
from bench.swarm_decode import DECODE_STEPS as LOOPBACK_STEPS
from bench.swarm_decode import PROMPT
from bench.verification_cost import serve_timed
from swarmtrust.ledger.consensus import ConsensusRules
from swarmtrust.node.model.source import ModelSource, resolve_model
from swarmtrust.node.model.span import Span
from swarmtrust.node.model.tiny import write_tiny_model
from swarmtrust.protocol.bond_rule import SPOT_CHECK_FLOOR as TRUSTED_SPOT_CHECK_RATE
from swarmtrust.verifier.checking import check_evidence
from swarmtrust.verifier.escalation import SHARE, EscalationPolicy
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance import load_tolerances
from swarmtrust.verifier.tolerance_document import Tolerances

log = logging.getLogger(__name__)

HOPS = ((0, 4), (4, 8))
RATES = (1.0, TRUSTED_SPOT_CHECK_RATE)
ROUNDS = 5
AUDIT_RATE = ConsensusRules().audit_rate


@dataclass(frozen=True)
class Load:
    steps: int  # one-token steps a session serves (its prompt's step aside)
    serve_seconds: float  # the servers' forward passes for the whole session, every hop
    check_seconds: float  # one verifier's expected check of the whole session, every hop (escalation included)

    def share(self, rate: float) -> float:
        """The verifiers' busy time over the servers' compute, every session spot checked at ``rate``."""
        return rate * (1 + AUDIT_RATE) * self.check_seconds / self.serve_seconds

    def per_step_ms(self, rate: float) -> float:
        return rate * (1 + AUDIT_RATE) * self.check_seconds / (self.steps + 1) * 1e3


def tolerances_for(source: ModelSource) -> Tolerances:
    """The shipped thresholds, for ``source`` too (same blocks as ``tiny``): this measures time, not verdicts."""
    shipped = load_tolerances()
    if source.model_id == "tiny":
        return shipped
    return Tolerances([replace(document, model=source.model_id) for document in shipped])


def measure(source: ModelSource, steps: int) -> Load:
    key = nacl.signing.SigningKey.generate()
    spans, tolerances = SpanCache(source), tolerances_for(source)
    plain, forced = EscalationPolicy(share=0.0, near=1.0), EscalationPolicy(share=1.0)
    serve, checks = [], []
    for round_index in range(ROUNDS):
        served = checked = 0.0
        for start, end in HOPS:
            span = Span.load(source, start, end)
            seconds, evidence, _ = serve_timed(span, key, len(PROMPT), steps, seed=round_index)
            served += sum(seconds)
            times = {}
            for name, policy in (("plain", plain), ("forced", forced)):
                started = time.perf_counter()
                finding = check_evidence(evidence, bytes(key.verify_key), spans, tolerances, escalation=policy)
                times[name] = time.perf_counter() - started
                if finding.outcome != "pass":
                    raise RuntimeError(f"an honest session did not pass its check: {finding.detail}")
            checked += times["plain"] + SHARE * (times["forced"] - times["plain"])
        serve.append(served)
        checks.append(checked)
    return Load(steps, median(serve), median(checks))


def run() -> Section:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "llama-256"
        write_tiny_model(directory, HIDDEN_256)
        models = {
            f"`tiny` (hidden 64), {LOOPBACK_STEPS} decode steps: the loopback and limited-network rows": measure(
                resolve_model("tiny"), LOOPBACK_STEPS
            ),
            f"hidden 256, {CONCURRENT_STEPS} decode steps: the concurrent-clients row": measure(
                resolve_model(str(directory)), CONCURRENT_STEPS
            ),
        }
    save_results(
        "verification-load",
        {
            key: {f"{rate:g}": {"share": load.share(rate), "per_step_ms": load.per_step_ms(rate)} for rate in RATES}
            for key, load in zip(("tiny", "hidden-256"), models.values(), strict=True)
        },
    )
    rows = []
    for label, load in models.items():
        per_step = load.serve_seconds / (load.steps + 1) * 1e3
        rows.append(
            [label, f"{per_step:.2f} ms", f"{load.check_seconds * 1e3:.1f} ms"]
            + [f"{load.per_step_ms(rate):.3f} ms ({load.share(rate):.1%})" for rate in RATES]
        )
    labels = ["tiny, loopback rows", "hidden 256, concurrent row"]
    markdown = "\n\n".join(
        [
            "## Verification load (issue 21)",
            f"Machine: {machine_summary()}; one torch thread. Each model's session (an {len(PROMPT)}-token prompt, "
            f"then the row's decode steps) served on both hops of the 0:4 / 4:8 chain, float32, medians of {ROUNDS} "
            f"rounds. A check is the verifier's `check_evidence` (receipts and digests, one prefill replay, the "
            f"statistics) plus {SHARE:.0%} of a forced escalation (the stepwise replay); each challenged session is "
            f"checked once and re-checked at the audit rate ({AUDIT_RATE:.0%}). Verifier time per served step at "
            "each spot-check rate, and in brackets as a share of the servers' compute.",
            table(
                [
                    "model and rows",
                    "servers' compute per served step",
                    "one check of a session (both hops)",
                    "verifiers per served step, rate 1.0 (newcomer)",
                    f"rate {TRUSTED_SPOT_CHECK_RATE} (trusted floor)",
                ],
                rows,
            ),
            "A check replays a session as one prefill, which reads the weights once for all its steps, so checking "
            "every session of a newcomer costs a fraction of serving it, and a trusted server's checks a twentieth "
            "of that. The share is larger for the smaller model, whose steps are mostly fixed per-call costs that "
            "the replay's one pass does not repeat.",
            bar_chart(
                "verification-load",
                "Verifiers' busy time as a share of the servers' compute",
                labels,
                {f"rate {rate:g}": [load.share(rate) * 100 for load in models.values()] for rate in RATES},
                ylabel="% of the servers' compute",
            ),
        ]
    )
    return Section("verification-load", markdown, ())  # a measurement for the table: the issue sets no target
