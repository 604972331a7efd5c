"""The latest final checkpoint a client has seen from each ledger key, and the answers it therefore refuses (pure).

Every reputation answer (REST or DHT snapshot) names the ledger's latest final checkpoint by number and digest.
A client remembers the highest it has seen per ledger key. An answer naming an earlier checkpoint (a rolled-back
history, or a stale snapshot replayed) or another digest under a number it has seen (a ledger that signed two
histories) is refused: the ledger key is then distrusted for the rest of the client's life, and the client says
why. An answer naming none, from a ledger that showed one before, is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmtrust.protocol.errors import SwarmtrustError


class LedgerHistoryError(SwarmtrustError):
    """A ledger's answer that does not extend the history this client saw it commit to; the message says how."""


@dataclass(frozen=True)
class Seen:
    number: int
    digest: bytes
    source: str  # where it was seen: "api" or "dht"


@dataclass
class CheckpointMemory:
    seen: dict[bytes, Seen] = field(default_factory=dict)  # by ledger key
    distrusted: dict[bytes, str] = field(default_factory=dict)  # ledger key -> why

    def admit(self, ledger_key: bytes, number: int, digest: bytes | None, source: str) -> None:
        """Take an answer standing on checkpoint (``number``, ``digest``) (0 and None: none); LedgerHistoryError
        when it does not extend what this client saw, after which every answer of that key is refused."""
        if ledger_key in self.distrusted:
            raise LedgerHistoryError(self.distrusted[ledger_key])
        known = self.seen.get(ledger_key)
        who = ledger_key.hex()[:16] + "…"
        problem = None
        if known is not None and (number < known.number or digest is None):
            problem = (
                f"ledger {who} answered ({source}) from checkpoint {number or 'none'}, behind checkpoint "
                f"{known.number} it showed before ({known.source}): its history was rolled back or the answer replayed"
            )
        elif known is not None and number == known.number and digest != known.digest:
            problem = (
                f"ledger {who} showed two different checkpoints numbered {number} ({known.source} and {source}): "
                "it signed two histories"
            )
        if problem is not None:
            self.distrusted[ledger_key] = problem + "; no longer trusting it"
            raise LedgerHistoryError(self.distrusted[ledger_key])
        if digest is not None and (known is None or number > known.number):
            self.seen[ledger_key] = Seen(number, digest, source)
