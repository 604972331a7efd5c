"""The simulation's detection table: rates read from calibration output, with the counts they rest on.

The shipped documents and crafted ones (written as ``swarmtrust verifier calibrate`` writes them) give rates
equal to caught / sessions and held-out false positives / span sessions; anything else is a ScenarioError that
says what is missing, never another exception.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.simulation.detection_table import DetectionTable, read_table, table_of
from swarmtrust.simulation.errors import ScenarioError
from swarmtrust.verifier.tolerance_document import SHIPPED
from tests.swarmtrust.calibrations import CORRUPTIONS, calibration_document, write_calibration

DTYPES = ("float32", "bfloat16", "float16")


def test_the_shipped_calibration_gives_rates_for_float32_and_bfloat16() -> None:
    """Whatever dtypes the shipped documents hold, float32 and bfloat16 are among them, and every rate is the
    document's own count."""
    table = read_table()
    assert {"float32", "bfloat16"} <= set(table.dtypes)
    raw = json.loads(resources.files("swarmtrust.verifier").joinpath(SHIPPED).read_text())
    documents = raw if isinstance(raw, list) else [raw] if "format" in raw else list(raw.values())
    for document in documents:
        rates = table.row(document["dtype"])
        assert set(rates.caught) == set(document["adversaries"])
        for name, measured in document["adversaries"].items():
            assert (rates.caught[name].failed, rates.caught[name].sessions) == (
                measured["caught"],
                measured["sessions"],
            )
        per_span = document["held_out"]["per_span"]
        assert rates.false_positives.rate == per_span["false_positives"] / per_span["span_sessions"]
    assert "shipped swarmtrust/verifier/tolerances.json" in table.describe("float32", "skip-layers")


def test_a_calibration_file_gives_its_counts_and_names_itself(tmp_path: Path) -> None:
    path = write_calibration(
        tmp_path / "calibration.json",
        [
            calibration_document("float32", {"noise:0.01": (7, 10), "skip-layers": (10, 10)}, (2, 1080)),
            calibration_document("bfloat16", {"noise:0.01": (0, 10)}),
        ],
    )
    table = read_table(path)
    assert table.dtypes == ("float32", "bfloat16")
    assert table.detection("float32", "noise:0.01").rate == 0.7
    assert table.detection("bfloat16", "noise:0.01").rate == 0.0
    assert table.false_positives("float32").rate == 2 / 1080
    text = table.describe("float32", "noise:0.01")
    assert str(path) in text and "caught in 7 of 10 sessions" in text and "2 false positives in 1,080" in text


def test_a_dtype_or_corruption_not_calibrated_is_refused_with_what_is_held(tmp_path: Path) -> None:
    table = read_table(
        write_calibration(tmp_path / "c.json", [calibration_document("bfloat16", {"fp8-weights": (1, 2)})])
    )
    with pytest.raises(ScenarioError, match=r"--dtype 'float32'.*holds bfloat16.*--dtype float32"):
        table.detection("float32", "fp8-weights")
    with pytest.raises(ScenarioError, match=r"--corruption 'noise:0.01'.*in bfloat16: fp8-weights"):
        table.detection("bfloat16", "noise:0.01")


def test_the_first_format_and_files_that_are_no_calibration_are_refused(tmp_path: Path) -> None:
    first_format = {"model": "tiny", "margin": 1.2, "comparisons_per_dtype": 100, "thresholds": {}, "dtypes": {}}
    cases: dict[str, str] = {
        "first-format.json": json.dumps(first_format),
        "not-json.json": "{not json",
        "empty-list.json": "[]",
        "number.json": "3",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ScenarioError, match=r"format 2|not JSON"):
            read_table(path)
        assert path.read_text() == text  # reading changes nothing
    with pytest.raises(ScenarioError, match="cannot read the calibration file"):
        read_table(tmp_path / "missing.json")


def _broken(change: Any) -> dict[str, Any]:
    document = calibration_document("float32", {"noise:0.01": (3, 10)})
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format=1), "format 2"),
        (lambda d: d.pop("adversaries"), 'no "adversaries"'),
        (lambda d: d.update(adversaries={}), 'no "adversaries"'),
        (lambda d: d["adversaries"]["noise:0.01"].update(caught=11), '0 ≤ "caught" ≤ "sessions"'),
        (lambda d: d["adversaries"]["noise:0.01"].update(caught=-1), '0 ≤ "caught"'),
        (lambda d: d["adversaries"]["noise:0.01"].update(sessions=0, caught=0), "sessions ≥ 1"),
        (lambda d: d["adversaries"]["noise:0.01"].update(caught=True), "whole counts"),
        (lambda d: d["adversaries"]["noise:0.01"].update(caught=2.0), "whole counts"),
        (lambda d: d["adversaries"].update({"noise:0.01": 0.3}), "whole counts"),
        (lambda d: d.pop("held_out"), "held_out"),
        (lambda d: d["held_out"].pop("per_span"), "per_span"),
        (lambda d: d["held_out"]["per_span"].update(span_sessions=None), "span_sessions"),
        (lambda d: d.update(composition=[]), "composition factors"),
        (lambda d: d.update(dtype=["float32"]), "a dtype"),
        (lambda d: d.update(dtype="float64"), "a dtype"),
    ],
    ids=[
        "format-1",
        "no-adversaries",
        "empty-adversaries",
        "caught-above-sessions",
        "caught-negative",
        "no-sessions",
        "bool-count",
        "float-count",
        "adversary-not-an-object",
        "no-held-out",
        "no-per-span",
        "span-sessions-null",
        "composition-a-list",
        "dtype-a-list",
        "unknown-dtype",
    ],
)
def test_a_malformed_document_is_a_scenario_error_that_says_what(change: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        table_of(_broken(change), "crafted")


def test_two_documents_of_one_dtype_are_refused() -> None:
    documents = [calibration_document("float32", {"noise:0.01": (1, 1)}) for _ in range(2)]
    with pytest.raises(ScenarioError, match="two documents for float32"):
        table_of(documents, "crafted")


counts = st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(DTYPES),
        st.tuples(st.dictionaries(st.sampled_from(CORRUPTIONS), counts, min_size=1), counts),
        min_size=1,
    ),
    st.sampled_from(("list", "single", "by-dtype")),
)
@pytest.mark.slow  # heavy: in the full tier only
def test_rates_are_the_documents_counts(
    made_up: dict[str, tuple[dict[str, tuple[int, int]], tuple[int, int]]], container: str
) -> None:
    documents = [calibration_document(dtype, caught, false) for dtype, (caught, false) in made_up.items()]
    data: Any = documents
    if container == "single":
        data = documents[0]
        made_up = dict(list(made_up.items())[:1])
    elif container == "by-dtype":
        data = {document["dtype"]: document for document in documents}
    table = table_of(data, "made up")
    assert set(table.dtypes) == set(made_up)
    for dtype, (caught, (failed, span_sessions)) in made_up.items():
        assert set(table.row(dtype).caught) == set(caught)
        for name, (hits, served) in caught.items():
            measured = table.detection(dtype, name)
            assert (measured.failed, measured.sessions, measured.rate) == (hits, served, hits / served)
        false = table.false_positives(dtype)
        assert (false.failed, false.sessions, false.rate) == (failed, span_sessions, failed / span_sessions)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a parsed JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None)
@given(st.data(), json_values)
@pytest.mark.slow  # heavy: in the full tier only
def test_any_document_gives_a_table_or_a_scenario_error(data: st.DataObject, replacement: Any) -> None:
    """A calibration file is whatever its author wrote: one value anywhere in a valid document replaced by any
    JSON (or the whole file any JSON) gives a table whose rates are counts it holds, or a ScenarioError."""
    document = calibration_document("bfloat16", {"noise:0.01": (3, 10), "skip-layers": (10, 10)})
    path = data.draw(st.sampled_from(_paths(document)))
    mangled: Any = copy.deepcopy(document)
    if not path:
        mangled = replacement
    else:
        parent = mangled
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = replacement
    try:
        table = table_of(mangled, "made up")
    except ScenarioError:
        return
    assert isinstance(table, DetectionTable)
    for rates in table.rows.values():
        for measured in (*rates.caught.values(), rates.false_positives):
            assert 0 <= measured.failed <= measured.sessions and 0.0 <= measured.rate <= 1.0


def test_the_names_kept_here_for_a_light_import_are_the_verifiers() -> None:
    from swarmtrust.simulation.detection_table import SHIPPED_FILE
    from swarmtrust.verifier.tolerance_document import FORMAT, SHIPPED

    assert SHIPPED_FILE == SHIPPED and FORMAT == 2  # detection_table's refusal names format 2
