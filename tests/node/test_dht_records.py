"""Signed server announcements in the DHT: the validator keeps only genuine, correctly bound records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hivemind.dht.crypto import DHTRecord
from hivemind.dht.routing import DHTID
from hivemind.utils.serializer import MSGPackSerializer

from swarmtrust.node.client.discovery import parse_block_entries
from swarmtrust.node.dht import SignedRecordValidator, from_dht_value, start_dht, to_dht_value
from swarmtrust.node.network import NetworkOptions
from swarmtrust.protocol.announcements import ServerAnnouncement, block_key
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.signing import sign_record
from tests.builders import new_key

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

SERVER = new_key()
MALLORY = new_key()


def announcement(key: Any = SERVER, **changes: Any) -> ServerAnnouncement:
    now = time.time_ns() // 1_000_000
    fields: dict[str, Any] = {
        "server_key": bytes(key.verify_key),
        "peer_id": "12D3KooWExample",
        "name": "<script>alert(1)</script>",
        "model_id": "tiny",
        "block_start": 2,
        "block_end": 4,
        "layer_digests": (bytes(32), bytes([1]) * 32),
        "dtype": "float32",
        "throughput": 100.0,
        "state": "online",
        "announced_ms": now,
        "expires_ms": now + 30_000,
    }
    return ServerAnnouncement(**(fields | changes))


def dht_record(
    value: bytes, *, key: str = "tiny.2", subkey: str | None = None, expiration: float | None = None
) -> DHTRecord:
    return DHTRecord(
        key=DHTID.generate(source=key).to_bytes(),
        subkey=MSGPackSerializer.dumps(subkey if subkey is not None else SERVER.verify_key.encode().hex()),
        value=MSGPackSerializer.dumps(value),
        expiration_time=expiration if expiration is not None else time.time() + 10,
    )


def signed_value(record: ServerAnnouncement | None = None, key: Any = SERVER) -> bytes:
    return to_dht_value("announce", sign_record(record or announcement(key), key))


def test_a_genuine_announcement_is_accepted_and_round_trips() -> None:
    value = signed_value()
    assert SignedRecordValidator().validate(dht_record(value))
    assert SignedRecordValidator().validate(dht_record(value, key="tiny.3"))
    kind, signed = from_dht_value(value)
    assert kind == "announce" and signed.signer == bytes(SERVER.verify_key)
    assert (signed.record.block_start, signed.record.block_end, signed.record.name) == (
        2,
        4,
        "<script>alert(1)</script>",
    )


@pytest.mark.parametrize(
    "case",
    ["unsigned", "forged", "garbage", "other subkey", "other block", "other model", "longer expiry", "unknown kind"],
)
def test_the_validator_drops_what_is_not_genuine(case: str) -> None:
    genuine = sign_record(announcement(), SERVER)
    values = {
        "unsigned": pack(["announce", genuine.body, bytes(64)]),
        "forged": pack(["announce", genuine.body, MALLORY.sign(ServerAnnouncement.DOMAIN + genuine.body).signature]),
        "garbage": b"\x93not a record",
        "unknown kind": pack(["reputation", genuine.body, genuine.signature]),
    }
    record = {
        "other subkey": dht_record(signed_value(), subkey=MALLORY.verify_key.encode().hex()),
        "other block": dht_record(signed_value(), key="tiny.7"),
        "other model": dht_record(signed_value(), key="llama.2"),
        "longer expiry": dht_record(signed_value(), expiration=time.time() + 3600),
    }.get(case) or dht_record(values[case])
    assert not SignedRecordValidator().validate(record)


def test_announcements_are_checked_for_consistency() -> None:
    with pytest.raises(WireFormatError, match="one layer digest per block"):
        announcement(layer_digests=(bytes(32),))
    with pytest.raises(WireFormatError, match="expires before"):
        announcement(expires_ms=0)
    with pytest.raises(WireFormatError, match="state"):
        announcement(state="maybe")
    assert announcement().dht_keys() == [block_key("tiny", 2), block_key("tiny", 3)]
    assert announcement().weights_digest(3, 4) != announcement().weights_digest(2, 4)
    with pytest.raises(SignatureError):
        from_dht_value(pack(["announce", sign_record(announcement(), SERVER).body, bytes(64)]))


@pytest.fixture
def two_peers() -> Iterator[tuple[Any, Any, Any]]:
    """An honest bootstrap and an honest reader with the validator, and a 'mallory' peer without it."""
    network = NetworkOptions()
    honest = start_dht([], network)
    peers = [str(a) for a in honest.get_visible_maddrs()]
    reader = start_dht(peers, network, client_mode=True)
    from hivemind import DHT

    mallory = DHT(initial_peers=peers, start=True, **network.dht_kwargs())  # accepts anything
    try:
        yield honest, reader, mallory
    finally:
        for dht in (mallory, reader, honest):
            dht.shutdown()


def test_only_genuine_announcements_survive_a_real_dht(two_peers: tuple[Any, Any, Any]) -> None:
    honest, reader, mallory = two_peers
    key = block_key("tiny", 2)
    good = announcement()
    genuine = signed_value(good)
    expires = good.expires_ms / 1000
    assert honest.store(key, genuine, expires, subkey=SERVER.verify_key.encode().hex())
    forged = pack(
        ["announce", sign_record(announcement(block_end=3, layer_digests=(bytes(32),)), SERVER).body, bytes(64)]
    )
    mallory.store(key, forged, expires, subkey=MALLORY.verify_key.encode().hex())
    mallory.store(key, signed_value(announcement(MALLORY), MALLORY), expires, subkey=SERVER.verify_key.encode().hex())

    entries = reader.get(key, latest=True)
    assert entries is not None
    found = parse_block_entries(entries, "tiny", 2, time.time_ns() // 1_000_000)
    assert [a.server_key for a in found] == [good.server_key]
    for subkey, item in entries.value.items():
        _, signed = from_dht_value(item.value)  # whatever reached the reader verifies
        assert subkey == signed.signer.hex()


def test_network_options_stay_on_loopback() -> None:
    local = NetworkOptions().dht_kwargs()
    assert local == {
        "host_maddrs": ["/ip4/127.0.0.1/tcp/0"],
        "nat_port_map": False,
        "auto_nat": False,
        "use_relay": False,
        "use_auto_relay": False,
    }
    public = NetworkOptions(host="0.0.0.0", port=31337).dht_kwargs()
    assert public["host_maddrs"] == ["/ip4/0.0.0.0/tcp/31337"]
    assert public["nat_port_map"] and public["auto_nat"] and public["use_relay"]
    assert not NetworkOptions(host="0.0.0.0", nat_port_map=False).dht_kwargs()["nat_port_map"]
    assert NetworkOptions(host="::1").dht_kwargs()["host_maddrs"] == ["/ip6/::1/tcp/0"]
    assert not NetworkOptions(host="localhost").dht_kwargs()["auto_nat"]


def test_a_reputation_snapshot_round_trips_and_is_bound_to_its_ledger_key() -> None:
    from swarmtrust.protocol.reputation_snapshot import (
        ReputationSnapshot,
        SnapshotEntry,
        pack_entries,
        pack_newcomer,
        snapshot_key,
    )

    ledger = new_key()
    entries = {
        bytes(SERVER.verify_key).hex(): SnapshotEntry("trusted", 40.0, 1.5, 0.05, bonded=True),
        bytes(MALLORY.verify_key).hex(): SnapshotEntry("quarantined", 3.0, 6.0, 1.0),
    }
    now = time.time_ns() // 1_000_000
    snapshot = ReputationSnapshot(
        ledger_key=bytes(ledger.verify_key), model_id="tiny", entries=pack_entries(entries),
        newcomer=pack_newcomer(SnapshotEntry("newcomer", 1.6, 0.4, 1.0)), made_ms=now, expires_ms=now + 60_000,
        checkpoint_number=0, checkpoint=None,
    )  # fmt: skip
    value = to_dht_value("reputation", sign_record(snapshot, ledger))
    kind, signed = from_dht_value(value)
    assert kind == "reputation" and signed.record.servers() == entries, "bonded or not, as the ledger said"
    good = dht_record(value, key=snapshot_key("tiny"), subkey=bytes(ledger.verify_key).hex())
    assert SignedRecordValidator().validate(good)
    posing = dht_record(value, key=snapshot_key("tiny"), subkey=bytes(MALLORY.verify_key).hex())
    assert not SignedRecordValidator().validate(posing), "only under the signing ledger's own subkey"
    with pytest.raises(WireFormatError, match="packed entries"):
        ReputationSnapshot(bytes(32), "tiny", b"\x00" * 10, snapshot.newcomer, now, now + 1, 0, None)
