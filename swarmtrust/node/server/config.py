"""A block server's configuration: everything ``swarmtrust node start`` decides before serving."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from swarmtrust.node.behaviors import Behavior
from swarmtrust.node.network import NetworkOptions


@dataclass(frozen=True)
class ServerLimits:
    max_batch: int = 8  # sequences per request
    max_session_tokens: int = 2048  # positions a session's KV cache may hold
    max_sessions: int = 64  # concurrent inference sessions (each holds a KV cache)
    batch_sessions: int = 16  # sessions' one-token steps computed in one forward pass, at most (1: each alone)


@dataclass(frozen=True)
class ServerConfig:
    key_path: Path
    model: str  # "tiny" or a local model directory
    block_start: int  # with num_blocks: ignored, the server chooses
    block_end: int  # exclusive
    initial_peers: tuple[str, ...]
    network: NetworkOptions = field(default_factory=NetworkOptions)
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where the blocks run
    behavior: Behavior = field(default_factory=Behavior)
    limits: ServerLimits = field(default_factory=ServerLimits)
    name: str | None = None  # display name in announcements (default: derived from the key)
    announce_period: float = 10.0  # re-announce in the DHT once in this many seconds
    announce_ttl: float = 30.0  # an announcement expires this many seconds after it is made
    receipts: bool = True  # False only for the receipt-overhead benchmark
    torch_threads: int | None = None  # intra-op threads for torch (default: torch's own choice)
    ledger_url: str | None = None  # the ledger service to announce this server to, besides the DHT
    ledger_period: float = 60.0  # heartbeat to the ledger once in this many seconds
    status_period: float = 60.0  # a status line for the operator once in this many seconds (0: none)
    num_blocks: int | None = None  # serve this many blocks where the swarm is thinnest, instead of fixed ones
    rebalance_period: float = 120.0  # with num_blocks: look for a clearly thinner place this often (0: never)
    throughput: float | None = None  # announced tokens/s (default: measured at start-up)
    data_dir: Path | None = None  # where the session registry lives (default: the key file's directory)

    @property
    def state_dir(self) -> Path:
        """Where this server keeps what must outlive it (the ids of the sessions it opened)."""
        return self.data_dir if self.data_dir is not None else self.key_path.resolve().parent
