"""Every session id this server has opened, kept on disk, so that it never signs two receipts for one step.

Clients choose session ids. A server that forgot an id (a restart, a closed session) and let a client open
it again would sign a second, different receipt for its step 0 (and chain the next steps to it): two of its
own signatures that convict it of misbehaviour (``protocol.misbehaviour``). So the server claims an id before
it signs anything in it, durably (``durable``: the entry is on disk before the first receipt is signed),
and refuses any id it has claimed before, whichever handler (an inference stream, a stateless forward)
asks and however many ask at once. Failover and restarts on the client's side always take fresh ids.

The memory is bounded. An id is kept for ``SESSION_MEMORY_MS`` after it was opened and forgotten only when
the file is compacted (at start-up), or in memory once a day while serving (the file keeps it until the next
start-up). Two guards make forgetting safe:

- nothing is signed in a session opened more than ``MAX_SESSION_AGE_MS`` ago, so every receipt of a first
  opening is dated before ``opened + MAX_SESSION_AGE_MS``;
- forgetting sets a time before which nothing is signed: the latest opening forgotten plus
  ``MAX_SESSION_AGE_MS + PROOF_HORIZON_MS`` (+1 ms). It is kept in the file, so a clock set back cannot date
  a second opening's receipts near the first's; and it is never later than needed, so a clock that read far
  in the future at start-up (and forgot ids too early) stops signing only until then, not until that
  future date.

If the registry file is lost, the ids it held are lost with it: serve under a new key
(``swarmtrust node keygen``), never under the old one with an empty registry.

So receipts of two openings of one id lie more than ``SESSION_MEMORY_MS - MAX_SESSION_AGE_MS`` apart,
beyond the ``PROOF_HORIZON_MS`` within which the ledger convicts. One process at a time holds the file
(an exclusive lock); one key, one file, so two servers must never share a key.

File format: a header (8-byte magic, u64 time of the last compaction in ms), then one entry per claimed id
(16-byte session id, u64 time it was opened in ms), all little-endian.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from swarmtrust.protocol.errors import SwarmtrustError
from swarmtrust.protocol.misbehaviour import DAY_MS, MAX_SESSION_AGE_MS, PROOF_HORIZON_MS, SESSION_MEMORY_MS
from swarmtrust.protocol.receipts import SESSION_ID_SIZE

log = logging.getLogger(__name__)

MAGIC = b"STSESS01"
_HEADER = struct.Struct("<8sQ")
_ENTRY = struct.Struct(f"<{SESSION_ID_SIZE}sQ")

Clock = Callable[[], int]
COMPACT_EVERY_MS = DAY_MS  # while serving, ids past the memory are dropped from memory this often
LOST_REGISTRY = "if the registry is lost, serve under a new key (`swarmtrust node keygen`), never the old one"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class SessionRegistryError(SwarmtrustError):
    """The registry file cannot be used (unreadable, not ours, or held by another server process)."""


class SessionRefusedError(SwarmtrustError):
    """This server will not open (or go on signing in) this session; the message says what to do."""


class SessionRegistry:
    """Claimed session ids, in memory and (unless opened ``in_memory``) appended to a file before use."""

    def __init__(
        self,
        file: IO[bytes] | None,
        claimed: dict[bytes, int],
        forgotten_at_ms: int,
        *,
        clock: Clock = wall_ms,
        max_age_ms: int = MAX_SESSION_AGE_MS,
        memory_ms: int = SESSION_MEMORY_MS,
        lock: IO[bytes] | None = None,
    ) -> None:
        self._file = file
        self._written = self._synced = 0  # claims appended, and claims known to be on disk
        self._lock = lock  # held (flock) while this process serves the key
        self._claimed = claimed
        self.forgotten_at_ms = forgotten_at_ms
        self._clock = clock
        self._max_age_ms = max_age_ms
        self._memory_ms = memory_ms
        self._compacted_ms = clock()

    @classmethod
    def in_memory(cls, *, clock: Clock = wall_ms) -> SessionRegistry:
        """A registry that lives as long as this process (tests; a server restart forgets it)."""
        return cls(None, {}, 0, clock=clock)

    @classmethod
    def open(
        cls, directory: Path, server_key: bytes, *, clock: Clock = wall_ms, memory_ms: int = SESSION_MEMORY_MS
    ) -> SessionRegistry:
        """The registry of ``server_key`` under ``directory``, compacted: ids opened more than ``memory_ms``
        ago are forgotten. SessionRegistryError when another process holds it or it is not a registry."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"sessions-{server_key.hex()}.log"
        lock = (directory / f"{path.name}.lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise SessionRegistryError(
                f"{path} is held by another server process: one key is served by one process; stop the other "
                "one, or give this server a key of its own (`swarmtrust node keygen`)"
            ) from None
        try:
            claimed, forgotten_at = _read(path)
            kept, forgotten_at = forget(claimed, forgotten_at, clock() - memory_ms)
            _rewrite(path, kept, forgotten_at)
            file = path.open("ab")
        except BaseException:
            lock.close()
            raise
        return cls(file, kept, forgotten_at, clock=clock, memory_ms=memory_ms, lock=lock)

    def __contains__(self, session_id: bytes) -> bool:
        return session_id in self._claimed

    def __len__(self) -> int:
        return len(self._claimed)

    def claim(self, session_id: bytes) -> int:
        """Claim a session id never opened here, durably; the time it opened (ms). SessionRefusedError if it
        was opened here before, or the clock reads earlier than the last time ids were forgotten."""
        if session_id in self._claimed:
            raise SessionRefusedError(
                f"session {session_id.hex()} was opened on this server before and is never opened again; "
                "open a new session with a fresh random id (its history replayed as one prefill)"
            )
        now = self._signing_time()
        if now - self._compacted_ms >= COMPACT_EVERY_MS:  # the file keeps them until the next start-up
            self._claimed, self.forgotten_at_ms = forget(self._claimed, self.forgotten_at_ms, now - self._memory_ms)
            self._compacted_ms = now
        self._claimed[session_id] = now  # before any await: a concurrent open of the same id is refused
        if self._file is not None:
            self._file.write(_ENTRY.pack(session_id, now))
            self._file.flush()
            self._written += 1
        return now

    async def durable(self) -> None:
        """Wait until every claim made so far is on disk; call it between ``claim`` and the first signature.
        The fsync runs in a thread, so the event loop serves other sessions meanwhile (and concurrent opens
        share one fsync)."""
        if self._file is None or self._synced >= self._written:
            return
        target = self._written
        await asyncio.to_thread(os.fsync, self._file.fileno())
        self._synced = max(self._synced, target)

    def signing_time(self, opened_ms: int) -> int:
        """The time to sign a receipt of a session opened at ``opened_ms`` with; SessionRefusedError when the
        session is too old to sign in (its client opens a new one)."""
        now = self._signing_time()
        if now - opened_ms > self._max_age_ms:
            raise SessionRefusedError(
                f"this session opened over {self._max_age_ms // 3_600_000} hours ago and signs no more receipts; "
                "open a new session with a fresh random id"
            )
        return now

    def _signing_time(self) -> int:
        now = self._clock()
        if now < self.forgotten_at_ms:
            raise SessionRefusedError(
                f"this server's clock ({now} ms) is earlier than when it last forgot old sessions "
                f"({self.forgotten_at_ms} ms); it signs nothing until its clock is right again"
            )
        return now

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def forget(claimed: dict[bytes, int], forgotten_at: int, before_ms: int) -> tuple[dict[bytes, int], int]:
    """The ids opened at or after ``before_ms``, and the time before which nothing may be signed once the
    others are forgotten: late enough that a second opening's receipts lie beyond the proof horizon of any
    receipt of a forgotten one (signed at most ``MAX_SESSION_AGE_MS`` after it opened)."""
    kept = {sid: opened for sid, opened in claimed.items() if opened >= before_ms}
    if len(kept) < len(claimed):
        latest = max(opened for sid, opened in claimed.items() if sid not in kept)
        forgotten_at = max(forgotten_at, latest + MAX_SESSION_AGE_MS + PROOF_HORIZON_MS + 1)
        log.info("forgot %d session ids opened before %d ms", len(claimed) - len(kept), before_ms)
    return kept, forgotten_at


def _read(path: Path) -> tuple[dict[bytes, int], int]:
    if not path.exists():
        return {}, 0
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        if data:
            raise SessionRegistryError(
                f"{path} is truncated; it is not a session registry. Restore it from a backup; {LOST_REGISTRY}"
            )
        return {}, 0
    magic, forgotten_at = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SessionRegistryError(
            f"{path} is not a swarmtrust session registry. Restore it from a backup; {LOST_REGISTRY}"
        )
    claimed: dict[bytes, int] = {}
    whole = (len(data) - _HEADER.size) // _ENTRY.size  # a torn last entry was never acted on: dropped
    for index in range(whole):
        session_id, opened = _ENTRY.unpack_from(data, _HEADER.size + index * _ENTRY.size)
        claimed[session_id] = opened
    return claimed, forgotten_at


def _rewrite(path: Path, claimed: dict[bytes, int], forgotten_at: int) -> None:
    """Replace the file atomically with ``claimed`` (write, fsync, rename, fsync the directory)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        out.write(_HEADER.pack(MAGIC, forgotten_at))
        out.write(b"".join(_ENTRY.pack(sid, opened) for sid, opened in claimed.items()))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
