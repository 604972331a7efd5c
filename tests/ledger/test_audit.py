from __future__ import annotations

import msgpack
import pytest
from sqlalchemy import text

from swarmtrust.ledger.events import event_hash
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.canonical import pack
from tests.builders import new_key, session_receipts
from tests.ledger.tampering import lift_append_only_guard, scalar, tamper

SERVER = new_key()
OTHER = new_key()


@pytest.fixture
def filled(ledger: Ledger) -> Ledger:
    """Ten receipts of two servers: events 1-6 are SERVER's, 7-10 OTHER's."""
    results = ledger.ingest_receipts([r.to_wire() for r in session_receipts(SERVER, 6) + session_receipts(OTHER, 4)])
    assert [r.seq for r in results] == list(range(1, 11))
    return ledger


def test_an_untouched_ledger_is_clean(filled: Ledger) -> None:
    report = filled.audit()
    assert report.ok, report.problems
    assert report.events_checked == 10
    assert report.kinds == {"receipt": 10}
    assert report.head_seq == 10
    assert report.head_hash == scalar(filled, "SELECT hash FROM events WHERE seq = 10")
    assert report.first_bad_seq is None


def test_an_empty_ledger_is_clean(ledger: Ledger) -> None:
    report = ledger.audit()
    assert report.ok and report.events_checked == 0 and report.head_seq == 0


def test_one_changed_payload_byte_is_named(filled: Ledger) -> None:
    payload = bytearray(scalar(filled, "SELECT payload FROM events WHERE seq = 4"))  # type: ignore[arg-type]
    payload[-2] ^= 0x01
    tamper(filled, "UPDATE events SET payload = :p WHERE seq = 4", p=bytes(payload))
    report = filled.audit()
    assert not report.ok
    assert report.first_bad_seq == 4
    assert any("altered" in p.message for p in report.problems if p.seq == 4)


def test_a_rewritten_chain_still_fails_on_the_signature(filled: Ledger) -> None:
    """An attacker who changes a payload and recomputes every hash after it cannot re-sign it."""
    values = msgpack.unpackb(scalar(filled, "SELECT payload FROM events WHERE seq = 5"), raw=False)
    values[12] = bytes(32)  # a well-formed receipt claiming another output
    tamper(filled, "UPDATE events SET payload = :p WHERE seq = 5", p=pack(values))
    _rechain(filled, start=5)
    report = filled.audit()
    assert report.first_bad_seq == 5
    assert [p.message for p in report.problems if p.where == "events"] == [
        f"signature of {SERVER.verify_key.encode().hex()} does not verify"
    ]


def test_a_deleted_event_is_named(filled: Ledger) -> None:
    tamper(filled, "DELETE FROM receipts WHERE event_seq = 6", "DELETE FROM events WHERE seq = 6")
    report = filled.audit()
    assert report.first_bad_seq == 6
    assert any("missing" in p.message for p in report.problems if p.seq == 6)


def test_two_reordered_events_are_named(filled: Ledger) -> None:
    rows = {
        seq: (
            scalar(filled, "SELECT payload FROM events WHERE seq = :s", s=seq),
            scalar(filled, "SELECT signature FROM events WHERE seq = :s", s=seq),
        )
        for seq in (2, 3)
    }
    tamper(
        filled,
        "UPDATE events SET payload = :p3, signature = :s3 WHERE seq = 2",
        "UPDATE events SET payload = :p2, signature = :s2 WHERE seq = 3",
        p2=rows[2][0],
        s2=rows[2][1],
        p3=rows[3][0],
        s3=rows[3][1],
    )
    report = filled.audit()
    assert report.first_bad_seq == 2
    assert {p.seq for p in report.problems if p.where == "events"} >= {2, 3}


def test_an_edited_derived_row_is_named(filled: Ledger) -> None:
    tamper(filled, "UPDATE receipts SET step = 99 WHERE event_seq = 8")
    report = filled.audit()
    assert report.first_bad_seq == 8
    (problem,) = report.problems
    assert problem.where.startswith("receipts[") and "step" in problem.message


def test_an_edited_server_tally_is_named(filled: Ledger) -> None:
    tamper(
        filled,
        "UPDATE servers SET receipt_count = 60 WHERE public_key = :k",
        k=OTHER.verify_key.encode().hex(),
    )
    report = filled.audit()
    (problem,) = report.problems
    assert problem.seq == 7 and "receipt_count" in problem.message


def test_derived_rows_deleted_or_inserted_out_of_chain_are_named(filled: Ledger) -> None:
    tamper(filled, "DELETE FROM receipts WHERE event_seq = 9")
    tamper(
        filled,
        "INSERT INTO servers (public_key, first_seq, last_seq, receipt_count, last_receipt_ms) VALUES (:k, 3, 3, 1, 0)",
        k="ab" * 32,
    )
    report = filled.audit()
    messages = {(p.seq, p.message) for p in report.problems}
    assert (9, "row is missing") in messages
    assert (3, "row is not derived from any event") in messages
    assert report.first_bad_seq == 3


def test_an_event_inserted_out_of_chain_is_named(filled: Ledger) -> None:
    extra = session_receipts(SERVER, 1)[0]
    tamper(
        filled,
        "INSERT INTO events (seq, kind, payload, signer, signature, subject, recorded_ms, prev_hash, hash) "
        "VALUES (11, 'receipt', :payload, :signer, :sig, :signer, 0, :prev, :hash)",
        payload=extra.body,
        signer=extra.signer.hex(),
        sig=extra.signature,
        prev="00" * 32,
        hash="11" * 32,
    )
    report = filled.audit()
    assert report.first_bad_seq == 11
    assert {p.message for p in report.problems if p.seq == 11} >= {
        "prev_hash does not link to the event before",
        "hash does not match the event's contents (altered)",
    }


def test_events_cut_from_the_end_are_caught_by_an_anchor(filled: Ledger) -> None:
    anchor = filled.audit().head_hash
    new_head = scalar(filled, "SELECT hash FROM events WHERE seq = 8")
    tamper(
        filled,
        "DELETE FROM receipts WHERE event_seq > 8",
        "DELETE FROM events WHERE seq > 8",
        "UPDATE servers SET last_seq = 8, receipt_count = 2 WHERE public_key = :k",
        "UPDATE chain_head SET seq = 8, hash = :h",
        k=OTHER.verify_key.encode().hex(),
        h=new_head,
    )
    # The cut is consistent with itself; only a head recorded earlier can show it.
    tamper(
        filled,
        "UPDATE servers SET last_receipt_ms = (SELECT MAX(timestamp_ms) FROM receipts WHERE server_key = :k) "
        "WHERE public_key = :k",
        k=OTHER.verify_key.encode().hex(),
    )
    assert filled.audit().ok
    report = filled.audit(anchor=anchor)
    assert not report.ok
    assert "rewritten or cut" in report.problems[0].message


def test_a_head_row_that_disagrees_is_named(filled: Ledger) -> None:
    tamper(filled, "UPDATE chain_head SET seq = 12")
    report = filled.audit()
    assert report.first_bad_seq == 11
    assert report.problems[0].where == "chain_head"


def _rechain(ledger: Ledger, *, start: int) -> None:
    """Recompute every hash from ``start`` on, as an attacker covering a change would."""
    with ledger.engine.begin() as connection:
        lift_append_only_guard(connection)
        rows = connection.execute(
            text("SELECT seq, kind, payload, signer, signature, recorded_ms, prev_hash FROM events ORDER BY seq")
        ).all()
        prev = bytes.fromhex(
            connection.execute(text("SELECT hash FROM events WHERE seq = :s"), {"s": start - 1}).scalar_one()
        )
        for row in rows[start - 1 :]:
            digest = event_hash(
                row.seq,
                row.kind,
                bytes(row.payload),
                bytes.fromhex(row.signer),
                bytes(row.signature),
                row.recorded_ms,
                prev,
            )
            connection.execute(
                text("UPDATE events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev.hex(), "h": digest.hex(), "s": row.seq},
            )
            prev = digest
        connection.execute(text("UPDATE chain_head SET hash = :h"), {"h": prev.hex()})
