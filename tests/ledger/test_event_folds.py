"""Every kind of event is folded into the derived tables, and each typed fold table agrees with the event
registry on the record each kind holds: mypy checks the tables themselves (a kind left out, a fold of
another record); this checks them against ``ledger.events.EVENT_KINDS``, which decodes the events."""

from __future__ import annotations

from typing import Any, get_args, get_origin, get_type_hints

import pytest

from swarmtrust.ledger.events import EVENT_KINDS
from swarmtrust.ledger.market_rules import MarketFolds
from swarmtrust.ledger.projection_set import PROJECTIONS
from swarmtrust.ledger.spotcheck_projection import SpotCheckFolds


def test_every_event_kind_is_folded_by_some_projection() -> None:
    folded = set().union(*(projection.kinds for projection in PROJECTIONS))
    assert folded == set(EVENT_KINDS)


@pytest.mark.parametrize("table", [MarketFolds, SpotCheckFolds], ids=lambda table: table.__name__)
def test_a_fold_table_folds_the_record_each_kind_holds(table: Any) -> None:
    hints = get_type_hints(table)
    assert set(hints) <= set(EVENT_KINDS)
    for kind, fold in hints.items():
        arguments = get_args(fold)[0]
        if arguments is Ellipsis:  # a fold that takes more than (rows, seq, record): checked where it is called
            continue
        assert get_origin(fold) is not None and arguments[2] is EVENT_KINDS[kind].record_type, kind
