"""Ledger fork reports in the DHT (``protocol.fork_reports``): publishing the two checkpoints that prove a ledger
signed two histories, and reading the reports on a ledger, keeping only those that prove themselves."""

from __future__ import annotations

import logging
import time
from typing import Any

import nacl.signing

from swarmtrust.node.dht import from_dht_value, to_dht_value
from swarmtrust.protocol.checkpoints import Fork, fork_between
from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.fork_reports import FORK_REPORT_TTL_MS, LedgerForkReport, fork_reports_key
from swarmtrust.protocol.signing import sign_record

log = logging.getLogger(__name__)


def report_fork(dht: Any, reporter: nacl.signing.SigningKey, first: bytes, second: bytes) -> Fork:
    """Store a report of the fork ``first`` and ``second`` prove in the DHT, signed by ``reporter``; the fork.
    WireFormatError or SignatureError, and nothing stored, when they prove none."""
    fork = fork_between(first, second)
    if fork is None:
        raise WireFormatError("the two checkpoints are not two of one ledger with one number: they prove no fork")
    now = time.time_ns() // 1_000_000
    record = LedgerForkReport(bytes(reporter.verify_key), fork.ledger_key, first, second, now, now + FORK_REPORT_TTL_MS)
    report = sign_record(record, reporter)
    stored = dht.store(
        fork_reports_key(fork.ledger_key),
        to_dht_value("fork", report),
        report.record.expires_ms / 1000,
        subkey=report.signer.hex(),
    )
    if not stored:
        raise WireFormatError("the DHT did not take the report: check --initial-peers reach the swarm")
    return fork


def reported_forks(dht: Any, ledger_key: bytes) -> list[LedgerForkReport]:
    """Every report in the DHT of a fork of ``ledger_key`` that proves itself (``LedgerForkReport.fork``)."""
    entries = dht.get(fork_reports_key(ledger_key), latest=True)
    if entries is None or not isinstance(entries.value, dict):
        return []
    found = []
    for item in entries.value.values():
        try:
            kind, signed = from_dht_value(item.value)
            if kind == "fork" and signed.record.ledger_key == ledger_key:
                signed.record.fork()
                found.append(signed.record)
        except (WireFormatError, SignatureError) as exc:
            log.debug("ignoring a fork report that proves nothing: %s", exc)
    return found
