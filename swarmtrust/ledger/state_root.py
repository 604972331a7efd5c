"""The root of the derived state a checkpoint fixes: reputations (with quarantines) and balances (pure).

Each row of the attested tables is one Merkle leaf: the canonical encoding of its table's name, its key and its
columns in name order. Leaves are sorted by (table, key), so the root depends on the rows alone, never on the
order they were derived in. Rows come from a replay of the events (``ledger.rowstore.MemoryRows``: the folds the
audit runs), so the ledger and every verifier derive the same leaves from the same events.

An auditor holding one leaf and its inclusion proof (``state_proof``) checks a reputation or a balance against
a final checkpoint's ``state_root`` without the rest of the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import DeclarativeBase

from swarmtrust.ledger.models import AccountRow, ReputationRow
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.merkle import InclusionProof, inclusion_proof, merkle_root

# The tables whose rows a checkpoint attests, by the name their leaves carry.
ATTESTED: dict[str, type[DeclarativeBase]] = {"reputations": ReputationRow, "accounts": AccountRow}

Tables = Mapping[type[DeclarativeBase], Mapping[Any, Mapping[str, Any]]]


def columns_of(model: type[DeclarativeBase]) -> list[str]:
    """A table's column names, in name order: a leaf holds these and no others."""
    return sorted(column.name for column in model.__table__.columns)


def leaf(table: str, key: Any, row: Mapping[str, Any]) -> bytes:
    """One attested row's leaf: ``[table, key, [[column, value], ...]]`` over the table's columns in name order
    (a row read from the database and one folded in memory give the same leaf)."""
    return pack([table, key, [[column, row.get(column)] for column in columns_of(ATTESTED[table])]])


def state_leaves(tables: Tables) -> list[tuple[str, Any, bytes]]:
    """Every attested row as (table, key, leaf), sorted by (table, key)."""
    found: list[tuple[str, Any, bytes]] = []
    for name, model in sorted(ATTESTED.items()):
        rows = tables.get(model, {})
        found.extend((name, key, leaf(name, key, rows[key])) for key in sorted(rows))
    return found


def state_root(tables: Tables) -> bytes:
    """The Merkle root of every attested row (of an empty tree when there is none)."""
    return merkle_root([entry[2] for entry in state_leaves(tables)])


def state_proof(tables: Tables, table: str, key: Any) -> tuple[bytes, InclusionProof] | None:
    """One attested row's leaf and its inclusion proof under ``state_root(tables)``; None when there is no such
    row."""
    leaves = state_leaves(tables)
    for index, (name, found, encoded) in enumerate(leaves):
        if (name, found) == (table, key):
            return encoded, inclusion_proof([entry[2] for entry in leaves], index)
    return None
