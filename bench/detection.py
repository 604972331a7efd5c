"""What checks catch, per model, dtype and adversary, from calibration output: ``python -m bench.run detection``.

Renders the adversary tables that ``swarmtrust verifier calibrate`` measured (the shipped ``tiny`` documents,
and the ``wide-1024`` documents kept under ``docs/calibration/``): the share of sessions caught by the session
statistics of one prefill replay, at thresholds with no false positive over the held-out honest sessions, with
the 95% bound those sessions put on the false-positive rate. Escalation (a stepwise replay) is measured by
``bench.escalation``. Re-calibrate to refresh: see ``docs/calibration/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from bench.report import Section, Target, table

CALIBRATIONS = Path(__file__).resolve().parents[1] / "docs" / "calibration"
ADVERSARIES = (
    "noise:0.001", "noise:0.003", "noise:0.01", "wrong-weights", "int8-weights", "fp8-weights", "skip-layers",
)  # fmt: skip
ALWAYS_CAUGHT = ("noise:0.01", "wrong-weights", "int8-weights", "fp8-weights", "skip-layers")  # the targets
DTYPE_ORDER = {"float32": 0, "bfloat16": 1, "float16": 2}


def documents() -> list[dict[str, Any]]:
    """The shipped tiny documents and every calibration file under docs/calibration/."""
    found: list[dict[str, Any]] = list(
        json.loads(resources.files("swarmtrust.verifier").joinpath("tolerances.json").read_text())
    )
    for path in sorted(CALIBRATIONS.glob("*.json")):
        data = json.loads(path.read_text())
        found.extend(data if isinstance(data, list) else [data])
    return sorted(found, key=lambda d: (d["model"] != "tiny", d["model"], DTYPE_ORDER.get(d["dtype"], 9)))


def _caught(measured: dict[str, Any]) -> str:
    return f"{measured['caught'] / measured['sessions']:.0%} ({measured['caught']}/{measured['sessions']})"


def _crafted_reach(document: dict[str, Any]) -> str:
    """How far crafted inputs pushed an honest server past the thresholds fitted on ordinary sessions."""
    crafted = document.get("crafted")
    if not isinstance(crafted, dict):
        return "not searched"
    return f"{max(crafted['worst_severity_over_fitted_by_family'].values()):.1f}×"


def rows(docs: Iterable[dict[str, Any]]) -> list[list[str]]:
    out = []
    for d in docs:
        held = d["held_out"]["per_span"]
        adversaries = d["adversaries"]
        out.append(
            [
                d["model"],
                d["dtype"],
                f"{d['fit']['fitting_sessions']:,}",
                f"{d['held_out']['sessions']:,} ({held['span_sessions']:,} span sessions)",
                f"{held['false_positives']} (≤ {held['false_positive_rate_upper_95']:.1e})",
                _crafted_reach(d),
                *(_caught(adversaries[a]) if a in adversaries else "—" for a in ADVERSARIES),
            ]
        )
    return out


def run() -> Section:
    docs = documents()
    header = [
        "model", "dtype", "fitting sessions", "held-out sessions", "held-out false positives (95% bound)",
        "crafted inputs reached (× fitted)", *ADVERSARIES,
    ]  # fmt: skip
    targets = []
    for d in docs:
        if d["dtype"] == "float32":
            continue
        missed = [a for a in ALWAYS_CAUGHT if a in d["adversaries"] and d["adversaries"][a]["share_caught"] < 1.0]
        shortfall = ", ".join(f"{a} {_caught(d['adversaries'][a])}" for a in missed)
        targets.append(
            Target(
                f"{d['model']} {d['dtype']}: every session caught (prefill statistics alone)",
                "all" if not missed else f"missed in {shortfall}",
                ", ".join(ALWAYS_CAUGHT),
                not missed,
            )
        )
    hardware = sorted({d["hardware"] for d in docs})
    markdown = "\n".join(
        [
            "Share of sessions caught by the session statistics of one prefill replay, at thresholds with no false "
            "positive on the held-out honest sessions (the fit never saw them; each session is checked on every "
            "span of the model, so the span sessions are what the bound counts). Adversaries re-serve held-out "
            "sessions on a random span each. Sessions: batches 1/2/4/8, prompts of 1–64 tokens, 0–48 decode "
            "steps. Thresholds are loosened for a session whose span gain is beyond ordinary sessions' and stand at "
            "twice the worst ratio, over all spans, of what a search of crafted inputs gave an honest server beyond "
            "that to the thresholds fitted on ordinary sessions; the column is that ratio's largest "
            f"(`verifier.crafted`). Hardware: {'; '.join(hardware)}. Escalation to a stepwise replay: section "
            '"Escalation".',
            "",
            table(header, rows(docs)),
        ]
    )
    return Section("detection", markdown, tuple(targets))
