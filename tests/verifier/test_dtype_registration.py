"""Verdicts by the model's registration when the session began, on the real tiny model (no processes): a looser
dtype than the model's is a fail, whatever its tolerance would say; a later registration convicts no one."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.model_records import SERVING_DTYPES
from swarmtrust.protocol.serving_dtypes import RegisteredDtypes, RegistrationHistory
from swarmtrust.verifier.checking import CheckingError, check_evidence
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance import load_tolerances
from tests.node.swarm_helpers import tiny
from tests.verifier.test_tolerance_and_checking import SERVER, evidence_of

SESSION_MS = 1_795_000_000_000


def honest_session(dtype: str, *, model_id: str = "tiny", timestamp_ms: int = SESSION_MS) -> bytes:
    """Evidence of an honest session of blocks 4:8 served in ``dtype``, its receipts dated ``timestamp_ms``."""
    span = Span.load(tiny(), 4, 8, TORCH_DTYPES[dtype])
    hidden = torch.randn(1, 10, 64, generator=torch.Generator().manual_seed(2)).to(TORCH_DTYPES[dtype])
    inputs = [hidden[:, :6]] + [hidden[:, t : t + 1] for t in range(6, 10)]
    state = CacheState()
    outputs = [span.forward(x, state) for x in inputs]
    return evidence_of(span, inputs, outputs, model_id=model_id, timestamp_ms=timestamp_ms)


@pytest.fixture(scope="module")
def sessions() -> dict[str, bytes]:
    return {dtype: honest_session(dtype) for dtype in ("float32", "bfloat16")}


@pytest.fixture(scope="module")
def spans() -> SpanCache:
    return SpanCache(tiny())


def check(encoded: bytes, spans: SpanCache, registration: RegistrationHistory | None) -> tuple[str, str]:
    finding = check_evidence(encoded, bytes(SERVER.verify_key), spans, load_tolerances(), registration=registration)
    return finding.outcome, finding.detail


def test_a_session_in_a_looser_dtype_than_registered_fails_before_any_tolerance(
    sessions: dict[str, bytes], spans: SpanCache
) -> None:
    registered = RegistrationHistory.allowing("tiny", "float32")
    assert check(sessions["bfloat16"], spans, registered) == (
        "fail",
        "served in bfloat16; model tiny is registered for float32",
    )
    assert check(sessions["float32"], spans, registered)[0] == "pass"


def test_without_a_registration_the_config_dtype_is_the_only_one(sessions: dict[str, bytes], spans: SpanCache) -> None:
    outcome, detail = check(sessions["bfloat16"], spans, None)
    assert outcome == "fail" and "configured (no registration at the session's start) for float32" in detail
    assert check(sessions["float32"], spans, None)[0] == "pass"
    before_any = RegistrationHistory("tiny", (RegisteredDtypes(SESSION_MS + 1, ("bfloat16",)),))
    assert check(sessions["bfloat16"], spans, before_any)[0] == "fail", "registered only after the session began"


def test_a_later_registration_never_convicts_what_was_allowed_then(
    sessions: dict[str, bytes], spans: SpanCache
) -> None:
    narrowed = RegistrationHistory(
        "tiny",
        (RegisteredDtypes(SESSION_MS - 1000, ("bfloat16", "float32")), RegisteredDtypes(SESSION_MS + 1, ("float32",))),
    )
    outcome, detail = check(sessions["bfloat16"], spans, narrowed)
    assert "served in" not in detail and outcome != "fail", detail


def test_a_session_of_another_model_is_still_not_judged(spans: SpanCache) -> None:
    other = honest_session("bfloat16", model_id="llama-70b")
    with pytest.raises(CheckingError, match="holds model 'tiny', not 'llama-70b'"):
        check(other, spans, RegistrationHistory.allowing("tiny", "float32"))


entries = st.lists(
    st.tuples(
        st.integers(SESSION_MS - 5_000, SESSION_MS + 5_000),
        st.lists(st.sampled_from(SERVING_DTYPES), min_size=1, max_size=3, unique=True).map(tuple),
    ),
    max_size=4,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=entries, dtype=st.sampled_from(["float32", "bfloat16"]))
@pytest.mark.slow  # heavy: in the full tier only
def test_any_history_judges_a_session_by_what_was_allowed_when_it_began(
    sessions: dict[str, bytes], spans: SpanCache, entries: list[tuple[int, tuple[str, ...]]], dtype: str
) -> None:
    history = RegistrationHistory("tiny", tuple(RegisteredDtypes(ms, d) for ms, d in entries))
    in_force = [d for ms, d in sorted(entries, key=lambda e: e[0]) if ms <= SESSION_MS]
    allowed = in_force[-1] if in_force else ("float32",)  # tiny's config.json names float32
    outcome, detail = check(sessions[dtype], spans, history)
    if dtype in allowed:
        assert "served in" not in detail, "an honest session of an allowed dtype never fails on its dtype"
        assert outcome == "pass", detail
    else:
        assert (outcome, detail.split(";")[0]) == ("fail", f"served in {dtype}")
