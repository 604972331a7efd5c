"""Reading a checkpoint piecewise: only the tensors a span or the client's head needs, and their digests.

The weights digest of a span is ``BLAKE2b("swarmtrust/span/v1" + layer digest, ...)`` over its blocks,
and a block's digest covers each of its tensors (name, dtype, shape, bytes) as stored in the checkpoint,
so servers, clients and verifiers holding the same files agree on it whatever dtype they compute in.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from swarmtrust.node.tensors import fingerprint
from swarmtrust.protocol.digests import blake2b_256
from swarmtrust.protocol.errors import SwarmtrustError

LAYER_PREFIX = "model.layers.{}."


class CheckpointError(SwarmtrustError):
    """The checkpoint lacks tensors it should have, or is not in safetensors format."""


class Checkpoint:
    """The safetensors files of a model directory (single file or sharded with an index)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        index = directory / "model.safetensors.index.json"
        if index.exists():
            weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
            self._files = {name: directory / file for name, file in weight_map.items()}
        elif (directory / "model.safetensors").exists():
            path = directory / "model.safetensors"
            with safe_open(str(path), framework="pt") as handle:
                self._files = {name: path for name in handle.keys()}  # noqa: SIM118 - safe_open is not a dict
        else:
            raise CheckpointError(f"{directory} has no model.safetensors (or index); convert the model to safetensors")

    def names(self, prefix: str) -> list[str]:
        return sorted(name for name in self._files if name.startswith(prefix))

    def load(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose names start with ``prefix``, keyed without it; reads nothing else."""
        names = self.names(prefix)
        if not names:
            raise CheckpointError(f"{self.directory} has no tensors named {prefix}*")
        by_file: dict[Path, list[str]] = {}
        for name in names:
            by_file.setdefault(self._files[name], []).append(name)
        out: dict[str, torch.Tensor] = {}
        for path, file_names in by_file.items():
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                for name in file_names:
                    out[name[len(prefix) :]] = handle.get_tensor(name)
        return out

    def layer_digest(self, layer: int) -> bytes:
        tensors = self.load(LAYER_PREFIX.format(layer))
        parts = [b"swarmtrust/layer/v1"]
        for name in sorted(tensors):
            parts += [name.encode(), b"\x00", fingerprint(tensors[name]).digest]
        return blake2b_256(*parts)
