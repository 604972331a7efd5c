"""Whether this machine is of the hardware class the shipped tiny documents measured stepwise replay exact on:
tests that show a bit-for-bit comparison with the shipped documents need it (elsewhere a verifier rightly
refuses to compare bits, and the check falls back to thresholds)."""

from __future__ import annotations

import pytest

from swarmtrust.verifier.escalation import replay_class
from swarmtrust.verifier.tolerance import load_tolerances


def shipped_exact_here(dtype: str) -> bool:
    for document in load_tolerances():
        if document.model == "tiny" and document.dtype == dtype:
            record = document.stepwise
            return bool(record.get("bit_exact")) and record.get("class") == replay_class()
    return False


needs_shipped_exactness = pytest.mark.skipif(
    not shipped_exact_here("bfloat16"),
    reason="the shipped tiny bfloat16 calibration measured bit-exact stepwise replay on another hardware class "
    f"than this machine's ({replay_class()}); recalibrate here (`swarmtrust verifier calibrate --model tiny --out "
    "swarmtrust/verifier/tolerances.json`) to run it",
)
