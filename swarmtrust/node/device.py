"""Where a model's blocks run: ``--device auto|cpu|cuda[:N]``, checked against what this machine has."""

from __future__ import annotations

import re

import torch

from swarmtrust.protocol.errors import SwarmtrustError

DEVICE_HELP = "Where the blocks run: auto (CUDA when present, else CPU), cpu, cuda or cuda:N."
_CUDA = re.compile(r"cuda(?::(\d+))?")


class DeviceError(SwarmtrustError):
    """A device this machine does not have, or a name that is none; the message says what to pass."""


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` means here; DeviceError for a CUDA device this machine lacks."""
    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    found = _CUDA.fullmatch(text)
    if found is None:
        raise DeviceError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    index = int(found.group(1) or 0)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= count:
        have = f"{count} CUDA device(s)" if count else "no CUDA device"
        raise DeviceError(f"--device {name!r}: this machine has {have}; use --device cpu (or auto)")
    return torch.device("cuda", index)


def device_kind(device: torch.device | None) -> str:
    """The kind tolerance documents are keyed by (``protocol.model_records.DEVICE_KINDS``): ``cpu`` or ``cuda``;
    None is the CPU, where spans run by default."""
    return device.type if device is not None else "cpu"


def device_class(device: torch.device) -> str:
    """The device as tolerances name hardware: ``cpu`` or ``cuda <GPU name>``."""
    if device.type == "cuda":
        return f"cuda {torch.cuda.get_device_name(device)}"
    return device.type
