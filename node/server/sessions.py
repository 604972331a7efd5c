"""One client's inference session on this server: its span, KV cache, next step and receipt chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.model.span import CacheState


@dataclass
class Session:
    session_id: bytes
    client_nonce: bytes
    block_start: int
    block_end: int
    weights_digest: bytes  # of [block_start, block_end), computed once per session
    max_tokens: int
    receipts: bool = True
    batch: int = 0  # sequences in the session, fixed by its first step
    next_step: int = 0
    prev_receipt: bytes | None = None  # digest of the receipt of step next_step - 1
    cache: CacheState = field(default_factory=CacheState)
