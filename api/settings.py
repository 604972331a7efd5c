"""Settings of the ledger service: flags win, then ``SWARMTRUST_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.evidence import MAX_EVIDENCE_BYTES


def default_key_path() -> Path:
    return Path(platformdirs.user_data_dir("swarmtrust")) / "ledger.key"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWARMTRUST_", extra="ignore")

    db_url: str = ""  # the ledger database (default: ledger.settings.default_db_url())
    ledger_key: Path = default_key_path()  # the ledger's own signing key; created (0600) when missing
    assignment_ttl: float = 60.0  # seconds a verifier has to answer an assignment
    dispute_verifiers: int = 2  # more verifiers drawn for a challenge whose verdict is not a pass
    audit_rate: float = 0.1  # chance that a reliable verifier's pass is re-checked
    max_request_bytes: int = MAX_EVIDENCE_BYTES + 65_536  # larger bodies are refused with 413
    admin_token: SecretStr | None = None  # administrators' secret; unset: administration and dashboard are off
    admin_name: str = "admin"  # recorded as "who" with every administrator's action
    cors_origins: list[str] = []  # browser origins allowed to read the API (none by default)
    dashboard_refresh: float = 10.0  # seconds between the dashboard's refreshes of itself
    challenge_window: float = 600.0  # seconds a payment stays in escrow, open to challenges, before release
    settle_interval: float = 30.0  # seconds between releases of due escrow (0: only when an admin asks)
