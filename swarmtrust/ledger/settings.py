"""Where the ledger lives: ``--db`` flags win, then ``SWARMTRUST_DB_URL``, then a SQLite file in the data dir."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_db_url() -> str:
    """SQLite in the user's data directory, e.g. ``~/.local/share/swarmtrust/ledger.db`` on Linux."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('swarmtrust')) / 'ledger.db'}"


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWARMTRUST_", extra="ignore")

    db_url: str = ""  # SQLAlchemy URL; sqlite:///PATH (default) or postgresql+psycopg://USER:PASS@HOST/DB

    def resolved_db_url(self, flag: str | None = None) -> str:
        return flag or self.db_url or default_db_url()
