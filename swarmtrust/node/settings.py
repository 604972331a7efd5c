"""Settings of nodes and clients that are not per-command flags: where models are cached."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic_settings import BaseSettings, SettingsConfigDict


class NodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWARMTRUST_", extra="ignore")

    cache_dir: Path = Path(platformdirs.user_cache_dir("swarmtrust"))  # built models (tiny) live here
