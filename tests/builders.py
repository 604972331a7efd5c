"""Builders of signed test records: honest by default, every field overridable."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import nacl.signing

from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.challenges import VerdictOutcome
from swarmtrust.protocol.checkpoints import Checkpoint, checkpoint_digest
from swarmtrust.protocol.receipts import Receipt, receipt_id_for
from swarmtrust.protocol.signing import Signed, sign_record


def new_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def build_receipt(key: nacl.signing.SigningKey, **overrides: Any) -> Receipt:
    """A valid receipt of ``key``'s server; ``receipt_id`` follows session and step unless overridden."""
    server = bytes(key.verify_key)
    fields: dict[str, Any] = {
        "session_id": os.urandom(16),
        "step": 0,
        "server_key": server,
        "model_id": "tiny",
        "weights_digest": bytes(range(32)),
        "block_start": 0,
        "block_end": 4,
        "dtype": "float32",
        "input_digest": os.urandom(32),
        "input_shape": (1, 1, 64),
        "output_digest": os.urandom(32),
        "output_shape": (1, 1, 64),
        "prev_receipt": None,
        "client_nonce": os.urandom(16),
        "timestamp_ms": time.time_ns() // 1_000_000,
    }
    fields.update(overrides)
    if "prev_receipt" not in overrides and fields["step"] > 0:
        fields["prev_receipt"] = os.urandom(32)
    if "receipt_id" not in overrides:
        fields["receipt_id"] = receipt_id_for(fields["server_key"], fields["session_id"], fields["step"])
    return Receipt(**fields)


def signed_receipt(key: nacl.signing.SigningKey, **overrides: Any) -> Signed[Receipt]:
    return sign_record(build_receipt(key, **overrides), key)


def session_receipts(key: nacl.signing.SigningKey, steps: int, **overrides: Any) -> list[Signed[Receipt]]:
    """The hash-chained receipts of one session of ``steps`` steps."""
    session, nonce = os.urandom(16), overrides.pop("client_nonce", os.urandom(16))
    out: list[Signed[Receipt]] = []
    prev: bytes | None = None
    for step in range(steps):
        out.append(
            signed_receipt(key, session_id=session, client_nonce=nonce, step=step, prev_receipt=prev, **overrides)
        )
        prev = out[-1].digest
    return out


def resign(receipt: Receipt, key: nacl.signing.SigningKey, **changes: Any) -> Signed[Receipt]:
    """The same receipt with ``changes``, signed again (what an equivocating server would do)."""
    return sign_record(receipt.replace(**changes), key)


def evidence_session(
    key: nacl.signing.SigningKey, steps: int, *, hidden: int = 64, first_tokens: int = 3, **overrides: Any
) -> tuple[list[Signed[Receipt]], Any]:
    """A session of ``steps`` steps whose receipts commit to random float32 tensors, and its evidence."""
    from swarmtrust.protocol.digests import tensor_digest
    from swarmtrust.protocol.evidence import Evidence

    session = overrides.pop("session_id", os.urandom(16))
    nonce = overrides.pop("client_nonce", os.urandom(16))
    receipts: list[Signed[Receipt]] = []
    inputs: list[bytes] = []
    outputs: list[bytes] = []
    prev: bytes | None = None
    for step in range(steps):
        shape = (1, first_tokens if step == 0 else 1, hidden)
        data_in, data_out = os.urandom(4 * shape[1] * hidden), os.urandom(4 * shape[1] * hidden)
        signed = signed_receipt(
            key,
            session_id=session,
            client_nonce=nonce,
            step=step,
            prev_receipt=prev,
            input_digest=tensor_digest("float32", shape, data_in),
            input_shape=shape,
            output_digest=tensor_digest("float32", shape, data_out),
            output_shape=shape,
            **overrides,
        )
        receipts.append(signed)
        inputs.append(data_in)
        outputs.append(data_out)
        prev = signed.digest
    evidence = Evidence(tuple(r.to_wire() for r in receipts), tuple(inputs), tuple(outputs))
    return receipts, evidence


def challenge_for(
    submitter: nacl.signing.SigningKey, receipts: list[Signed[Receipt]], encoded_evidence: bytes
) -> Signed[Any]:
    from swarmtrust.node.client.evidence import challenge_of

    return challenge_of(submitter, receipts, encoded_evidence)


def signed_announcement(key: nacl.signing.SigningKey, **overrides: Any) -> Signed[ServerAnnouncement]:
    """A valid online announcement of ``key``'s server for blocks 0:4 of ``tiny``, announced now."""
    now = time.time_ns() // 1_000_000
    start, end = overrides.pop("block_start", 0), overrides.pop("block_end", 4)
    fields: dict[str, Any] = {
        "server_key": bytes(key.verify_key),
        "peer_id": "12D3KooWtest",
        "name": "test-server",
        "model_id": "tiny",
        "block_start": start,
        "block_end": end,
        "layer_digests": tuple(bytes([i]) * 32 for i in range(start, end)),
        "dtype": "float32",
        "throughput": 500.0,
        "state": "online",
        "announced_ms": now,
        "expires_ms": now + 600_000,
    }
    return sign_record(ServerAnnouncement(**(fields | overrides)), key)


def signed_verdict(verifier: nacl.signing.SigningKey, claimed: Any, outcome: VerdictOutcome, decided_ms: int) -> bytes:
    """The wire of ``verifier``'s verdict on the assignment it ``claimed`` from the ledger's spot-check desk."""
    from swarmtrust.protocol.challenges import Verdict

    a = claimed.assignment.record
    return sign_record(
        Verdict(
            verifier_key=bytes(verifier.verify_key),
            assignment_id=a.assignment_id,
            challenge_id=a.challenge_id,
            evidence_digest=bytes.fromhex(claimed.challenge["evidence_digest"]),
            server_key=a.server_key,
            outcome=outcome,
            steps_checked=4,
            worst_step=0,
            max_rel_error=0.0 if outcome == "pass" else 0.5,
            mean_rel_error=0.0,
            max_rel_threshold=1e-4,
            mean_rel_threshold=1e-5,
            decided_ms=decided_ms,
        ),
        verifier,
    ).to_wire()


def signed_checkpoint(
    ledger: nacl.signing.SigningKey,
    number: int,
    *,
    previous: Signed[Checkpoint] | None = None,
    signers: Mapping[bytes, int] | None = None,
    state: bytes = bytes(32),
) -> Signed[Checkpoint]:
    """A checkpoint of ``ledger``'s, linked to ``previous`` (a placeholder digest past number 1 without one),
    fixing ``signers`` (verifier key → weight) as the next one's signing set."""
    chosen = sorted((signers or {}).items())
    link = checkpoint_digest(previous) if previous is not None else (None if number == 1 else bytes(32))
    record = Checkpoint(
        ledger_key=bytes(ledger.verify_key),
        number=number,
        seq=number * 10,
        head_hash=bytes(32),
        events_root=bytes(32),
        event_count=10,
        state_root=state,
        previous=link,
        verifier_keys=tuple(k for k, _ in chosen),
        verifier_weights=tuple(w for _, w in chosen),
        created_ms=number,
    )
    return sign_record(record, ledger)
