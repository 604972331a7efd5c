"""The event log is a tagged union whose tag is the record's type, and every kind of event is folded.

mypy checks each projection's fold (a ``match`` over the record types it declares, ending in ``assert_never``:
a declared type without its fold does not type-check); this checks the declarations against the event
registry (``ledger.events.EVENT_KINDS``, which decodes the events) and that a fold refuses what it does not fold.
"""

from __future__ import annotations

from typing import get_args

import pytest

from swarmtrust.ledger import market_rules, model_registry_projection, spotcheck_projection
from swarmtrust.ledger.events import EVENT_KINDS, EventRecord, LoggedEvent, kinds_of
from swarmtrust.ledger.projection_set import PROJECTIONS
from swarmtrust.ledger.rowstore import MemoryRows
from tests.builders import new_key, signed_receipt


def test_the_union_holds_exactly_the_registered_record_types_one_kind_each() -> None:
    registered = [kind.record_type for kind in EVENT_KINDS.values()]
    assert len(set(registered)) == len(registered), "two kinds share a record type: the type is no longer a tag"
    assert set(get_args(EventRecord)) == set(registered)


def test_every_event_kind_is_folded_by_some_projection() -> None:
    folded = set().union(*(projection.kinds for projection in PROJECTIONS))
    assert folded == set(EVENT_KINDS)
    for projection in PROJECTIONS:
        assert projection.kinds == kinds_of(projection.records), type(projection).__name__


@pytest.mark.parametrize("module", [market_rules, spotcheck_projection, model_registry_projection])
def test_a_fold_refuses_an_event_it_does_not_fold(module: object) -> None:
    """An event routed to the wrong fold is an error, never a silent no-op or a fold of another record."""
    event = LoggedEvent(1, "receipt", signed_receipt(new_key()), 0, bytes(32), bytes(32))
    fold = getattr(module, "fold_event", None) or module.fold  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="not fold a Receipt"):
        fold(MemoryRows(), event)
