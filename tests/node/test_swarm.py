"""A real swarm on loopback: DHT and servers as separate processes, the client in this process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from hivemind.p2p import P2PHandlerError, PeerID
from hivemind.proto import runtime_pb2

from swarmtrust.launcher import ChildProcess, LocalSwarm
from swarmtrust.node.block_rpc import (
    PUSH_HANDLER,
    OpenSession,
    PushMeta,
    PushTarget,
    StepMeta,
    StepReply,
    pack_metadata,
    tensor_to_proto,
    unpack_metadata,
)
from swarmtrust.node.client.causal_lm import DistributedModelForCausalLM
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.session import InferenceSession
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.client.transport import HopStream
from swarmtrust.node.frames import write_message
from swarmtrust.node.model.local import LocalModel
from swarmtrust.node.sampling import Sampling, StopRule
from swarmtrust.node.server.pushes import PUSH_WAIT_SECONDS
from swarmtrust.protocol.digests import tensor_digest
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import open_signed
from tests.node.swarm_helpers import (
    FP32_RELATIVE_TOLERANCE,
    PROMPT,
    local_reference,
    max_relative_error,
    relative_error,
    tiny,
)

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

STEPS = 12


@dataclass
class Running:
    swarm: LocalSwarm
    processes: dict[str, ChildProcess]
    info: dict[str, dict[str, Any]]  # each server's ready line


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """DHT + a (0:4), b (4:8), c (0:4): three honest servers, two of them for the same blocks."""
    tiny()  # build the model once before the servers race to
    with LocalSwarm(tmp_path_factory.mktemp("swarm")) as swarm:
        swarm.start_dht()
        servers = {
            name: swarm.launch_server(name, blocks) for name, blocks in (("a", "0:4"), ("b", "4:8"), ("c", "0:4"))
        }
        yield Running(swarm, servers, {name: LocalSwarm.ready(server) for name, server in servers.items()})


@pytest.fixture(scope="module")
def client(running: Running) -> Iterator[SwarmClient]:
    with SwarmClient([running.swarm.peer]) as client:
        client.wait_for_blocks("tiny", 8, min_servers=3)
        yield client


def test_generation_through_the_swarm_matches_the_local_model(client: SwarmClient) -> None:
    result = client.generate(tiny(), PROMPT, STEPS)
    reference = local_reference(STEPS)
    assert result.tokens == reference.tokens
    assert max_relative_error(result.final_hidden, reference.final_hidden) < FP32_RELATIVE_TOLERANCE
    assert result.failovers == [] and result.faults == []


def test_every_step_has_a_chained_receipt_from_each_hop(client: SwarmClient, running: Running) -> None:
    result = client.generate(tiny(), PROMPT, 6)
    keys = {info["public_key"] for info in running.info.values()}
    previous: dict[str, bytes] = {}
    for step, hops in enumerate(result.steps):
        assert [hop.blocks for hop in hops] == [(0, 4), (4, 8)]
        for hop in hops:
            assert hop.receipt is not None
            receipt: Receipt = hop.receipt.record
            assert receipt.server_key.hex() == hop.server_key and hop.server_key in keys
            assert receipt.step == step
            assert receipt.prev_receipt == previous.get(hop.server_key)
            assert receipt.input_shape == ((1, len(PROMPT), 64) if step == 0 else (1, 1, 64))
            previous[hop.server_key] = hop.receipt.digest
        assert hops[0].receipt.record.output_digest == hops[1].receipt.record.input_digest  # type: ignore[union-attr]


def test_a_batch_forward_pass_matches_the_local_model(client: SwarmClient) -> None:
    sequences = torch.tensor([PROMPT, PROMPT[::-1], [1, *range(40, 47)]])
    head = client.head(tiny())
    result = client.forward(tiny(), head.embed(sequences))
    with torch.inference_mode():
        reference = LocalModel(tiny()).model(input_ids=sequences, output_hidden_states=True).hidden_states[-1]
    assert relative_error(head.final_norm(result.output), reference) < FP32_RELATIVE_TOLERANCE
    assert [hop.blocks for hop in result.hops] == [(0, 4), (4, 8)] and result.faults == []
    assert all(hop.receipt is not None and hop.receipt.record.input_shape == (3, 8, 64) for hop in result.hops)


SAMPLED = Sampling(temperature=0.9, top_k=40, top_p=0.95, seed=1234)


def test_sampled_generation_matches_the_local_model_with_the_same_seed(client: SwarmClient) -> None:
    """One seed, one text, in-process or through the swarm: the chooser draws once per step from its own
    generator, and the logits agree."""
    result = client.generate(tiny(), PROMPT, STEPS, sampling=SAMPLED)
    local = LocalModel(tiny()).generate(PROMPT, STEPS, sampling=SAMPLED)
    assert result.tokens == local.tokens and result.stopped == local.stopped == "length"
    assert result.tokens != local_reference(STEPS).tokens, "sampling at 0.9 leaves the greedy path"
    other = LocalModel(tiny()).generate(PROMPT, STEPS, sampling=replace(SAMPLED, seed=99))
    assert other.tokens != local.tokens, "another seed, another text"


def test_streamed_tokens_arrive_one_by_one_and_stop_at_an_end_of_sequence_token(client: SwarmClient) -> None:
    local = LocalModel(tiny()).generate(PROMPT, 8, sampling=SAMPLED).tokens
    assert list(client.stream(tiny(), PROMPT, 8, sampling=SAMPLED)) == local
    stop = StopRule(token_ids=frozenset({local[2]}))  # as if the third token ended the sequence
    streamed = client.stream(tiny(), PROMPT, 8, sampling=SAMPLED, stop=stop)
    assert next(streamed) == local[0]
    assert list(streamed) == local[1 : local.index(local[2]) + 1]
    ended = client.generate(tiny(), PROMPT, 8, sampling=SAMPLED, stop=stop)
    assert ended.stopped == "eos" and ended.tokens == local[: local.index(local[2]) + 1]


def test_a_stream_left_early_ends_its_generation(client: SwarmClient) -> None:
    streamed = client.stream(tiny(), PROMPT, 50, sampling=SAMPLED)
    assert next(streamed) == LocalModel(tiny()).generate(PROMPT, 1, sampling=SAMPLED).tokens[0]
    streamed.close()  # the reader leaves: the generation stops at its next token instead of running 50 steps
    assert client.generate(tiny(), PROMPT, 2).tokens == local_reference(2).tokens, "the client still serves"


def test_the_cli_samples_the_same_text_as_local_with_a_seed(running: Running) -> None:
    ids = ",".join(map(str, PROMPT))
    base = [sys.executable, "-m", "swarmtrust", "generate", "--prompt-ids", ids, "--max-new-tokens", "8", "--json"]
    base += ["--temperature", "0.9", "--top-k", "40", "--top-p", "0.95", "--seed", "1234", "--ignore-eos"]
    remote = subprocess.run([*base, "--initial-peers", running.swarm.peer], capture_output=True, text=True, timeout=180)
    local = subprocess.run([*base, "--local"], capture_output=True, text=True, timeout=180)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    sampled = LocalModel(tiny()).generate(PROMPT, 8, sampling=SAMPLED).tokens
    assert json.loads(remote.stdout)["tokens"] == json.loads(local.stdout)["tokens"] == sampled


class Collected:
    """A transformers streamer (put/end) that keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[list[int]] = []
        self.ended = False

    def put(self, value: torch.Tensor) -> None:
        self.heard.append(value.flatten().tolist())

    def end(self) -> None:
        self.ended = True


def test_the_transformers_style_model_generates_what_local_does(running: Running) -> None:
    """``DistributedModelForCausalLM``: from_pretrained and generate with transformers' arguments, token for token
    the local model's, greedy and sampled with a seed; a streamer hears the prompt, then each token."""
    local = LocalModel(tiny())
    with DistributedModelForCausalLM.from_pretrained("tiny", initial_peers=[running.swarm.peer]) as model:
        prompt = torch.tensor([PROMPT])
        greedy = model.generate(prompt, max_new_tokens=8, eos_token_id=None)
        assert greedy.shape == (1, len(PROMPT) + 8)
        assert greedy[0, len(PROMPT) :].tolist() == local.generate(PROMPT, 8).tokens
        streamer = Collected()
        sampled = model.generate(
            prompt, max_new_tokens=8, do_sample=True, temperature=0.9, top_k=40, top_p=0.95, seed=1234,
            eos_token_id=None, streamer=streamer,
        )  # fmt: skip
        want = local.generate(PROMPT, 8, sampling=SAMPLED).tokens
        assert sampled[0, len(PROMPT) :].tolist() == want
        assert streamer.heard == [PROMPT, *([token] for token in want)] and streamer.ended
        assert all(result.steps and result.faults == [] for result in model.last_results), "receipts checked"
        logits = model(prompt).logits
        assert logits.shape == (1, len(PROMPT), model.config.vocab_size)
        assert int(logits[0, -1].argmax()) == greedy[0, len(PROMPT)], "a forward pass's last logits: the greedy token"
        with pytest.raises(NotImplementedError, match="beam search"):
            model.generate(prompt, max_new_tokens=2, num_beams=2)
        with pytest.raises(TypeError, match="does not take output_scores"):
            model.generate(prompt, max_new_tokens=2, output_scores=True)


def test_the_transformers_style_model_takes_a_padded_batch(running: Running) -> None:
    """Rows of a batch are sessions of their own; left padding (attention_mask 0) is skipped, and the rows come
    back padded on the right, as transformers returns them."""
    short = PROMPT[3:]
    batch = torch.tensor([PROMPT, [0, 0, 0, *short]])
    mask = torch.tensor([[1] * len(PROMPT), [0, 0, 0, *[1] * len(short)]])
    local = LocalModel(tiny())
    with DistributedModelForCausalLM.from_pretrained("tiny", initial_peers=[running.swarm.peer]) as model:
        out = model.generate(batch, attention_mask=mask, max_new_tokens=4, eos_token_id=None)
    assert out[0, len(PROMPT) :].tolist() == local.generate(PROMPT, 4).tokens
    assert out[1, len(PROMPT) :].tolist() == local.generate(short, 4).tokens


def test_the_cli_generates_a_batch_of_prompts_as_local_does(running: Running) -> None:
    """Repeated --prompt-ids: one session per prompt, one JSON line each, the seed plus each prompt's place."""
    base = [sys.executable, "-m", "swarmtrust", "generate", "--max-new-tokens", "5", "--json", "--ignore-eos"]
    base += ["--prompt-ids", ",".join(map(str, PROMPT)), "--prompt-ids", "1,2,3", "--temperature", "0.9"]
    base += ["--seed", "1234"]
    remote = subprocess.run([*base, "--initial-peers", running.swarm.peer], capture_output=True, text=True, timeout=180)
    local = subprocess.run([*base, "--local"], capture_output=True, text=True, timeout=180)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    remote_tokens = [json.loads(line)["tokens"] for line in remote.stdout.splitlines()]
    assert remote_tokens == [json.loads(line)["tokens"] for line in local.stdout.splitlines()]
    model = LocalModel(tiny())
    assert remote_tokens == [
        model.generate(PROMPT, 5, sampling=Sampling(temperature=0.9, seed=1234)).tokens,
        model.generate([1, 2, 3], 5, sampling=Sampling(temperature=0.9, seed=1235)).tokens,
    ]


def test_the_cli_generates_the_same_tokens_as_local(running: Running) -> None:
    ids = ",".join(map(str, PROMPT))
    base = [sys.executable, "-m", "swarmtrust", "generate", "--prompt-ids", ids, "--max-new-tokens", "8", "--json"]
    remote = subprocess.run([*base, "--initial-peers", running.swarm.peer], capture_output=True, text=True, timeout=180)
    local = subprocess.run([*base, "--local"], capture_output=True, text=True, timeout=180)
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, local.stderr
    remote_report, local_report = json.loads(remote.stdout), json.loads(local.stdout)
    assert remote_report["tokens"] == local_report["tokens"] == local_reference(8).tokens
    first_hop = remote_report["steps"][0]["hops"][0]
    assert first_hop["blocks"] == [0, 4] and len(first_hop["receipt"]["input_digest"]) == 64


def test_every_p2p_daemon_listens_on_loopback_with_nat_helpers_off(running: Running) -> None:
    daemons = []
    for process in running.swarm.processes:
        for pid in process.group():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline and cmdline[0].endswith(b"p2pd"):
                daemons.append(
                    {arg.decode().split("=", 1)[0]: arg.decode().split("=", 1)[-1] for arg in cmdline[1:] if arg}
                )
    assert len(daemons) >= 4  # the bootstrap and three servers, at least one daemon each
    for flags in daemons:
        assert flags["-hostAddrs"].startswith("/ip4/127.0.0.1/tcp/")
        assert (flags["-natPortMap"], flags["-autonat"], flags["-relay"], flags["-autoRelay"]) == ("0", "0", "0", "0")


def _request(
    step: int, hidden: torch.Tensor, session: bytes, push_to: PushTarget | None = None, **open_fields: Any
) -> runtime_pb2.ExpertRequest:
    opened = None
    if open_fields is not None and step == 0 and open_fields.get("open", True):
        fields = {"model_id": "tiny", "start": 0, "end": 4, "session_id": session, "client_nonce": bytes(16)}
        fields |= {k: v for k, v in open_fields.items() if k != "open"}
        opened = OpenSession(**fields)
    proto, _ = tensor_to_proto(hidden)
    meta = StepMeta(session_id=session, step=step, open=opened, push_to=push_to)
    return runtime_pb2.ExpertRequest(tensors=[proto], metadata=pack_metadata(meta))


_ELSEWHERE = PushTarget(peer_id="12D3KooWD6EupRiRRjHVsLRXy3uKFSysTpvrxz5obUHRBnGvj49V", session_id=bytes(16), step=0)


BAD_REQUESTS = {
    "push of a prefill": (
        [_request(0, torch.zeros(1, 3, 64), bytes(16), push_to=_ELSEWHERE)],
        "only one-token steps are pushed, this one has 3 tokens",
    ),
    "pushed step with a tensor": (
        [
            _request(0, torch.zeros(1, 1, 64), bytes(16)),
            runtime_pb2.ExpertRequest(
                tensors=[tensor_to_proto(torch.zeros(1, 1, 64))[0]],
                metadata=pack_metadata(StepMeta(session_id=bytes(16), step=1, pushed_by=_ELSEWHERE.peer_id)),
            ),
        ],
        "a pushed step carries no tensor",
    ),
    "wrong hidden size": ([_request(0, torch.zeros(1, 1, 32), bytes(16))], "hidden states must be (batch, tokens, 64)"),
    "wrong dtype": ([_request(0, torch.zeros(1, 1, 64, dtype=torch.bfloat16), bytes(16))], "must be float32"),
    "batch over the limit": ([_request(0, torch.zeros(9, 1, 64), bytes(16))], "batch of 9"),
    "length over the limit": (
        [_request(0, torch.zeros(1, 1, 64), bytes(16), max_length=100_000)],
        "over this server's limit",
    ),
    "session too long": ([_request(0, torch.zeros(1, 5, 64), bytes(16), max_length=4)], "over its max_length 4"),
    "blocks not served": ([_request(0, torch.zeros(1, 1, 64), bytes(16), end=6)], "not within the served blocks"),
    "other model": ([_request(0, torch.zeros(1, 1, 64), bytes(16), model_id="llama-70b")], "serves model 'tiny'"),
    "unknown session": ([_request(3, torch.zeros(1, 1, 64), bytes(16), open=False)], "unknown session"),
    "step out of order": (
        [_request(0, torch.zeros(1, 1, 64), bytes(16)), _request(2, torch.zeros(1, 1, 64), bytes(16), open=False)],
        "step 2 is out of order: expected step 1",
    ),
}


def _in_session(requests: list[runtime_pb2.ExpertRequest], session: bytes) -> list[runtime_pb2.ExpertRequest]:
    """``requests`` moved to session ``session`` (their open, if any, too)."""
    moved = []
    for request in requests:
        meta = unpack_metadata(request.metadata, StepMeta)
        opened = meta.open.model_copy(update={"session_id": session}) if meta.open else None
        meta = meta.model_copy(update={"session_id": session, "open": opened})
        moved.append(runtime_pb2.ExpertRequest(tensors=request.tensors, metadata=pack_metadata(meta)))
    return moved


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_are_refused_clearly_and_the_server_keeps_serving(
    client: SwarmClient, running: Running, case: str
) -> None:
    requests, message = BAD_REQUESTS[case]
    requests = _in_session(requests, os.urandom(16))  # a server opens a session id once, ever: each case its own
    peer = running.info["a"]["peer_id"]

    async def send_all() -> None:
        stream = HopStream(client.p2p, peer)
        try:
            for request in requests:
                await stream.step(request, timeout=30)
        finally:
            await stream.close()

    with pytest.raises(P2PHandlerError, match=re.escape(message)):
        client.run(send_all())
    good = [server for server in client.servers("tiny", 8) if server.key == running.info["a"]["public_key"]]
    good += [server for server in client.servers("tiny", 8) if server.start == 4]
    assert client.generate(tiny(), PROMPT, 3, servers=good).tokens == local_reference(3).tokens


def test_decode_steps_are_pushed_by_server_to_server(client: SwarmClient) -> None:
    result = client.generate(tiny(), PROMPT, 6)
    assert result.tokens == local_reference(6).tokens
    assert [[hop.pushed for hop in hops] for hops in result.steps] == [[False, False]] + [[False, True]] * 5
    assert all(
        hop["pushed"] == (step > 0 and i == 1)
        for step, hops in enumerate(result.to_json()["steps"])
        for i, hop in enumerate(hops["hops"])
    )


def test_each_hop_of_a_step_says_how_long_its_client_took_to_check_the_reply(client: SwarmClient) -> None:
    result = client.generate(tiny(), PROMPT, 3)
    for hops, hops_json in zip(result.steps, result.to_json()["steps"], strict=True):
        # a receipt's signature alone takes tens of µs to check; the check comes after the reply came, apart from
        # the hop's own time
        assert all(0 < hop.check_seconds < 1 and hop.receipt is not None for hop in hops)
        assert [hop["check_seconds"] for hop in hops_json["hops"]] == [round(h.check_seconds, 6) for h in hops]


def test_a_chain_of_three_servers_pushes_through_the_middle_one(client: SwarmClient, running: Running) -> None:
    launched = [
        running.swarm.launch_server(name, blocks) for name, blocks in (("d", "0:2"), ("e", "2:5"), ("f", "5:8"))
    ]
    try:
        keys = [LocalSwarm.ready(server)["public_key"] for server in launched]
        servers = [server for server in client.wait_for_blocks("tiny", 8, min_servers=6) if server.key in keys]
        result = client.generate(tiny(), PROMPT, 5, servers=servers)
    finally:
        for server in launched:
            server.stop()
    assert result.tokens == local_reference(5).tokens and result.faults == []
    assert [[hop.blocks for hop in hops] for hops in result.steps] == [[(0, 2), (2, 5), (5, 8)]] * 5
    assert [[hop.pushed for hop in hops] for hops in result.steps] == [[False] * 3] + [[False, True, True]] * 4


def test_a_push_that_goes_astray_costs_a_restart_but_no_fault(
    client: SwarmClient, running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first server pushes step 1 to a session the second does not have: the second times out, through
    no fault of its own. The client restarts it, replays its history and goes on hop by hop, unpushed."""
    aim = InferenceSession._push_target

    def astray(session: InferenceSession, index: int) -> PushTarget | None:
        target = aim(session, index)
        return None if target is None else target.model_copy(update={"session_id": bytes(16)})

    monkeypatch.setattr(InferenceSession, "_push_target", astray)
    servers = [s for s in client.servers("tiny", 8) if s.key in {running.info[n]["public_key"] for n in "ab"}]
    result = client.generate(tiny(), PROMPT, 5, servers=servers)
    assert result.tokens == local_reference(5).tokens
    assert result.faults == [] and result.failovers == []
    assert not any(hop.pushed for hops in result.steps for hop in hops)
    (catch_up,) = result.to_json()["replays"]
    assert catch_up["server_key"] == running.info["b"]["public_key"] and catch_up["receipt"]["step"] == 0


def test_a_client_that_does_not_push_sends_every_hop_its_input(running: Running) -> None:
    with SwarmClient([running.swarm.peer], config=ClientConfig(push=False)) as direct:
        direct.wait_for_blocks("tiny", 8, min_servers=3)
        result = direct.generate(tiny(), PROMPT, 4)
    assert result.tokens == local_reference(4).tokens
    assert not any(hop.pushed for hops in result.steps for hop in hops)


def _push_session(client: SwarmClient, running: Running, push_sender: str) -> tuple[list[Receipt], bytes]:
    """Open a session on server b (blocks 4:8), push it step 1's input from this test's own peer, and send
    step 1 naming ``push_sender`` as the peer pushing it. Returns both steps' receipts and the pushed bytes."""
    peer_b = running.info["b"]["peer_id"]
    session = os.urandom(16)  # fresh per call: a server never opens one id twice
    pushed, pushed_bytes = tensor_to_proto(torch.randn(1, 1, 64))

    async def scenario() -> list[runtime_pb2.ExpertResponse]:
        stream = HopStream(client.p2p, peer_b)
        try:
            replies = [await stream.step(_request(0, torch.randn(1, 3, 64), session, start=4, end=8), timeout=30)]
            _, _, push = await client.p2p.call_binary_stream_handler(PeerID.from_base58(peer_b), PUSH_HANDLER)
            meta = pack_metadata(PushMeta(session_id=session, step=1))
            write_message(push, runtime_pb2.ExpertRequest(tensors=[pushed], metadata=meta))
            await push.drain()
            step_1 = StepMeta(session_id=session, step=1, pushed_by=push_sender)
            replies.append(await stream.step(runtime_pb2.ExpertRequest(metadata=pack_metadata(step_1)), timeout=30))
            push.close()
            return replies
        finally:
            await stream.close()

    replies = client.run(scenario())
    receipts = [open_signed(Receipt, unpack_metadata(r.metadata, StepReply).receipt or b"").record for r in replies]
    return receipts, pushed_bytes


def test_a_server_takes_a_pushed_input_from_the_peer_its_client_named(client: SwarmClient, running: Running) -> None:
    receipts, pushed_bytes = _push_session(client, running, push_sender=client.p2p.peer_id.to_base58())
    assert [r.step for r in receipts] == [0, 1]
    assert receipts[1].input_digest == tensor_digest("float32", (1, 1, 64), pushed_bytes)


def test_a_push_from_a_peer_other_than_the_named_one_is_not_taken(client: SwarmClient, running: Running) -> None:
    server_a = running.info["a"]["peer_id"]  # named, but never pushes: only this test's own peer does
    with pytest.raises(
        P2PHandlerError,
        match=re.escape(f"no input for step 1 was pushed by {server_a} within {PUSH_WAIT_SECONDS:.0f} s"),
    ):
        _push_session(client, running, push_sender=server_a)
    assert client.generate(tiny(), PROMPT, 3).tokens == local_reference(3).tokens  # b keeps serving


def test_a_server_killed_mid_generation_is_replaced_and_the_tokens_stay_the_same(
    client: SwarmClient, running: Running
) -> None:
    """Runs last in this module: it kills one of the servers for blocks 0:4."""
    processes: dict[str, ChildProcess] = running.processes
    by_key = {info["public_key"]: name for name, info in running.info.items()}
    killed: list[str] = []

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "step" and data["step"] == 4:
            victim = by_key[data["route"][0][0]]  # whichever server carries blocks 0:4 now
            processes[victim].kill_hard()
            killed.append(victim)

    result = client.generate(tiny(), PROMPT, STEPS, on_event=on_event)
    assert killed and killed[0] in {"a", "c"}
    assert result.tokens == local_reference(STEPS).tokens
    (failover,) = result.failovers
    assert failover.failed_server == running.info[killed[0]]["public_key"]
    assert failover.step == 5 and failover.blocks == (0, 4)
    assert failover.replayed_tokens == len(PROMPT) + 4
    assert failover.replacements == (running.info["c" if killed[0] == "a" else "a"]["public_key"],)
    report = result.to_json()
    assert report["failovers"][0]["failed_server"] == failover.failed_server
    # The replay to the replacement is work with a checked receipt of its own: the whole history in one step.
    # (The server for blocks 4:8 was waiting on the dead server's push: it restarts and replays too.)
    replay, *downstream = report["replays"]
    assert [r["blocks"] for r in downstream] == [[4, 8]] and downstream[0]["receipt"]["step"] == 0
    assert replay["server_key"] == failover.replacements[0] and replay["blocks"] == [0, 4]
    assert replay["receipt"] is not None and replay["receipt"]["step"] == 0  # step 0 of its new session
    assert max_relative_error(result.final_hidden, local_reference(STEPS).final_hidden) < FP32_RELATIVE_TOLERANCE
