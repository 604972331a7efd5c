"""What an attacker with write access to the database can do, for the audit tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, text

from swarmtrust.ledger.events import GENESIS_HASH, event_hash, open_event_record
from swarmtrust.ledger.statements import Mint
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.signing import sign_record


def lift_append_only_guard(connection: Connection) -> None:
    """The triggers stop accidents, not the database's owner: drop them as an attacker would."""
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
        connection.execute(text("DROP TRIGGER IF EXISTS events_no_delete"))
    else:
        connection.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))


def tamper(ledger: Ledger, *statements: str, **params: object) -> None:
    with ledger.engine.begin() as connection:
        lift_append_only_guard(connection)
        for statement in statements:
            connection.execute(text(statement), params)


def scalar(ledger: Ledger, statement: str, **params: object) -> object:
    with ledger.engine.connect() as connection:
        return connection.execute(text(statement), params).scalar()


def rewrite_mints(engine: Engine, ledger_key: Any, factor: int = 1000) -> None:
    """What the holder of the ledger key and the database can do: alter every mint (``factor`` times the credits),
    re-sign it with the ledger key, and re-link every later event and the head, so that the chain is consistent
    again. Only checkpoints that verifiers co-signed can tell."""
    with engine.begin() as connection:
        lift_append_only_guard(connection)
        prev = GENESIS_HASH
        for row in connection.execute(text("SELECT * FROM events ORDER BY seq")).mappings().all():
            payload, signature, signer = bytes(row["payload"]), bytes(row["signature"]), bytes.fromhex(row["signer"])
            if row["kind"] == "mint":
                record = open_event_record("mint", payload, signer, signature).record
                assert isinstance(record, Mint)
                forged = sign_record(record.replace(amount=record.amount * factor), ledger_key)
                payload, signature = forged.body, forged.signature
            digest = event_hash(row["seq"], row["kind"], payload, signer, signature, row["recorded_ms"], prev)
            connection.execute(
                text("UPDATE events SET payload = :p, signature = :s, prev_hash = :ph, hash = :h WHERE seq = :q"),
                {"p": payload, "s": signature, "ph": prev.hex(), "h": digest.hex(), "q": row["seq"]},
            )
            prev = digest
        connection.execute(text("UPDATE chain_head SET hash = :h"), {"h": prev.hex()})
