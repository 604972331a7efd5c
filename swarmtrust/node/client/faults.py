"""What can go wrong with a server, as the client records it."""

from __future__ import annotations

from dataclasses import dataclass

from hivemind.p2p import P2PDaemonError, P2PHandlerError

from swarmtrust.node.client.receipt_check import ReceiptFault
from swarmtrust.node.client.transport import HopTimeoutError, HopUnavailableError
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed

# Errors that mean "this server failed this step": the client records a fault and routes around it.
HOP_ERRORS = (
    HopUnavailableError,
    ReceiptFault,
    WireFormatError,
    P2PHandlerError,
    P2PDaemonError,
    ConnectionError,
    OSError,
)


class SessionFailedError(SwarmtrustError):
    """The session could not continue: no replacement was left, or too many servers failed."""


@dataclass(frozen=True)
class Fault:
    """A server that failed this client, and how: a receipt fault's reason, or refused / unavailable /
    malformed_reply."""

    step: int
    server_key: str
    reason: str
    message: str
    receipt: Signed[Receipt] | None = None  # the wrong receipt, when the server signed it (``signed_receipt_of``)


def signed_receipt_of(error: BaseException) -> Signed[Receipt] | None:
    """The receipt a fault is about, when its server signed it: evidence that may convict it, paired with
    another of its receipts (``node.client.misbehaviour``)."""
    return error.receipt if isinstance(error, ReceiptFault) else None


def fault_reason(error: BaseException) -> str:
    if isinstance(error, ReceiptFault):
        return error.reason
    if isinstance(error, P2PHandlerError):
        return "refused"
    if isinstance(error, WireFormatError):
        return "malformed_reply"
    return "unavailable"


def push_may_be_to_blame(index: int, error: BaseException) -> bool:
    """Whether a hop's failure in a pushed step may not be its server's own doing: a refusal (e.g. a push
    that never came, or a server that does not push), or, past the first hop, whose input came from the
    previous server rather than this client, a timeout or a receipt for an input other than that server's
    receipted output."""
    if isinstance(error, P2PHandlerError):
        return True
    if index == 0:
        return False
    return isinstance(error, HopTimeoutError) or (isinstance(error, ReceiptFault) and error.reason == "wrong_input")
