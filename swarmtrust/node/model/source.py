"""From a ``--model`` argument to a checkpoint directory on disk and the model id the swarm uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swarmtrust.node.model.tiny import TINY_NAME, ensure_tiny_model
from swarmtrust.node.settings import NodeSettings
from swarmtrust.protocol.errors import SwarmtrustError


class ModelNotFoundError(SwarmtrustError):
    """The ``--model`` argument names neither ``tiny`` nor a local model directory."""


@dataclass(frozen=True)
class ModelSource:
    model_id: str  # what the DHT, receipts and the ledger call this model
    directory: Path  # a Hugging Face model directory: config.json, *.safetensors, tokenizer


def resolve_model(model: str, *, settings: NodeSettings | None = None) -> ModelSource:
    """``tiny`` (built into the cache on first use) or a path to a local Hugging Face model directory."""
    if model == TINY_NAME:
        cache_dir = (settings or NodeSettings()).cache_dir / "models"
        return ModelSource(TINY_NAME, ensure_tiny_model(cache_dir))
    directory = Path(model).expanduser()
    if not (directory / "config.json").is_file():
        raise ModelNotFoundError(
            f"--model {model!r} is neither 'tiny' nor a local model directory with a config.json "
            "(no model hub is contacted: download the model first, then pass its directory)"
        )
    return ModelSource(directory.resolve().name, directory.resolve())
