"""Settings of the ledger service, one object per process: a flag wins, then its ``SWARMTRUST_*`` environment
variable, then the default. Durations are seconds here, as on the command line; ``*_ms`` properties give the
milliseconds the ledger counts in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from swarmtrust.protocol.errors import SwarmtrustError
from swarmtrust.protocol.evidence import MAX_EVIDENCE_BYTES


class SettingsError(SwarmtrustError, ValueError):
    """A setting of the wrong kind, in a flag or the environment; the message names it and its variable."""


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
    snapshot_interval: float = 30.0  # seconds between reputation snapshots in the DHT (with --initial-peers)
    checkpoint_interval: float = 60.0  # seconds between checkpoint proposals (0: only `swarmtrust ledger checkpoint`)

    @classmethod
    def from_flags(cls, **flags: Any) -> ApiSettings:
        """The settings with the flags given on the command line (None or empty: not given) over the
        environment's and the defaults."""
        given = {name: value for name, value in flags.items() if value is not None and value != []}
        try:
            return cls(**given)
        except ValidationError as exc:
            wrong = "; ".join(
                f"{'.'.join(map(str, e['loc']))} (SWARMTRUST_{str(e['loc'][0]).upper()}): {e['msg']}"
                for e in exc.errors()
            )
            raise SettingsError(f"ledger service settings: {wrong}") from None

    @property
    def assignment_ttl_ms(self) -> int:
        return round(self.assignment_ttl * 1000)

    @property
    def challenge_window_ms(self) -> int:
        return round(self.challenge_window * 1000)
