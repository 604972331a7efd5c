"""Alembic environment: runs migrations on the connection ``ledger.migrate`` hands over, or on a URL."""

from __future__ import annotations

import logging.config

from alembic import context

from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.models import Base
from swarmtrust.ledger.settings import LedgerSettings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db") or LedgerSettings().resolved_db_url()
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database URL")
run_migrations_online()
