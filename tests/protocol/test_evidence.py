from __future__ import annotations

import pytest

from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.evidence import Evidence, EvidenceError, evidence_digest, verify_evidence
from tests.builders import evidence_session, new_key

SERVER, OTHER = new_key(), new_key()


def test_genuine_evidence_verifies_and_round_trips() -> None:
    receipts, evidence = evidence_session(SERVER, 5)
    encoded = evidence.encode()
    assert Evidence.decode(encoded) == evidence
    assert [r.digest for r in verify_evidence(evidence, bytes(SERVER.verify_key))] == [r.digest for r in receipts]
    changed = bytearray(encoded)
    changed[-1] ^= 1
    assert evidence_digest(bytes(changed)) != evidence_digest(encoded)


def _swap(evidence: Evidence, field: str, index: int, value: bytes) -> Evidence:
    items = list(getattr(evidence, field))
    items[index] = value
    return Evidence(**{**evidence.__dict__, field: tuple(items)})


@pytest.mark.parametrize(
    ("change", "reason", "step"),
    [
        (lambda e: _swap(e, "outputs", 2, bytes(len(e.outputs[2]))), "output_mismatch", 2),
        (lambda e: _swap(e, "inputs", 0, e.inputs[0][:-4]), "input_mismatch", 0),
        (lambda e: _swap(e, "receipts", 1, e.receipts[1][:-1] + bytes([e.receipts[1][-1] ^ 1])), "bad_receipt", 1),
        (
            lambda e: Evidence(
                e.receipts[:1] + e.receipts[2:], e.inputs[:1] + e.inputs[2:], e.outputs[:1] + e.outputs[2:]
            ),
            "gap",
            2,
        ),
    ],
)
def test_evidence_that_does_not_match_the_signed_digests_is_named(change, reason: str, step: int) -> None:  # type: ignore[no-untyped-def]
    _, evidence = evidence_session(SERVER, 4)
    with pytest.raises(EvidenceError) as caught:
        verify_evidence(change(evidence), bytes(SERVER.verify_key))
    assert (caught.value.reason, caught.value.step) == (reason, step)


def test_evidence_of_another_server_or_session_is_refused() -> None:
    _, evidence = evidence_session(SERVER, 2)
    with pytest.raises(EvidenceError) as other_server:
        verify_evidence(evidence, bytes(OTHER.verify_key))
    assert other_server.value.reason == "wrong_server"
    _, second = evidence_session(SERVER, 2)
    mixed = Evidence(evidence.receipts[:1] + second.receipts[1:], evidence.inputs[:1] + second.inputs[1:],
                     evidence.outputs[:1] + second.outputs[1:])  # fmt: skip
    with pytest.raises(EvidenceError) as mixing:
        verify_evidence(mixed, bytes(SERVER.verify_key))
    assert mixing.value.reason == "mixed_sessions"


def test_malformed_bundles_are_wire_format_errors() -> None:
    from swarmtrust.protocol.canonical import pack

    for bad in (
        pack([2, [], [], []]),
        pack([1, [b"r"], [b"i"], []]),
        pack([1, [], [], []]),
        pack([1, ["r"], [b"i"], [b"o"]]),
    ):
        with pytest.raises(WireFormatError):
            Evidence.decode(bad)


def test_evidence_compares_only_the_steps_it_holds_outputs_for() -> None:
    _, evidence = evidence_session(SERVER, 6)
    sparse = Evidence(
        evidence.receipts, evidence.inputs, tuple(o if i in (0, 3) else None for i, o in enumerate(evidence.outputs))
    )
    decoded = Evidence.decode(sparse.encode())
    assert decoded == sparse and decoded.compared == (0, 3)
    assert len(verify_evidence(decoded, bytes(SERVER.verify_key))) == 6


def test_a_bundle_that_does_not_start_at_the_sessions_first_step_is_refused() -> None:
    _, evidence = evidence_session(SERVER, 5)
    suffix = Evidence(evidence.receipts[1:], evidence.inputs[1:], evidence.outputs[1:])
    with pytest.raises(EvidenceError) as caught:
        verify_evidence(Evidence.decode(suffix.encode()), bytes(SERVER.verify_key))
    assert caught.value.reason == "not_from_start"


def test_bundles_of_the_first_format_still_decode() -> None:
    from swarmtrust.protocol.canonical import pack

    _, evidence = evidence_session(SERVER, 3)
    old = pack([1, list(evidence.receipts), list(evidence.inputs), list(evidence.outputs)])
    assert Evidence.decode(old) == evidence


@pytest.mark.parametrize("compared", [[], [1, 0], [0, 0], [5], [-1], ["0"]])
def test_compared_steps_must_be_distinct_ascending_and_within_the_bundle(compared: list[object]) -> None:
    from swarmtrust.protocol.canonical import pack
    from swarmtrust.protocol.tensor_pack import pack_tensors

    _, evidence = evidence_session(SERVER, 3)
    outputs = [evidence.outputs[0]] * len(compared)
    bad = pack([2, list(evidence.receipts), pack_tensors(evidence.inputs, 4), compared, pack_tensors(outputs, 4)])
    with pytest.raises(WireFormatError):
        Evidence.decode(bad)


def test_a_bundle_may_compare_no_more_steps_than_a_client_draws() -> None:
    from swarmtrust.protocol.evidence import MAX_COMPARED_STEPS

    steps = MAX_COMPARED_STEPS + 1
    _, evidence = evidence_session(SERVER, steps, hidden=4, first_tokens=1)
    with pytest.raises(WireFormatError, match="compare"):
        Evidence.decode(evidence.encode())  # every step compared: more than any client keeps
    fewer = Evidence(evidence.receipts, evidence.inputs, (*evidence.outputs[:-1], None))
    assert len(Evidence.decode(fewer.encode()).compared) == MAX_COMPARED_STEPS


def test_a_small_bundle_cannot_make_millions_of_objects() -> None:
    from swarmtrust.protocol.canonical import pack
    from swarmtrust.protocol.tensor_pack import CODEC

    _, evidence = evidence_session(SERVER, 2)
    lengths = [0] * 1_000_000  # a few bytes each on the wire, a Python int each if decoded
    bad = pack([2, list(evidence.receipts), [CODEC, 4, lengths, b""], [0], [CODEC, 4, [0], b""]])
    assert len(bad) < 2_000_000
    with pytest.raises(WireFormatError):
        Evidence.decode(bad)
