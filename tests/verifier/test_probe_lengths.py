"""Probe lengths follow what clients ask for, as the ledger's receipts say, and no one key can skew them."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.session_lengths import ReceiptFacts, summarise_sessions
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.verifier.lengths import LengthDistribution, fallback_lengths
from swarmtrust.verifier.probes import ProbeConfig, Prober
from tests.builders import new_key, session_receipts
from tests.node.swarm_helpers import tiny

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

MAX_LENGTH = 1024  # positions of the tiny model

# --- the summary (pure) ---------------------------------------------------------------------------------

session = st.tuples(st.integers(1, 600), st.integers(1, 300))  # (prompt tokens, steps)


def facts(server: str, sessions: list[tuple[int, int]]) -> list[ReceiptFacts]:
    return [
        ReceiptFacts(server, f"{server}-{i}", step, f"1,{prompt if step == 0 else 1},64")
        for i, (prompt, steps) in enumerate(sessions)
        for step in range(steps)
    ]


@settings(max_examples=200, deadline=None)
@given(
    honest=st.lists(st.lists(session, min_size=1, max_size=8), min_size=1, max_size=5),
    flood=st.lists(session, min_size=1, max_size=200),
)
def test_one_key_moves_the_distribution_by_at_most_its_share_of_servers(
    honest: list[list[tuple[int, int]]], flood: list[tuple[int, int]]
) -> None:
    """Whatever sessions a key submits, and however many, the lengths only it ran weigh at most 1/servers."""
    receipts = [r for i, sessions in enumerate(honest) for r in facts(f"honest{i}", sessions)]
    summary = summarise_sessions("tiny", [*receipts, *facts("flooder", flood)])
    assert summary.servers == len(honest) + 1
    assert sum(s.weight for s in summary.shares) == pytest.approx(1.0)
    honest_pairs = {pair for sessions in honest for pair in sessions}
    flooded = sum(s.weight for s in summary.shares if (s.prompt_tokens, s.steps) not in honest_pairs)
    assert flooded <= 1 / summary.servers + 1e-9


def test_sessions_begun_before_the_window_or_with_odd_shapes_are_left_out() -> None:
    receipts = facts("a", [(12, 3)])
    receipts += [ReceiptFacts("a", "late", 5, "1,1,64"), ReceiptFacts("a", "odd", 0, "garbage")]
    summary = summarise_sessions("tiny", receipts)
    assert [(s.prompt_tokens, s.steps, s.weight) for s in summary.shares] == [(12, 3, 1.0)]
    assert summary.receipts_read == 5


# --- the distribution a prober draws from (pure) ----------------------------------------------------------


def test_draws_follow_the_summary_s_shares() -> None:
    shares = {(12, 8): 0.5, (40, 16): 0.3, (200, 64): 0.2}
    summary = {"shares": [{"prompt_tokens": p, "steps": n, "weight": w} for (p, n), w in shares.items()]}
    distribution = LengthDistribution.from_summary(summary, MAX_LENGTH)
    rng = random.Random(0)
    draws = Counter(
        (d.prompt_tokens, d.max_new_tokens) for d in (distribution.sample(rng, MAX_LENGTH) for _ in range(5000))
    )
    assert set(draws) == set(shares)
    observed = [draws[pair] for pair in shares]
    assert chisquare(observed, [5000 * w for w in shares.values()]).pvalue > 0.001


@pytest.mark.parametrize(
    "body",
    [{}, {"shares": None}, {"shares": [{"prompt_tokens": "x", "steps": 1, "weight": 1}]}, {"shares": [{"steps": 1}]}],
)
def test_a_body_that_is_not_a_summary_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(WireFormatError, match="not a session-length summary"):
        LengthDistribution.from_summary(body, MAX_LENGTH)


def test_lengths_the_model_cannot_run_are_left_out() -> None:
    summary = {
        "shares": [
            {"prompt_tokens": 1000, "steps": 100, "weight": 0.9},
            {"prompt_tokens": 5, "steps": 5, "weight": 0.1},
        ]
    }
    distribution = LengthDistribution.from_summary(summary, MAX_LENGTH)
    assert distribution.pairs == ((5, 5),)


@settings(max_examples=300, deadline=None)
@given(max_length=st.integers(2, 100_000), seed=st.integers(0, 2**32))
def test_the_fallback_always_fits_the_model(max_length: int, seed: int) -> None:
    lengths = fallback_lengths(random.Random(seed), max_length)
    assert lengths.prompt_tokens >= 1 and lengths.max_new_tokens >= 1
    assert lengths.prompt_tokens + lengths.max_new_tokens <= max_length


# --- a real ledger through the real REST API ---------------------------------------------------------------


@pytest.fixture
def ledger_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    with LocalSwarm(tmp_path) as swarm:
        yield swarm.start_api(db_url=db_url)


def submit_sessions(url: str, lengths: list[tuple[int, int]], model_id: str = "tiny") -> Any:
    server = new_key()
    wires = [
        r.to_wire()
        for prompt, steps in lengths
        for r in session_receipts(server, steps, input_shape=(1, prompt, 64), model_id=model_id)
    ]
    with LedgerApi(url, new_key()) as api:
        return api.request("POST", "/receipts", msgpack.packb(wires, use_bin_type=True), "application/x-msgpack").json()


class NoClient:
    """A prober that never runs a session here: only its lengths are read."""


def prober(url: str) -> Prober:
    def fetch(model_id: str) -> dict[str, Any]:
        with LedgerApi(url, new_key()) as api:
            return api.session_lengths(model_id)

    return Prober(
        NoClient(),  # type: ignore[arg-type]
        tiny(),
        None,  # type: ignore[arg-type]
        ProbeConfig(interval=1.0),
        fetch_lengths=fetch,
        max_length=MAX_LENGTH,
        rng=random.Random(1),
    )


def test_probe_lengths_follow_the_ledger_s_sessions_and_resist_a_flood(ledger_url: str) -> None:
    clients = [(12, 8)] * 20 + [(40, 16)] * 10  # what clients ran through one server
    assert submit_sessions(ledger_url, clients)["accepted"] == 8 * 20 + 16 * 10
    submit_sessions(ledger_url, [(7, 13)] * 60)  # a server flooding sessions of an odd length
    submit_sessions(ledger_url, [(50, 2)], model_id="other")  # another model's: not counted

    summary = LedgerApi(ledger_url, new_key()).session_lengths("tiny")
    assert (summary["sessions"], summary["servers"]) == (90, 2)
    weights = {(s["prompt_tokens"], s["steps"]): s["weight"] for s in summary["shares"]}
    assert weights == pytest.approx({(12, 8): 1 / 3, (40, 16): 1 / 6, (7, 13): 1 / 2})

    probing = prober(ledger_url)
    distribution = probing.lengths()
    assert distribution.observed
    rng = random.Random(2)
    draws = Counter(
        (d.prompt_tokens, d.max_new_tokens) for d in (distribution.sample(rng, MAX_LENGTH) for _ in range(3000))
    )
    assert set(draws) == set(weights)
    assert chisquare([draws[p] for p in weights], [3000 * w for w in weights.values()]).pvalue > 0.001


def test_a_model_without_sessions_falls_back_and_bad_queries_are_refused(ledger_url: str) -> None:
    probing = prober(ledger_url)
    assert not probing.lengths().observed
    lengths = probing.lengths().sample(random.Random(0), MAX_LENGTH)
    assert lengths.prompt_tokens + lengths.max_new_tokens <= MAX_LENGTH
    import httpx

    assert httpx.get(f"{ledger_url}/api/v1/session-lengths").status_code == 422
    assert (
        httpx.get(f"{ledger_url}/api/v1/session-lengths", params={"model": "tiny", "window": 10**7}).status_code == 422
    )
