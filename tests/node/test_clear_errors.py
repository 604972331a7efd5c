"""Operators' common mistakes end in one line that says what to do: an unreachable or malformed
``--initial-peers`` on ``node start`` and ``generate``, and ``--prompt`` with a model directory that has no
tokenizer. Real processes: the message is what a user sees, nothing else on stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swarmtrust.node.dht import SwarmJoinError, check_initial_peers, join_failure
from swarmtrust.node.model.source import resolve_model
from swarmtrust.node.model.tokenizer import NoTokenizerError, load_tokenizer
from swarmtrust.protocol.keys import generate_key_file

UNREACHABLE = "/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"  # port 1: nobody listens


def swarmtrust(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "swarmtrust", *args], capture_output=True, text=True, timeout=180, env=env
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("peer", "said"),
    [
        ("garbage", "is not a multiaddr"),
        ("/ip4/127.0.0.1/tcp/1", "lacks the peer's id"),
        ("/ip4/127.0.0.1/tcp/1/p2p/not-a-peer-id", "is not a multiaddr"),
    ],
)
def test_a_malformed_initial_peer_is_refused_before_any_daemon_starts(peer: str, said: str) -> None:
    with pytest.raises(SwarmJoinError, match=said):
        check_initial_peers([UNREACHABLE, peer])
    check_initial_peers([UNREACHABLE])  # a well-formed one passes


def test_a_daemon_failure_reads_as_advice() -> None:
    unreachable = join_failure("Daemon failed to start: 2026/12/04 failed to connect to bootstrap peers", ["/ip4/x"])
    assert unreachable.startswith("could not reach any of --initial-peers (/ip4/x)")
    other = join_failure("Daemon failed to start: listen tcp4 127.0.0.1:80: bind: permission denied", [])
    assert "bind: permission denied" in other and "--port" in other


@pytest.mark.processes
def test_node_start_with_an_unreachable_peer_says_so_in_one_line(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    generate_key_file(key)
    line = one_line_error(
        swarmtrust("node", "start", "--key", str(key), "--blocks", "0:2", "--initial-peers", UNREACHABLE)
    )
    assert line.startswith("error: could not reach any of --initial-peers") and UNREACHABLE in line


@pytest.mark.processes
def test_generate_with_an_unreachable_or_malformed_peer_says_so_in_one_line() -> None:
    base = ("generate", "--prompt-ids", "1,2", "--max-new-tokens", "1", "--initial-peers")
    assert one_line_error(swarmtrust(*base, UNREACHABLE)).startswith("error: could not reach any of --initial-peers")
    assert "lacks the peer's id" in one_line_error(swarmtrust(*base, "/ip4/127.0.0.1/tcp/1"))


@pytest.fixture
def without_tokenizer(tmp_path: Path) -> Path:
    """The tiny model's weights and config, without its tokenizer files."""
    source = resolve_model("tiny").directory
    directory = tmp_path / "no-tokenizer"
    directory.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, directory / name)
    return directory


def test_a_directory_without_a_tokenizer_is_named_with_what_to_pass(without_tokenizer: Path) -> None:
    with pytest.raises(NoTokenizerError, match=r"has no tokenizer .*--prompt-ids"):
        load_tokenizer(without_tokenizer)
    (without_tokenizer / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(NoTokenizerError, match=r"does not load .*--prompt-ids"):
        load_tokenizer(without_tokenizer)


@pytest.mark.processes
def test_generate_prompt_without_a_tokenizer_says_so_in_one_line(without_tokenizer: Path) -> None:
    base = ("generate", "--local", "--model", str(without_tokenizer), "--max-new-tokens", "2")
    line = one_line_error(swarmtrust(*base, "--prompt", "hello"))
    assert "has no tokenizer" in line and "--prompt-ids" in line
    tokens = swarmtrust(*base, "--prompt-ids", "1,2")  # token ids still work: tokens printed, no text
    assert tokens.returncode == 0 and len(tokens.stdout.split()) == 2, tokens.stderr


@pytest.mark.processes
def test_node_start_on_a_device_this_machine_lacks_says_so_in_one_line(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    generate_key_file(key)
    start = ("node", "start", "--key", str(key), "--blocks", "0:2", "--initial-peers", UNREACHABLE)
    line = one_line_error(swarmtrust(*start, "--device", "cuda:99"))
    assert line.startswith("error: --device 'cuda:99': this machine has") and "--device cpu" in line


@pytest.mark.processes
@pytest.mark.parametrize("spans", [(), ("--blocks", "0:4", "--num-blocks", "4")])
def test_node_start_needs_exactly_one_of_blocks_and_num_blocks(tmp_path: Path, spans: tuple[str, ...]) -> None:
    key = tmp_path / "node.key"
    generate_key_file(key)
    line = one_line_error(swarmtrust("node", "start", "--key", str(key), "--initial-peers", UNREACHABLE, *spans))
    assert line == "error: give exactly one of --blocks START:END or --num-blocks N"


@pytest.mark.processes
def test_node_start_refuses_a_batch_of_no_sessions_naming_the_flag(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    generate_key_file(key)
    start = ("node", "start", "--key", str(key), "--blocks", "0:2", "--initial-peers", UNREACHABLE)
    done = swarmtrust(*start, "--batch-sessions", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--batch-sessions'" in done.stderr and "greater than or equal to 1" in done.stderr
