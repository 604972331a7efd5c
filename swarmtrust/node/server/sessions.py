"""One client's inference session on this server: its span, KV cache, next step and receipt chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmtrust.node.model.span import CacheState
from swarmtrust.protocol.receipts import Receipt


@dataclass
class Session:
    session_id: bytes
    client_nonce: bytes
    block_start: int
    block_end: int
    weights_digest: bytes  # of [block_start, block_end), computed once per session
    max_tokens: int
    opened_ms: int  # when the session registry claimed its id (receipts are signed only for a while after)
    receipts: bool = True
    batch: int = 0  # sequences in the session, fixed by its first step
    next_step: int = 0
    prev_receipt: bytes | None = None  # digest of the receipt of step next_step - 1
    last_receipt: Receipt | None = None  # that receipt (only the ``equivocate`` adversary looks at it again)
    cache: CacheState = field(default_factory=CacheState)
