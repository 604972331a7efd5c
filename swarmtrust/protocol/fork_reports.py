"""A report, kept in the DHT, that a ledger key signed two histories: two of its checkpoints with one number.

The report carries both checkpoint envelopes, so it proves itself: whoever reads it checks the ledger's two
signatures (``protocol.checkpoints.fork_between``) and believes nothing of the reporter, who only signs the DHT
record (the DHT keeps signed records only, under their signer's subkey). Anyone holding the two checkpoints can
report them, client, server, verifier or bystander (``swarmtrust dht report-fork``); every client reading
reputations looks under ``fork_reports_key`` of the ledger it uses, and stops trusting it on one valid report.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from swarmtrust.protocol.checkpoints import Checkpoint, Fork, fork_between
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import WireRecord, blob, size, within

FORK_REPORT_TTL_MS = 30 * 24 * 3_600_000  # a fork stays proved for ever; a report is republished within a month


def fork_reports_key(ledger_key: bytes) -> str:
    return f"ledger.{ledger_key.hex()}.forks"


class LedgerForkReport(WireRecord, tag=1, frozen=True):
    DOMAIN: ClassVar[bytes] = b"swarmtrust/ledger-fork-report/v1"
    MAX_BYTES: ClassVar[int] = 2 * Checkpoint.MAX_BYTES + 512
    SIGNER_FIELD: ClassVar[str] = "reporter"

    reporter: Annotated[bytes, size(32)]
    ledger_key: Annotated[bytes, size(32)]
    first: Annotated[bytes, blob(Checkpoint.MAX_BYTES + 128)]  # a signed Checkpoint envelope
    second: Annotated[bytes, blob(Checkpoint.MAX_BYTES + 128)]  # another, with the same number
    made_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    expires_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if self.expires_ms <= self.made_ms:
            raise WireFormatError("LedgerForkReport: expires before it was made")

    def dht_keys(self) -> list[str]:
        return [fork_reports_key(self.ledger_key)]

    def fork(self) -> Fork:
        """The fork the two checkpoints prove; WireFormatError or SignatureError when they prove none of
        ``ledger_key`` (not validly signed by it, other numbers, or one checkpoint twice)."""
        fork = fork_between(self.first, self.second)
        if fork is None or fork.ledger_key != self.ledger_key:
            raise WireFormatError(
                f"the report's checkpoints are not two of ledger {self.ledger_key.hex()[:16]}… with one number"
            )
        return fork
