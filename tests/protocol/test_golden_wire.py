"""The wire bytes of every signed record type, pinned: a change to a record's layout, field order, encoding or
signing domain shows here as a changed hex string, so existing signatures and ledgers stay valid.

Each type gets one example: a value per field chosen from its type's bounds alone (``tests.wire_fields``),
with a few fields overridden where the record ties them together, signed by a key from a fixed seed (Ed25519
signatures are deterministic). ``golden_wire.json`` holds the signed bytes as hex. A deliberate format change (a new
``VERSION``) regenerates it with ``SWARMTRUST_WRITE_GOLDEN=1 pytest tests/protocol/test_golden_wire.py``,
and the diff shows what moved.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

import swarmtrust.ledger.statements
import swarmtrust.protocol
from swarmtrust.protocol.receipts import Receipt, receipt_id_for
from swarmtrust.protocol.records import WireRecord
from swarmtrust.protocol.signing import open_signed, sign_record
from tests.wire_fields import example, fields_of

GOLDEN = Path(__file__).with_name("golden_wire.json")
KEY = nacl.signing.SigningKey(hashlib.blake2b(b"swarmtrust golden wire", digest_size=32).digest())

for module in pkgutil.iter_modules(swarmtrust.protocol.__path__):  # every record type registers itself by subclassing
    importlib.import_module(f"swarmtrust.protocol.{module.name}")
assert swarmtrust.ledger.statements  # the ledger's own signed records


def record_types() -> dict[str, type[WireRecord]]:
    found: dict[str, type[WireRecord]] = {}
    pending = list(WireRecord.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        module = cls.__module__.removeprefix("swarmtrust.")  # the pinned names predate the namespace
        if module.startswith(("protocol.", "ledger.")):
            found[f"{module}.{cls.__name__}"] = cls
    return dict(sorted(found.items()))


OVERRIDES: dict[str, dict[str, Any]] = {  # fields the record ties together
    "protocol.model_records.ToleranceRecord": {
        "model_id": "tiny",
        "dtype": "bfloat16",
        "document": b'{"format": 2, "model": "tiny", "dtype": "bfloat16", "spans": []}',
    },
    "ledger.statements.ConsensusPolicy": {"audit_rate": 0.1, "max_audit_rate": 0.5},
    "ledger.statements.AuditDraw": {"coin": 0.25, "chance": 0.5},
    "protocol.reputation_snapshot.ReputationSnapshot": {"checkpoint_number": 4},
    "protocol.checkpoints.Checkpoint": {"number": 2, "verifier_keys": (bytes(32),), "verifier_weights": (7,)},
}


def build(name: str, cls: type[WireRecord]) -> WireRecord:
    values = {field: example(info, field, i) for i, (field, info) in enumerate(fields_of(cls))}
    values |= OVERRIDES.get(name, {})
    values[cls.SIGNER_FIELD] = bytes(KEY.verify_key)
    if cls is Receipt:
        values["receipt_id"] = receipt_id_for(values["server_key"], values["session_id"], values["step"])
    return cls(**values)


def wires() -> dict[str, str]:
    return {name: sign_record(build(name, cls), KEY).to_wire().hex() for name, cls in record_types().items()}


def test_every_record_type_has_pinned_bytes() -> None:
    current = wires()
    if os.environ.get("SWARMTRUST_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(current, indent=1) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    assert sorted(current) == sorted(pinned), "a record type was added or removed: regenerate deliberately"
    changed = [name for name in current if current[name] != pinned[name]]
    assert changed == [], f"wire bytes changed for {changed}"


@pytest.mark.parametrize("name", sorted(record_types()))
def test_pinned_bytes_open_to_the_same_record(name: str) -> None:
    """The pinned bytes still open (signature, checks, consistency) to the record they were made from."""
    cls = record_types()[name]
    opened = open_signed(cls, bytes.fromhex(json.loads(GOLDEN.read_text())[name]))
    assert opened.record == build(name, cls)
    assert opened.signer == bytes(KEY.verify_key)
