"""Wire formats of the credit market that nodes sign: transfers, bonds, prices and payments for sessions.

Amounts are integers of micro-credits (1 credit = 1,000,000), never floats, so every balance adds up
exactly. Each record carries a random id of its own: the ledger takes a record once, so a signed transfer
captured and sent again moves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from protocol.challenges import ID_SIZE
from protocol.errors import WireFormatError
from protocol.receipts import MAX_MODEL_ID, MAX_TIMESTAMP_MS, SESSION_ID_SIZE
from protocol.records import Check, FixedBytes, Int, Optional, Text, WireRecord

MICRO = 1_000_000  # micro-credits per credit
MAX_AMOUNT = 10**15  # a billion credits: more than any single movement may carry
MAX_PRICE = 10**9  # micro-credits per block-token
MAX_BLOCK_TOKENS = 10**12


@dataclass(frozen=True)
class Transfer(WireRecord):
    """Credits from the payer's account to another key's account."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/transfer/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "payer_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "transfer_id": FixedBytes(ID_SIZE),
        "payer_key": FixedBytes(32),
        "payee_key": FixedBytes(32),
        "amount": Int(1, MAX_AMOUNT),
        "memo": Optional(Text(200)),
        "signed_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    transfer_id: bytes
    payer_key: bytes
    payee_key: bytes
    amount: int
    memo: str | None
    signed_ms: int

    def check_consistency(self) -> None:
        if self.payer_key == self.payee_key:
            raise WireFormatError("Transfer: payer and payee are the same key")


@dataclass(frozen=True)
class BondDeposit(WireRecord):
    """A server moves credits from its own account into its bond, which the market may slash."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/bond-deposit/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "server_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "deposit_id": FixedBytes(ID_SIZE),
        "server_key": FixedBytes(32),
        "amount": Int(1, MAX_AMOUNT),
        "signed_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    deposit_id: bytes
    server_key: bytes
    amount: int
    signed_ms: int


@dataclass(frozen=True)
class PriceQuote(WireRecord):
    """A server's price for its work: micro-credits per block-token (one token through one block)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/price-quote/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "server_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "server_key": FixedBytes(32),
        "model_id": Text(MAX_MODEL_ID),
        "price": Int(0, MAX_PRICE),
        "quoted_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    server_key: bytes
    model_id: str
    price: int  # 0: this server works for free
    quoted_ms: int  # a quote older than the one held changes nothing


@dataclass(frozen=True)
class SessionPayment(WireRecord):
    """A client pays for a session's work on one server: ``block_tokens`` at the server's quoted price, into
    escrow until the challenge window has passed (or refunded, if a check of the session fails)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/session-payment/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "client_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "payment_id": FixedBytes(ID_SIZE),
        "client_key": FixedBytes(32),
        "server_key": FixedBytes(32),
        "session_id": FixedBytes(SESSION_ID_SIZE),
        "block_tokens": Int(1, MAX_BLOCK_TOKENS),
        "amount": Int(1, MAX_AMOUNT),
        "paid_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    payment_id: bytes
    client_key: bytes
    server_key: bytes
    session_id: bytes
    block_tokens: int  # tokens × blocks of the session on this server
    amount: int  # must equal block_tokens × the server's price when the ledger takes it
    paid_ms: int

    def check_consistency(self) -> None:
        if self.client_key == self.server_key:
            raise WireFormatError("SessionPayment: a server does not pay itself")
