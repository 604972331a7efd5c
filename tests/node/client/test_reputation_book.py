"""The client reads the ledger's reputation answer through the model the service answers with
(``protocol.rest.ReputationBatch``): every field survives the trip, and an answer of another shape is refused
whole, so the client falls back to the DHT snapshot instead of routing on a half-read book."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmtrust.node.client.reputation import ReputationBook
from swarmtrust.protocol.rest import ReputationBatch


def view(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "state": "trusted",
        "trust": 0.9,
        "interval": [0.9, 0.99],
        "posterior": {"alpha": 40.0, "beta": 1.5},
        "short_posterior": {"alpha": 3.0, "beta": 1.0},
        "spot_check_rate": 0.2,
        "checks": 40,
        "passes": 40,
        "fails": 0,
        "consecutive_passes": 40,
        "bonded": True,
        "bond": 5_000_000,
        "price": 7,
    }
    return entry | changes


def batch(**changes: Any) -> bytes:
    answer = {"model_id": "tiny", "as_of_ms": 1, "newcomer": view(state="newcomer"), "servers": {"ab": view()}}
    return json.dumps(answer | changes).encode()


def test_every_field_the_router_uses_survives_the_trip() -> None:
    book = ReputationBook.from_batch(ReputationBatch.model_validate_json(batch()), "api")
    trust = book.of("ab")
    assert (trust.state, trust.spot_check_rate, trust.bonded, trust.bond, trust.price) == (
        "trusted",
        0.2,
        True,
        5_000_000,
        7,
    )
    assert (trust.posterior.alpha, trust.posterior.beta) == pytest.approx((40.0, 1.5))
    assert book.of("someone else").state == "newcomer", "a server not in the answer gets the newcomer prior"


def test_a_ledger_that_does_not_say_a_bond_leaves_it_to_bonded() -> None:
    entry = view()
    del entry["bond"], entry["price"]
    answer = json.dumps({"model_id": None, "as_of_ms": 1, "newcomer": view(), "servers": {"ab": entry}})
    trust = ReputationBook.from_batch(ReputationBatch.model_validate_json(answer), "api").of("ab")
    assert (trust.bond, trust.price, trust.bonded) == (None, None, True)


@given(
    field=st.sampled_from(["bond", "price"]),
    value=st.one_of(
        st.integers(max_value=-1), st.floats(allow_nan=False), st.text(), st.booleans(), st.lists(st.integers())
    ),
)
def test_an_amount_that_is_not_a_whole_non_negative_number_is_refused(field: str, value: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        ReputationBatch.model_validate_json(batch(servers={"ab": view(**{field: value})}))


@pytest.mark.parametrize("missing", ["state", "posterior", "spot_check_rate", "bonded"])
def test_an_answer_missing_what_routing_needs_is_refused(missing: str) -> None:
    entry = view()
    del entry[missing]
    with pytest.raises(pydantic.ValidationError):
        ReputationBatch.model_validate_json(batch(servers={"ab": entry}))
