"""The push inbox: a pushed input reaches only the step and session it names, from the peer the client
named, whichever of the push and the client's request comes first."""

from __future__ import annotations

import asyncio

import pytest
from hivemind.proto import runtime_pb2

from swarmtrust.node.block_rpc import PushMeta
from swarmtrust.node.server.pushes import PushError, PushInbox

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

SESSION = bytes(range(16))
OTHER_SESSION = bytes(16)


def tensor(tag: bytes) -> runtime_pb2.Tensor:
    return runtime_pb2.Tensor(buffer=tag, size=[len(tag)], dtype="float32")


def inbox_on_step(step: int) -> PushInbox:
    inbox = PushInbox()
    inbox.track(SESSION, step)
    return inbox


def test_a_push_that_comes_first_waits_for_its_clients_request() -> None:
    inbox = inbox_on_step(3)
    assert inbox.deliver("peer-a", PushMeta(session_id=SESSION, step=3), tensor(b"out3"))
    taken = asyncio.run(inbox.take(SESSION, 3, "peer-a", timeout=1.0))
    assert taken.buffer == b"out3"


def test_a_request_that_comes_first_waits_for_its_push() -> None:
    async def scenario() -> bytes:
        inbox = inbox_on_step(1)
        waiting = asyncio.create_task(inbox.take(SESSION, 1, "peer-a", timeout=5.0))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        assert inbox.deliver("peer-a", PushMeta(session_id=SESSION, step=1), tensor(b"out1"))
        return bytes((await waiting).buffer)

    assert asyncio.run(scenario()) == b"out1"


def test_only_the_named_sender_is_taken_even_if_another_pushes_first() -> None:
    async def scenario() -> bytes:
        inbox = inbox_on_step(1)
        assert inbox.deliver("intruder", PushMeta(session_id=SESSION, step=1), tensor(b"forged"))
        waiting = asyncio.create_task(inbox.take(SESSION, 1, "peer-a", timeout=5.0))
        await asyncio.sleep(0.01)
        assert not inbox.deliver("intruder-2", PushMeta(session_id=SESSION, step=1), tensor(b"forged"))
        assert inbox.deliver("peer-a", PushMeta(session_id=SESSION, step=1), tensor(b"real"))
        return bytes((await waiting).buffer)

    assert asyncio.run(scenario()) == b"real"


@pytest.mark.parametrize(
    ("session", "step"),
    [(OTHER_SESSION, 2), (SESSION, 1), (SESSION, 3)],
    ids=["a session not open here", "a step already done", "a step ahead of the session"],
)
def test_pushes_for_anything_but_an_open_sessions_next_step_are_dropped(session: bytes, step: int) -> None:
    inbox = inbox_on_step(2)
    assert not inbox.deliver("peer-a", PushMeta(session_id=session, step=step), tensor(b"x"))


def test_a_closed_session_takes_no_more_pushes() -> None:
    inbox = inbox_on_step(2)
    inbox.close(SESSION)
    assert not inbox.is_open(SESSION)
    assert not inbox.deliver("peer-a", PushMeta(session_id=SESSION, step=2), tensor(b"x"))


def test_one_push_per_sender_and_step_and_a_bounded_number_of_senders() -> None:
    inbox = inbox_on_step(0)
    meta = PushMeta(session_id=SESSION, step=0)
    assert inbox.deliver("peer-a", meta, tensor(b"first"))
    assert not inbox.deliver("peer-a", meta, tensor(b"second"))
    accepted = [inbox.deliver(f"peer-{i}", meta, tensor(b"x")) for i in range(10)]
    assert accepted.count(True) == 3  # four senders at most, peer-a included
    assert asyncio.run(inbox.take(SESSION, 0, "peer-a", timeout=1.0)).buffer == b"first"


def test_a_push_that_never_comes_is_refused_with_the_peer_named() -> None:
    inbox = inbox_on_step(5)
    with pytest.raises(PushError, match="no input for step 5 was pushed by peer-a within 0 s"):
        asyncio.run(inbox.take(SESSION, 5, "peer-a", timeout=0.05))
    assert inbox.held == 0


def test_pushes_held_for_nobody_are_dropped_once_the_session_moves_on() -> None:
    inbox = inbox_on_step(5)
    assert inbox.deliver("stranger", PushMeta(session_id=SESSION, step=5), tensor(b"unasked"))
    assert inbox.held == 1
    inbox.track(SESSION, 6)
    assert inbox.held == 0
