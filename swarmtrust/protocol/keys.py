"""Ed25519 key files: create them private (mode 0600) and refuse ones that others can read.

A key file is one line, ``swarmtrust-ed25519-secret-v1:<64 hex digits of the seed>``. The public key,
which names a node everywhere (DHT records, receipts, ledger, URLs), is derived from it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import nacl.signing

from swarmtrust.protocol.errors import KeyFileError

KEY_FILE_PREFIX = "swarmtrust-ed25519-secret-v1:"
SEED_SIZE = 32


def generate_key_file(path: Path, *, force: bool = False) -> nacl.signing.SigningKey:
    """Write a fresh signing key to ``path`` with mode 0600; refuses to replace a file unless ``force``."""
    if path.exists() and not force:
        raise KeyFileError(f"{path} already exists; pass --force to replace it (its old key is then lost for good)")
    if path.is_dir():
        raise KeyFileError(f"{path} is a directory; give a file path for the key")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = nacl.signing.SigningKey.generate()
    text = KEY_FILE_PREFIX + bytes(key).hex() + "\n"
    # Written under a temporary name with 0600 from the first byte, then renamed: no moment exists in
    # which the secret is readable by others, and a crash never leaves a half-written key behind.
    fd, tmp_name = tempfile.mkstemp(prefix=".keygen-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp_name, path)
        else:
            os.link(tmp_name, path)  # fails if someone created ``path`` meanwhile: never overwrite silently
            os.unlink(tmp_name)
    except FileExistsError as exc:
        os.unlink(tmp_name)
        raise KeyFileError(f"{path} appeared while writing; pass --force to replace it") from exc
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return key


def load_signing_key(path: Path) -> nacl.signing.SigningKey:
    """Read a key file, refusing one that group or others may read or write."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{path} does not exist; create a key with `swarmtrust node keygen --out {path}`") from exc
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"{path} is not a regular file")
    if os.name == "posix" and info.st_mode & 0o077:
        raise KeyFileError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"a signing key must be private: run `chmod 600 {path}`"
        )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not text.startswith(KEY_FILE_PREFIX):
        raise KeyFileError(f"{path} is not a swarmtrust key file (create one with `swarmtrust node keygen`)")
    try:
        seed = bytes.fromhex(text[len(KEY_FILE_PREFIX) :])
    except ValueError as exc:
        raise KeyFileError(f"{path} is damaged: the seed is not hexadecimal") from exc
    if len(seed) != SEED_SIZE:
        raise KeyFileError(f"{path} is damaged: the seed has {len(seed)} bytes instead of {SEED_SIZE}")
    return nacl.signing.SigningKey(seed)


def public_key_hex(key: nacl.signing.SigningKey) -> str:
    """The hex form of the public key, as used in URLs, the DHT and the ledger."""
    return bytes(key.verify_key).hex()


def parse_public_key(text: str) -> bytes:
    """A 32-byte public key from its 64-digit hex form; ValueError with the reason otherwise."""
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not hexadecimal; a public key is 64 hex digits") from exc
    if len(key) != 32:
        raise ValueError(f"a public key is 32 bytes (64 hex digits), got {len(key)} bytes")
    return key
