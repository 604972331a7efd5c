"""The dtypes a model may be served in: registration history, the config fallback, routing and verdict rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.model_records import SERVING_DTYPES
from swarmtrust.protocol.serving_dtypes import (
    DtypeNotAllowedError,
    RegisteredDtypes,
    RegistrationHistory,
    check_serving_dtype,
    config_dtype,
    dtype_fault,
    history_from_answer,
    routing_dtypes,
)

dtype_sets = st.lists(st.sampled_from(SERVING_DTYPES), min_size=1, max_size=3, unique=True).map(tuple)
histories = st.lists(st.tuples(st.integers(0, 10_000), dtype_sets), max_size=6).map(
    lambda entries: RegistrationHistory("tiny", tuple(RegisteredDtypes(ms, d) for ms, d in entries))
)


def test_the_registration_in_force_is_the_last_one_dated_at_or_before() -> None:
    history = RegistrationHistory("tiny", (RegisteredDtypes(200, ("bfloat16",)), RegisteredDtypes(100, ("float32",))))
    assert [history.allowed_at(ms) for ms in (99, 100, 199, 200, 10**9)] == [
        None,
        ("float32",),
        ("float32",),
        ("bfloat16",),
        ("bfloat16",),
    ]
    assert history.latest == RegisteredDtypes(200, ("bfloat16",))


@settings(max_examples=400, deadline=None)
@given(history=histories, session_ms=st.integers(0, 11_000), dtype=st.sampled_from(SERVING_DTYPES))
def test_a_dtype_allowed_when_the_session_began_never_fails_and_one_never_allowed_always_does(
    history: RegistrationHistory, session_ms: int, dtype: str
) -> None:
    fallback = "float32"
    fault = dtype_fault(dtype, session_ms, history, fallback, "tiny")
    in_force = [e for e in history.entries if e.registered_ms <= session_ms]
    allowed_then = in_force[-1].dtypes if in_force else (fallback,)
    if dtype in allowed_then:
        assert fault is None
    else:
        assert fault is not None and f"served in {dtype}; model tiny is" in fault
    ever = {d for e in history.entries for d in e.dtypes} | {fallback}
    if dtype not in ever:
        assert fault is not None, "a dtype never allowed always fails"


def test_the_fault_names_the_dtype_and_the_allowed_ones() -> None:
    registered = RegistrationHistory.allowing("tiny", "float32")
    assert dtype_fault("bfloat16", 5, registered, "float32", "tiny") == (
        "served in bfloat16; model tiny is registered for float32"
    )
    unregistered = dtype_fault("bfloat16", 5, None, "float32", "tiny")
    assert unregistered is not None
    assert "configured (no registration at the session's start) for float32" in unregistered


def test_clients_route_to_the_latest_registration_else_the_config_plus_what_they_admit() -> None:
    history = RegistrationHistory("tiny", (RegisteredDtypes(1, ("float32",)), RegisteredDtypes(2, ("bfloat16",))))
    assert routing_dtypes(history, "float32").dtypes == {"bfloat16"}
    assert routing_dtypes(RegistrationHistory("tiny"), "float16").dtypes == {"float16"}
    assert routing_dtypes(None, "float32").dtypes == {"float32"}
    widened = routing_dtypes(history, "float32", ["float16"])
    assert widened.dtypes == {"bfloat16", "float16"} and "--allow-dtype: float16" in widened.describe()


def test_a_server_may_start_only_in_a_registered_dtype() -> None:
    check_serving_dtype("bfloat16", RegistrationHistory("tiny"))  # not registered: allowed (the caller warns)
    check_serving_dtype("float32", RegistrationHistory.allowing("tiny", "bfloat16", "float32"))
    with pytest.raises(DtypeNotAllowedError, match="registered at the ledger for float32, not bfloat16"):
        check_serving_dtype("bfloat16", RegistrationHistory.allowing("tiny", "float32"))


def test_the_config_dtype_falls_back_to_float32(tmp_path: Path) -> None:
    cases: list[tuple[Any, str]] = [
        ({"torch_dtype": "bfloat16"}, "bfloat16"),
        ({"torch_dtype": "float64"}, "float32"),
        ({}, "float32"),
        ([1], "float32"),
    ]
    for index, (config, expected) in enumerate(cases):
        directory = tmp_path / str(index)
        directory.mkdir()
        (directory / "config.json").write_text(json.dumps(config))
        assert config_dtype(directory) == expected
    assert config_dtype(tmp_path / "missing") == "float32"


@pytest.mark.parametrize(
    "answer",
    [
        {"history": [{"dtypes": ["float64"], "registered_ms": 1}]},
        {"history": [{"dtypes": [], "registered_ms": 1}]},
        {"history": [{"registered_ms": 1}]},
        {"history": [{"dtypes": ["float32"], "registered_ms": "soon"}]},
        {"history": 5},
        {},
    ],
)
def test_a_malformed_ledger_answer_is_refused(answer: dict[str, Any]) -> None:
    with pytest.raises(WireFormatError, match=r"malformed registration|not serving dtypes"):
        history_from_answer("tiny", answer)
