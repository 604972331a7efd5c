"""Clients route only to servers announcing a dtype the model allows; when that leaves no chain, they say why."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.chain_search import NoRouteError
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.reputation import ReputationBook, ServerTrust
from swarmtrust.node.client.route_policy import Router
from swarmtrust.protocol.beta import Beta
from swarmtrust.protocol.model_records import SERVING_DTYPES
from swarmtrust.protocol.serving_dtypes import RegistrationHistory, routing_dtypes
from tests.node.client.test_route_policy import server

TRUSTED = ServerTrust("trusted", Beta(200.0, 1.0), 0.05)


def in_dtype(info: ServerInfo, dtype: str) -> ServerInfo:
    return ServerInfo(info.announcement.replace(dtype=dtype))


def router(allowed: frozenset[str] | None, servers: list[ServerInfo], admitted: tuple[str, ...] = ()) -> Router:
    dtypes = None
    if allowed is not None:
        dtypes = routing_dtypes(RegistrationHistory.allowing("tiny", *sorted(allowed)), "float32", admitted)
    book = ReputationBook({s.key: TRUSTED for s in servers}, TRUSTED, "test")
    config = ClientConfig(enforce_bonds=False)
    return Router(config, LatencyTracker(0.3), BanList(1.0, 60.0), book, random.Random(0), dtypes=dtypes)


def test_a_faster_server_in_a_looser_dtype_is_never_chosen() -> None:
    fast = in_dtype(server("fast", 0, 8, throughput=50_000.0), "bfloat16")
    slow = server("slow", 0, 8)
    chosen = router(frozenset({"float32"}), [fast, slow]).chain([fast, slow], 0, 8, explore=True)
    assert [hop.candidate.key for hop in chosen] == [slow.key]


def test_no_chain_because_of_dtype_names_the_servers_dtype_and_the_allowed_ones() -> None:
    loose = [in_dtype(server("a", 0, 4), "bfloat16"), in_dtype(server("b", 4, 8), "bfloat16")]
    with pytest.raises(NoRouteError) as refused:
        router(frozenset({"float32"}), loose).chain(loose, 0, 8, explore=False)
    message = str(refused.value)
    assert "no usable server covers block 0" in message
    assert "2 serve bfloat16" in message and "this model allows float32 (registered at the ledger)" in message
    assert "--allow-dtype bfloat16" in message


def test_an_explicit_override_admits_another_dtype() -> None:
    loose = [in_dtype(server("a", 0, 8), "bfloat16")]
    chosen = router(frozenset({"float32"}), loose, admitted=("bfloat16",)).chain(loose, 0, 8, explore=False)
    assert [hop.candidate.key for hop in chosen] == [loose[0].key]


def test_a_missing_block_is_not_blamed_on_dtype() -> None:
    only = [server("a", 0, 4)]
    with pytest.raises(NoRouteError) as refused:
        router(frozenset({"float32"}), only).chain(only, 0, 8, explore=False)
    assert "dtype" not in str(refused.value)


@settings(max_examples=200, deadline=None)
@given(
    allowed=st.frozensets(st.sampled_from(SERVING_DTYPES), min_size=1),
    announced=st.lists(st.sampled_from(SERVING_DTYPES), min_size=1, max_size=6),
)
def test_every_hop_of_any_chain_serves_an_allowed_dtype(allowed: frozenset[str], announced: list[str]) -> None:
    servers = [in_dtype(server(f"s{i}", 0, 8, throughput=100.0 + i), d) for i, d in enumerate(announced)]
    policy = router(allowed, servers)
    try:
        chain = policy.chain(servers, 0, 8, explore=True)
    except NoRouteError as exc:
        assert not set(announced) & allowed
        assert "Servers left out for their dtype" in str(exc)
        return
    by_key = {s.key: s for s in servers}
    assert all(by_key[hop.candidate.key].announcement.dtype in allowed for hop in chain)
