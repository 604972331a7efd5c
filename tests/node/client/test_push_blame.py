"""Which failures in a pushed step are a server's own fault, and which the push may have caused."""

from __future__ import annotations

import pytest
from hivemind.p2p import P2PHandlerError

from swarmtrust.node.client.faults import push_may_be_to_blame
from swarmtrust.node.client.receipt_check import ReceiptFault
from swarmtrust.node.client.transport import HopTimeoutError, HopUnavailableError
from swarmtrust.protocol.errors import WireFormatError

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

OWN_FAULTS = [
    ReceiptFault("missing", "no receipt"),
    ReceiptFault("bad_signature", "forged"),
    ReceiptFault("broken_chain", "unlinked"),
    WireFormatError("malformed reply"),
    HopUnavailableError("the server closed the session"),
    ConnectionResetError("gone"),
]


@pytest.mark.parametrize("error", OWN_FAULTS, ids=lambda e: type(e).__name__ + ":" + str(e))
@pytest.mark.parametrize("index", [0, 1, 2])
def test_faults_a_server_commits_whatever_its_input_are_pinned_on_it(index: int, error: BaseException) -> None:
    assert not push_may_be_to_blame(index, error)


@pytest.mark.parametrize(
    "error",
    [HopTimeoutError("no answer within 2 s"), ReceiptFault("wrong_input", "input digest differs")],
    ids=["timeout", "wrong_input"],
)
def test_a_pushed_hop_that_waited_in_vain_or_got_another_input_is_not_blamed(error: BaseException) -> None:
    assert push_may_be_to_blame(1, error) and push_may_be_to_blame(3, error)
    assert not push_may_be_to_blame(0, error)  # the first hop's input came from the client itself


def test_a_refusal_in_a_pushed_step_is_nobodys_fault_yet() -> None:
    refused = P2PHandlerError("no input for step 4 was pushed by Qm... within 15 s")
    assert push_may_be_to_blame(0, refused) and push_may_be_to_blame(1, refused)
