"""What an attacker with write access to the database can do, for the audit tests."""

from __future__ import annotations

from sqlalchemy import Connection, text

from swarmtrust.ledger.store import Ledger


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
