"""The latest final checkpoint a client has seen from each ledger, checked by its co-signatures, and the answers
it therefore refuses (pure, apart from ``load``/``save`` of its file).

Every reputation answer (REST or DHT snapshot) names the ledger's latest final checkpoint by number and digest.
The client believes no such claim on the ledger's word: it checks a ``FinalityProof`` of every checkpoint from
the one it holds to the one named (``protocol.checkpoint_proofs``): each signed by the ledger key, linked to the
one before, and co-signed by more than 2/3 of the weight of the set the one before fixed. So a ledger that
rewrote its history cannot show the rewrite as final, since the verifiers do not sign it; it can only keep
naming its last genuine checkpoint, which holds the old history.

An answer from an earlier checkpoint than the one held, or from none after one, is refused (a stale snapshot,
a replayed one, or a history rolled back: a client cannot tell them apart, and refusing each such answer
protects it from all three). The ledger is distrusted for the rest of the client's life, with the reason kept,
when it:
- shows another digest under a number the client holds (two histories: when the client holds both signed
  checkpoints, ``forks`` keeps the proof, which anyone can check);
- names as final a checkpoint that its proof does not show final.

A checkpoint that cannot be fetched (the API down, the DHT without the proof) is not distrust: that answer alone
is refused. A client with no history trusts the first signing set it sees (see ``protocol.checkpoint_proofs``);
``save`` and ``load`` carry what it holds across restarts, so that this happens once.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmtrust.protocol.checkpoint_proofs import FinalityProof, NotFinalError
from swarmtrust.protocol.checkpoints import Checkpoint, Fork, checkpoint_digest, fork_between
from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.signing import Signed, open_signed

ProofSource = Callable[[int], "FinalityProof | None"]  # the proof of checkpoint n; None when it cannot be had


class LedgerHistoryError(SwarmtrustError):
    """A ledger's answer that does not extend the history this client saw it commit to; the message says how."""


class UnverifiedCheckpointError(LedgerHistoryError):
    """An answer naming a checkpoint whose proof could not be had; refused, the ledger not distrusted for it."""


class StaleAnswerError(LedgerHistoryError):
    """An answer from behind the checkpoint held; refused, the ledger not distrusted for it."""


@dataclass(frozen=True)
class Seen:
    checkpoint: Signed[Checkpoint]  # the latest final checkpoint accepted: it fixes who signs the next one
    source: str  # where it was seen: "api" or "dht"

    @property
    def number(self) -> int:
        return self.checkpoint.record.number

    @property
    def digest(self) -> bytes:
        return checkpoint_digest(self.checkpoint)


@dataclass
class CheckpointMemory:
    seen: dict[bytes, Seen] = field(default_factory=dict)  # by ledger identity (its key, or its URL)
    distrusted: dict[bytes, str] = field(default_factory=dict)  # ledger identity -> why
    forks: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict)  # ledger identity -> two envelopes

    def admit(
        self,
        ledger: bytes,
        number: int,
        digest: bytes | None,
        source: str,
        proofs: ProofSource,
        ledger_key: bytes | None = None,
    ) -> None:
        """Take an answer of ``ledger`` standing on checkpoint (``number``, ``digest``) (0 and None: none),
        checking the proofs of the checkpoints since the one held; LedgerHistoryError when it does not extend the
        history this client saw, after which every answer of that ledger is refused, UnverifiedCheckpointError
        when a proof cannot be had. ``ledger_key`` is the key pinned for it (None: the one its first checkpoint
        shows)."""
        if ledger in self.distrusted:
            raise LedgerHistoryError(self.distrusted[ledger])
        known = self.seen.get(ledger)
        who = f"ledger {ledger_key.hex()[:16]}…" if ledger_key else f"the ledger at {ledger.decode(errors='replace')}"
        if known is not None and (digest is None or number < known.number):
            # Refused, but no proof of misbehaviour: an honest ledger's DHT snapshot lags its REST answers by up to
            # a publishing interval, and anyone can replay an old snapshot. A history rolled back for real stays
            # refused the same way, answer after answer, until it extends the checkpoint held again.
            raise StaleAnswerError(
                f"{who} answered ({source}) from checkpoint {number or 'none'}, behind checkpoint {known.number} it "
                f"showed before ({known.source}): a stale answer or a rolled-back history, not used"
            )
        if digest is None:
            return
        if known is not None and number == known.number:
            if digest != known.digest:
                proof = _fetched(proofs, number)
                if proof is not None and proof.digest != known.digest:
                    self.forks[ledger] = (known.checkpoint.to_wire(), proof.checkpoint.to_wire())
                self._distrust(
                    ledger,
                    f"{who} showed two different checkpoints numbered {number} ({known.source} and {source}): it "
                    "signed two histories",
                )
            return
        key = ledger_key or (known.checkpoint.signer if known is not None else None)
        held = known.checkpoint if known is not None else None
        for n in range(known.number + 1 if known is not None else number, number + 1):
            proof = _fetched(proofs, n)
            if proof is None:
                raise UnverifiedCheckpointError(
                    f"{who} named checkpoint {number} ({source}), but the proof of checkpoint {n} could not be had: "
                    "that answer is not used (reach the ledger's API, or wait for the DHT to carry the proof)"
                )
            self._check(ledger, who, proof, n, key, held)
            key, held = proof.checkpoint.signer, proof.checkpoint
        assert held is not None  # the loop ran at least once: number > known.number, or nothing known
        if checkpoint_digest(held) != digest:
            self._distrust(ledger, f"{who} named checkpoint {number} ({source}) with a digest its proof does not have")
        self.seen[ledger] = Seen(held, source)

    def _check(
        self, ledger: bytes, who: str, proof: FinalityProof, n: int, key: bytes | None, held: Signed[Checkpoint] | None
    ) -> None:
        if proof.number != n:
            self._distrust(ledger, f"{who} gave checkpoint {proof.number} when asked for checkpoint {n}")
        try:
            proof.verify(key or proof.checkpoint.signer)
        except NotFinalError as exc:
            self._distrust(ledger, f"{who} named as final what is not: {exc}")
        previous = proof.previous  # None only at number 1, which verify has checked
        if (
            held is not None
            and previous is not None
            and held.record.number == n - 1
            and checkpoint_digest(previous) != checkpoint_digest(held)
        ):
            self.forks[ledger] = (held.to_wire(), previous.to_wire())
            self._distrust(ledger, f"{who} showed two different checkpoints numbered {n - 1}: it signed two histories")

    def _distrust(self, ledger: bytes, problem: str) -> None:
        self.distrusted[ledger] = problem + "; no longer trusting it"
        raise LedgerHistoryError(self.distrusted[ledger])

    def note_fork(self, ledger: bytes, ledger_key: bytes, first: bytes, second: bytes, reported_by: str) -> bool:
        """Distrust ``ledger`` when ``first`` and ``second`` are two checkpoints of one number signed by its key
        ``ledger_key``; whether they were. A report that proves nothing, or a fork of another key, changes
        nothing."""
        try:
            fork = fork_between(first, second)
        except (WireFormatError, SignatureError):
            return False
        if fork is None or fork.ledger_key != ledger_key:
            return False
        self.forks.setdefault(ledger, (first, second))
        self.distrusted.setdefault(
            ledger,
            f"ledger {fork.ledger_key.hex()[:16]}… signed two checkpoints numbered {fork.number} (reported by "
            f"{reported_by}): it signed two histories; no longer trusting it",
        )
        return True

    def fork(self, ledger: bytes) -> Fork | None:
        """The equivocation proved against ``ledger``, if this client holds the two signed checkpoints."""
        pair = self.forks.get(ledger)
        return fork_between(*pair) if pair is not None else None

    def document(self) -> dict[str, Any]:
        """What this memory holds, as its file keeps it (JSON)."""
        return {
            "seen": {
                k.hex(): {"checkpoint": s.checkpoint.to_wire().hex(), "source": s.source} for k, s in self.seen.items()
            },
            "distrusted": {k.hex(): why for k, why in self.distrusted.items()},
            "forks": {k.hex(): [a.hex(), b.hex()] for k, (a, b) in self.forks.items()},
        }

    def save(self, path: Path) -> None:
        """Write what this memory holds to ``path`` (atomically: a crash leaves the old file or the new)."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.document(), indent=1))
        os.replace(temporary, path)

    @contextlib.contextmanager
    def kept_in(self, path: Path | None) -> Iterator[None]:
        """Save to ``path`` on leaving, whatever happened inside, if this memory changed (None: never saved)."""
        before = self.document() if path is not None else None
        try:
            yield
        finally:
            if path is not None and self.document() != before:
                self.save(path)

    @classmethod
    def load(cls, path: Path) -> CheckpointMemory:
        """The memory saved in ``path`` (empty when there is no such file); LedgerHistoryError naming the file
        when it is not one this code wrote (it is never silently replaced: it may be all that proves a fork)."""
        if not path.exists():
            return cls()
        try:
            document = json.loads(path.read_text())
            return cls(
                {
                    bytes.fromhex(k): Seen(open_signed(Checkpoint, bytes.fromhex(v["checkpoint"])), str(v["source"]))
                    for k, v in document["seen"].items()
                },
                {bytes.fromhex(k): str(why) for k, why in document["distrusted"].items()},
                {bytes.fromhex(k): (bytes.fromhex(a), bytes.fromhex(b)) for k, (a, b) in document["forks"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, WireFormatError, SignatureError) as exc:
            raise LedgerHistoryError(
                f"{path} is not a checkpoint memory this client wrote ({exc}); move it away to start afresh"
            ) from exc


def seen_checkpoints_file(key_path: Path) -> Path:
    """Where a client or server keeps its memory, beside its key file (``KEY.seen-checkpoints.json``)."""
    return key_path.with_name(key_path.name + ".seen-checkpoints.json")


def _fetched(proofs: ProofSource, number: int) -> FinalityProof | None:
    try:
        return proofs(number)
    except (WireFormatError, SignatureError):
        return None  # what came was no proof at all: as if nothing came
