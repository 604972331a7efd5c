"""Calibration files for the simulation's tests: tolerance documents of format 2 shaped as ``swarmtrust verifier
calibrate`` writes them (per-block thresholds, composition factors, held-out counts, adversaries), with made-up
measurements so each test sets the rates it needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swarmtrust.simulation.detection_table import DetectionTable, table_of
from swarmtrust.verifier.statistics import STATISTICS

CORRUPTIONS = (
    "noise:0.001",
    "noise:0.003",
    "noise:0.01",
    "wrong-weights",
    "int8-weights",
    "fp8-weights",
    "skip-layers",
)
BLOCKS = 8


def calibration_document(
    dtype: str,
    caught: dict[str, tuple[int, int]],
    false_positives: tuple[int, int] = (0, 1080),
    model: str = "tiny",
) -> dict[str, Any]:
    """A document of ``model`` in ``dtype``: ``caught`` maps a corruption to (sessions caught, sessions served);
    ``false_positives`` is (held-out span sessions failed, held-out span sessions)."""
    thresholds = dict(zip(STATISTICS, (0.02, 0.002, 0.02, 0.0015), strict=True))
    failed, span_sessions = false_positives
    held = {
        "span_sessions": span_sessions,
        "false_positives": failed,
        "false_positives_by_statistic": dict.fromkeys(STATISTICS, 0),
        "false_positive_rate_upper_95": 0.0028,
        "false_positive_rate_upper_95_by_sessions": 0.095,
        "largest_severity": 0.85,
    }
    return {
        "format": 2,
        "model": model,
        "dtype": dtype,
        "hardware": "cpu x86_64 torch 2.13.0+cpu",
        "statistics": list(STATISTICS),
        "spans": {"0:1": thresholds},
        "blocks": [thresholds for _ in range(BLOCKS)],
        "composition": {"rule": "summed, times the factor", "factors": dict.fromkeys(STATISTICS, 1.5), "fits": {}},
        "fit": {"method": "generalised Pareto tail", "seed": 0, "fitting_sessions": 30, "spans": {}},
        "crafted": {"margin": 2.0, "spans": {}},
        "sessions": {"batches": [1, 2, 4, 8], "prompt_tokens": [1, 64], "decode_steps": [0, 48]},
        "held_out": {"sessions": 30, "per_span": held, "composed": held},
        "adversaries": {
            name: {
                "sessions": served,
                "caught": hits,
                "share_caught": hits / served if served else 0.0,
                "caught_composed": hits,
                "caught_by": dict.fromkeys(STATISTICS, hits),
                "least_severity": 1.5,
            }
            for name, (hits, served) in caught.items()
        },
        "seconds": 21.5,
    }


def write_calibration(path: Path, documents: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(documents, indent=1))
    return path


# The simulation tests' rates: float32 catches every corruption in every session but the faintest noise;
# bfloat16 misses the faintest noise always, catches some noise and int8 weights, and the rest always.
FLOAT32 = {name: (200, 200) for name in CORRUPTIONS} | {"noise:0.001": (150, 200)}
BFLOAT16 = {name: (200, 200) for name in CORRUPTIONS} | {
    "noise:0.001": (0, 200),
    "noise:0.003": (40, 200),
    "noise:0.01": (120, 200),
    "int8-weights": (170, 200),
}


def crafted_table() -> DetectionTable:
    documents = [calibration_document("float32", FLOAT32), calibration_document("bfloat16", BFLOAT16)]
    return table_of(documents, "tests/swarmtrust/calibrations.py")
