"""Wire formats of the credit market that nodes sign: transfers, bonds and their withdrawals, prices and payments
for sessions.

Amounts are integers of micro-credits (1 credit = 1,000,000), never floats, so every balance adds up
exactly. Each record carries a random id of its own: the ledger takes a record once, so a signed transfer
captured and sent again moves nothing.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from swarmtrust.protocol.challenges import ID_SIZE
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_MODEL_ID, MAX_TIMESTAMP_MS, SESSION_ID_SIZE
from swarmtrust.protocol.records import WireRecord, size, text, within

MICRO = 1_000_000  # micro-credits per credit
MAX_AMOUNT = 10**15  # a billion credits: more than any single movement may carry
MAX_PRICE = 10**9  # micro-credits per block-token
MAX_BLOCK_TOKENS = 10**12


class Transfer(WireRecord, tag=1, frozen=True):
    """Credits from the payer's account to another key's account."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/transfer/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "payer_key"

    transfer_id: Annotated[bytes, size(ID_SIZE)]
    payer_key: Annotated[bytes, size(32)]
    payee_key: Annotated[bytes, size(32)]
    amount: Annotated[int, within(1, MAX_AMOUNT)]
    memo: Annotated[str, text(200)] | None
    signed_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if self.payer_key == self.payee_key:
            raise WireFormatError("Transfer: payer and payee are the same key")


class BondDeposit(WireRecord, tag=1, frozen=True):
    """A server moves credits from its own account into its bond, which the market may slash."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/bond-deposit/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "server_key"

    deposit_id: Annotated[bytes, size(ID_SIZE)]
    server_key: Annotated[bytes, size(32)]
    amount: Annotated[int, within(1, MAX_AMOUNT)]
    signed_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class BondWithdrawal(WireRecord, tag=1, frozen=True):
    """A server moves credits from its bond back to its own account. The ledger takes it only once nothing the
    server did can still be challenged: no payment to it in escrow, no undecided challenge of it, and the
    challenge window of its last session passed (so a cheat is slashed before its bond can leave)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/bond-withdrawal/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "server_key"

    withdrawal_id: Annotated[bytes, size(ID_SIZE)]
    server_key: Annotated[bytes, size(32)]
    amount: Annotated[int, within(1, MAX_AMOUNT)]
    signed_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class PriceQuote(WireRecord, tag=1, frozen=True):
    """A server's price for its work: micro-credits per block-token (one token through one block)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/price-quote/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "server_key"

    server_key: Annotated[bytes, size(32)]
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    price: Annotated[int, within(0, MAX_PRICE)]  # 0: this server works for free
    quoted_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]  # a quote older than the one held changes nothing


class SessionPayment(WireRecord, tag=1, frozen=True):
    """A client pays for a session's work on one server: ``block_tokens`` at the server's quoted price, into
    escrow until the challenge window has passed (or refunded, if a check of the session fails)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/session-payment/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "client_key"

    payment_id: Annotated[bytes, size(ID_SIZE)]
    client_key: Annotated[bytes, size(32)]
    server_key: Annotated[bytes, size(32)]
    session_id: Annotated[bytes, size(SESSION_ID_SIZE)]
    block_tokens: Annotated[int, within(1, MAX_BLOCK_TOKENS)]  # tokens × blocks of the session on this server
    # must equal block_tokens × the server's price when the ledger takes it
    amount: Annotated[int, within(1, MAX_AMOUNT)]
    paid_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if self.client_key == self.server_key:
            raise WireFormatError("SessionPayment: a server does not pay itself")
