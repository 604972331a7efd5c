from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from swarmtrust.protocol.errors import KeyFileError
from swarmtrust.protocol.keys import (
    KEY_FILE_PREFIX,
    generate_key_file,
    load_signing_key,
    parse_public_key,
    public_key_hex,
)


def test_keygen_writes_a_private_file_that_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "server.key"
    key = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes(load_signing_key(path)) == bytes(key)
    assert len(public_key_hex(key)) == 64
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".keygen-")], "temporary file left behind"


def test_keygen_never_overwrites_silently(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    first = generate_key_file(path)
    with pytest.raises(KeyFileError, match="--force"):
        generate_key_file(path)
    assert bytes(load_signing_key(path)) == bytes(first), "the refused call changed the key file"
    second = generate_key_file(path, force=True)
    assert bytes(second) != bytes(first)
    assert bytes(load_signing_key(path)) == bytes(second)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_others_can_access_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "server.key"
    generate_key_file(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match=f"chmod 600 {path}"):
        load_signing_key(path)


def test_missing_key_points_at_keygen(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="swarmtrust node keygen"):
        load_signing_key(tmp_path / "absent.key")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ssh-ed25519 AAAA", "not a swarmtrust key file"),
        (KEY_FILE_PREFIX + "zz" * 32, "not hexadecimal"),
        (KEY_FILE_PREFIX + "ab" * 31, "31 bytes"),
    ],
)
def test_damaged_key_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match=message):
        load_signing_key(path)


def test_parse_public_key() -> None:
    assert parse_public_key("ab" * 32) == bytes([0xAB]) * 32
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_public_key("ab" * 31)
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_public_key("xyz")
