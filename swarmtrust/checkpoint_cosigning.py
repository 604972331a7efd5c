"""A verifier's co-signatures of the ledger's checkpoints: recomputed from the events, signed only if they match.

``CheckpointCosigner`` keeps the event log folded (``ledger.checkpoint_fold``: the audit's own folds) as far as
the last checkpoint it accepted. Each round it asks the ledger for its latest checkpoint, fetches the events up
to each new checkpoint's seq, checks every event's chain hash and signature, recomputes the checkpoint and
compares it field by field. A match is co-signed (when this verifier is in the checkpoint's signing set); a
mismatch is refused and logged, and the cosigner stops there: no later checkpoint can build on one it refused.
A co-signature the ledger could not take (unreachable, or failing on its side) is sent again each round until it
does: the fold has moved past its checkpoint, and a checkpoint short of its co-signatures stays pending for good.

It also remembers the checkpoints it accepted, so that a ledger serving another checkpoint under a number it
already showed is caught equivocating (``protocol.checkpoints.fork_between``), and the ledger key of the first
one, so that another key's checkpoints are refused.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path
from typing import Any, NoReturn

import nacl.signing

from swarmtrust.ledger.checkpoint_fold import (
    FOLDED_KINDS,
    WEIGHT_RULE,
    ChainLink,
    CheckpointError,
    FoldedLog,
    WeightRule,
    differences,
    expected_checkpoint,
)
from swarmtrust.ledger.events import LoggedEvent, event_hash, open_event_record
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.checkpoints import (
    Checkpoint,
    CheckpointSignature,
    checkpoint_digest,
    fork_between,
    signing_set,
)
from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.signing import Signed, open_signed, sign_record

log = logging.getLogger(__name__)

EVENT_PAGE = 1000


class CheckpointRefused(SwarmtrustError):
    """A checkpoint (or the events under it) that this verifier will not co-sign; the message says why."""


def logged_event(item: dict[str, Any]) -> LoggedEvent | ChainLink:
    """An event as ``GET /events`` serves it, its chain hash checked, and its record opened and its signature
    checked where a checkpoint's state folds its kind (the others are only linked: ``ChainLink``);
    CheckpointRefused otherwise."""
    try:
        seq, kind, recorded_ms = int(item["seq"]), str(item["kind"]), int(item["recorded_ms"])
        payload, signature = base64.b64decode(item["payload"]), base64.b64decode(item["signature"])
        signer, prev_hash, claimed = (bytes.fromhex(str(item[k])) for k in ("signer", "prev_hash", "hash"))
        if event_hash(seq, kind, payload, signer, signature, recorded_ms, prev_hash) != claimed:
            raise CheckpointRefused(f"event {seq}: its chain hash is not the hash of its contents")
        if kind not in FOLDED_KINDS:
            return ChainLink(seq, kind, prev_hash, claimed)
        signed = open_event_record(kind, payload, signer, signature)
    except (KeyError, TypeError, ValueError, WireFormatError, SignatureError) as exc:
        raise CheckpointRefused(f"the ledger served an event that is not a valid record: {exc}") from None
    return LoggedEvent(seq, kind, signed, recorded_ms, prev_hash, claimed)


class CheckpointCosigner:
    """See the module docstring. With ``memory``, the latest accepted checkpoint and any refusal survive a
    restart: the fold starts again from the first event, and the checkpoint remembered must come back as it was
    (each checkpoint names the one before, so that one match vouches for all before it); a refusal stands until
    someone deletes the file."""

    def __init__(
        self,
        api: LedgerApi,
        key: nacl.signing.SigningKey,
        rule: WeightRule = WEIGHT_RULE,
        memory: Path | None = None,
    ) -> None:
        self.api = api
        self.key = key
        self.public_key = bytes(key.verify_key)
        self.rule = rule
        self.memory = memory
        self.log = FoldedLog()
        self.previous: Signed[Checkpoint] | None = None
        self.accepted: dict[int, bytes] = {}  # number -> the checkpoint's wire, as accepted
        self.cosigned = 0
        self.unsent: dict[int, bytes] = {}  # number -> a co-signature the ledger has not taken yet
        self.refusal: str | None = None  # why the last round stopped, if it did
        if memory is not None and memory.exists():
            self._recall(memory)

    def _recall(self, memory: Path) -> None:
        try:
            held = json.loads(memory.read_text())
            latest, refusal = held.get("latest"), held.get("refusal")
            if latest is not None:
                signed = open_signed(Checkpoint, bytes.fromhex(str(latest)))
                self.accepted[signed.record.number] = signed.to_wire()
            self.refusal = str(refusal) if refusal is not None else None
        except (OSError, ValueError, AttributeError, WireFormatError, SignatureError) as exc:
            raise CheckpointRefused(
                f"{memory}: not this verifier's checkpoint memory ({exc}); move it away to start afresh"
            ) from None

    def _remember(self) -> None:
        if self.memory is None:
            return
        latest = self.accepted[max(self.accepted)].hex() if self.accepted else None
        temporary = self.memory.with_name(self.memory.name + ".tmp")
        temporary.write_text(json.dumps({"latest": latest, "refusal": self.refusal}))
        temporary.replace(self.memory)  # whole or not at all

    def round(self) -> int:
        """Check and co-sign every checkpoint since the last accepted; how many were co-signed now.
        CheckpointRefused for one the events do not give; every round after refuses too (this verifier never signs
        a history built on one it refused). LedgerApiError where the ledger cannot take a co-signature now: it is
        kept, and sent first next round."""
        done = self._send_unsent()  # made before any refusal, so still this verifier's word
        if self.refusal is not None:
            raise CheckpointRefused(self.refusal)
        latest = self.api.checkpoints()["latest"]
        if latest is None:
            return done
        newest = open_signed(Checkpoint, bytes.fromhex(latest["record"]))
        self._check_no_fork(newest)
        start = self.previous.record.number + 1 if self.previous is not None else 1
        for number in range(start, newest.record.number + 1):
            view = latest if number == newest.record.number else self.api.checkpoint(number)
            if view is None:
                raise CheckpointRefused(f"the ledger shows checkpoint {newest.record.number} but not {number}")
            done += self._accept(open_signed(Checkpoint, bytes.fromhex(view["record"])), view)
        return done

    def _check_no_fork(self, signed: Signed[Checkpoint]) -> None:
        seen = self.accepted.get(signed.record.number)
        if seen is not None:
            if open_signed(Checkpoint, seen).signer != signed.signer:
                self._refuse(f"checkpoint {signed.record.number} is signed by another ledger key than the one seen")
            fork = fork_between(seen, signed.to_wire())
            if fork is not None:
                self._refuse(
                    f"the ledger {fork.ledger_key.hex()} equivocated: two checkpoints numbered {fork.number} "
                    f"({fork.digests[0].hex()[:16]}…, {fork.digests[1].hex()[:16]}…)"
                )

    def _refuse(self, why: str) -> NoReturn:
        self.refusal = why
        self._remember()
        raise CheckpointRefused(why)

    def _accept(self, signed: Signed[Checkpoint], view: dict[str, Any]) -> int:
        self._check_no_fork(signed)
        record = signed.record
        if self.previous is not None and signed.signer != self.previous.signer:
            raise CheckpointRefused(f"checkpoint {record.number} is signed by another ledger key")
        while self.log.seq < record.seq:
            items = self.api.events_after(self.log.seq, min(EVENT_PAGE, record.seq - self.log.seq))
            if not items:
                raise CheckpointRefused(f"the ledger serves no events up to checkpoint {record.number}'s seq")
            try:
                self.log.feed(logged_event(item) for item in items)
            except CheckpointError as exc:
                self._refuse(
                    f"checkpoint {record.number}: the ledger's events no longer extend those this verifier folded "
                    f"(its history was rewritten under an accepted checkpoint?): {exc}"
                )
        if self.log.seq != record.seq:
            raise CheckpointRefused(f"checkpoint {record.number} is at seq {record.seq}, behind this fold")
        expected = expected_checkpoint(self.log, self.previous, record.ledger_key, record.created_ms, self.rule)
        wrong = differences(expected, record)
        if wrong:
            self._refuse(f"checkpoint {record.number}: the events do not give its {', '.join(wrong)}")
        signers = signing_set(record, self.previous.record if self.previous is not None else None)
        self.log.mark()
        self.previous = signed
        remembered_ahead = any(number > record.number for number in self.accepted)
        self.accepted = {number: wire for number, wire in self.accepted.items() if number > record.number}
        self.accepted[record.number] = signed.to_wire()  # the latest, and any remembered beyond it still to meet
        self._remember()
        if remembered_ahead:  # refolding after a restart: nothing is signed before the remembered one is met again
            return 0
        if self.public_key not in signers or self.public_key.hex() in view.get("signers", ()):
            return 0
        signature = CheckpointSignature(self.public_key, record.ledger_key, record.number, checkpoint_digest(signed))
        self.unsent[record.number] = sign_record(signature, self.key).to_wire()
        return self._send_unsent()

    def _send_unsent(self) -> int:
        """Send the co-signatures the ledger has not taken, oldest first; how many it took. One it refuses (a 4xx
        answer: e.g. its checkpoint was replaced, which the next round's fork check names) is logged and dropped;
        LedgerApiError, keeping it and those after, where the ledger cannot take it now (unreachable, 429, 5xx)."""
        sent = 0
        for number, wire in sorted(self.unsent.items()):
            try:
                self.api.cosign_checkpoint(number, wire)
            except LedgerApiError as exc:
                if exc.status == 0 or exc.status == 429 or exc.status >= 500:
                    raise
                log.warning("the ledger refused this verifier's co-signature of checkpoint %d: %s", number, exc)
            else:
                sent += 1
                self.cosigned += 1
                log.info("co-signed checkpoint %d", number)
            del self.unsent[number]
        return sent

    def run(self, stop: threading.Event, every: float) -> None:
        """A round every ``every`` seconds until ``stop``. A refused checkpoint is logged once per reason and
        never signed; an unreachable ledger is retried at the next round."""
        logged: str | None = None
        while not stop.is_set():
            try:
                self.round()
            except CheckpointRefused as exc:
                if str(exc) != logged:
                    log.error("refusing to co-sign: %s", exc)
                    logged = str(exc)
            except (LedgerApiError, WireFormatError, SignatureError) as exc:
                log.warning("checkpoints: %s; retrying in %.1f s", exc, every)
            stop.wait(every)
