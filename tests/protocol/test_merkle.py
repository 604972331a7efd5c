from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.merkle import inclusion_proof, merkle_root, verify_inclusion


def _h(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"".join(parts), digest_size=32).digest()


def leaves(n: int) -> list[bytes]:
    return [_h(i.to_bytes(4, "little")) for i in range(n)]


def test_small_trees_have_the_rfc6962_shape() -> None:
    a, b, c = leaves(3)
    leaf = [_h(b"\x00", x) for x in (a, b, c)]
    assert merkle_root([a]) == leaf[0]
    assert merkle_root([a, b]) == _h(b"\x01", leaf[0], leaf[1])
    assert merkle_root([a, b, c]) == _h(b"\x01", _h(b"\x01", leaf[0], leaf[1]), leaf[2])
    assert merkle_root([]) == _h(b"")


@pytest.mark.parametrize("size", [*range(1, 34), 100, 257])
def test_every_leaf_has_a_proof_that_verifies(size: int) -> None:
    items = leaves(size)
    root = merkle_root(items)
    for index in range(size):
        proof = inclusion_proof(items, index)
        assert verify_inclusion(items[index], proof, root), (size, index)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(2, 70), data=st.data())
def test_proofs_do_not_verify_anything_else(size: int, data: st.DataObject) -> None:
    items = leaves(size)
    root = merkle_root(items)
    index = data.draw(st.integers(0, size - 1))
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    proof = inclusion_proof(items, index)
    assert not verify_inclusion(items[other], proof, root), "another leaf at this position"
    assert not verify_inclusion(items[index], replace(proof, index=other), root), "this leaf at another position"
    assert not verify_inclusion(items[index], proof, merkle_root(items[::-1])), "another root"
    if proof.path:
        bent = (_h(proof.path[0]), *proof.path[1:])
        assert not verify_inclusion(items[index], replace(proof, path=bent), root), "a changed sibling"
        assert not verify_inclusion(items[index], replace(proof, path=proof.path[:-1]), root), "a short path"


def test_order_and_content_change_the_root() -> None:
    items = leaves(10)
    assert merkle_root(items) != merkle_root(items[::-1])
    assert merkle_root(items) != merkle_root(items[:-1])
    with pytest.raises(IndexError):
        inclusion_proof(items, 10)
