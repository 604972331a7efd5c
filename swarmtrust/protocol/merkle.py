"""Merkle trees over receipt digests (RFC 6962 shape), for epoch summaries and inclusion proofs.

A server closing an epoch signs one root over the digests of its receipts; when one receipt is
challenged it reaches the ledger with an inclusion proof instead of the whole epoch. Leaves and inner
nodes are hashed with different prefixes (0x00, 0x01) so a leaf cannot pose as a subtree. As in
RFC 6962 the root does not commit to the number of leaves: whoever signs a root signs its tree size too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarmtrust.protocol.digests import blake2b_256


def _leaf_hash(leaf: bytes) -> bytes:
    return blake2b_256(b"\x00", leaf)


def _node_hash(left: bytes, right: bytes) -> bytes:
    return blake2b_256(b"\x01", left, right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root hash over ``leaves`` in order; the root of no leaves is the hash of the empty string."""
    if not leaves:
        return blake2b_256(b"")
    level = [_leaf_hash(leaf) for leaf in leaves]
    return _subtree_root(level)


def _subtree_root(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return _node_hash(_subtree_root(hashes[:k]), _subtree_root(hashes[k:]))


@dataclass(frozen=True)
class InclusionProof:
    """Proof that the leaf at ``index`` is in a tree of ``tree_size`` leaves: sibling hashes, leaf first."""

    index: int
    tree_size: int
    path: tuple[bytes, ...]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is outside a tree of {len(leaves)} leaves")
    hashes = [_leaf_hash(leaf) for leaf in leaves]
    path: list[bytes] = []
    _collect_path(hashes, index, path)
    return InclusionProof(index, len(leaves), tuple(path))


def _collect_path(hashes: Sequence[bytes], index: int, path: list[bytes]) -> None:
    if len(hashes) == 1:
        return
    k = _split(len(hashes))
    if index < k:
        _collect_path(hashes[:k], index, path)
        path.append(_subtree_root(hashes[k:]))
    else:
        _collect_path(hashes[k:], index - k, path)
        path.append(_subtree_root(hashes[:k]))


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """True when ``leaf`` sits at ``proof.index`` of the tree whose root is ``root`` (RFC 9162 2.1.3.2)."""
    if not 0 <= proof.index < proof.tree_size:
        return False
    fn, sn = proof.index, proof.tree_size - 1
    current = _leaf_hash(leaf)
    for sibling in proof.path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            current = _node_hash(sibling, current)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            current = _node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and current == root
