"""Hostile requests to the ledger service, from a seeded generator: every route's parameters and bodies.

Each ``Probe`` is one HTTP request and what may come of it. Signed writes are signed properly (request
headers by ``protocol.http_signing.sign_request``, records by the key they name) around payloads that must not
be accepted: a record with one field swapped for a map, a string with control characters, an integer past
its range, a truncated or nested array; envelopes that are maps; inner records (the receipts inside a
misbehaviour proof) that are maps. Before it is sent, every mutated record is decoded here too and must
raise ``WireFormatError``, so the decoding layer is fuzzed in-process as well as over HTTP, and "refused"
is the only right answer.
"""

from __future__ import annotations

import base64
import json
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import msgspec.inspect as mi
import nacl.signing

from swarmtrust.protocol.challenges import Challenge, Verdict
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.evidence import evidence_digest
from swarmtrust.protocol.http_signing import sign_request
from swarmtrust.protocol.market_records import BondDeposit, PriceQuote, SessionPayment, Transfer
from swarmtrust.protocol.misbehaviour import MisbehaviourProof
from swarmtrust.protocol.model_records import ToleranceRecord
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.records import WireRecord
from swarmtrust.protocol.signing import open_signed
from tests.builders import build_receipt, signed_announcement, signed_receipt
from tests.wire_fields import fields_of, is_shape, optional_inner

MARKET_KINDS: dict[str, type[WireRecord]] = {
    "transfer": Transfer,
    "bond": BondDeposit,
    "price": PriceQuote,
    "payment": SessionPayment,
}
WRONG_CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/html; charset=utf-8",
    "image/png",
)
HOSTILE_VALUES: tuple[Any, ...] = (
    {},
    {"0": 1, "1": b"x"},
    [],
    [[[[[]]]]],
    "",
    "a\x00b",
    "\x1b[2J\x1b[H",
    "line\nbreak",
    "\u202eevil",
    "x" * 5000,
    -1,
    2**64 - 1,  # the largest msgpack carries: past every field's range
    -(2**63),
    1.5,
    math.nan,
    math.inf,
    True,
    None,
    b"",
    b"\x00" * 33,
    msgpack.ExtType(5, b"ext"),
)
HOSTILE_TEXT = (
    "",
    "\x00",
    "a\x00",
    "\x1b[31mred",
    "\u202e",
    "é",
    "🙂",
    "-1",
    "1e309",
    "NaN",
    "true",
    "9" * 40,
    "' OR 1=1 --",
    "../../etc/passwd",
    "x" * 3000,
    "%00",
    "a" * 64,
    "AB" * 32,
    "\x7f",
    "\u0085",
)


def cursor_of(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


LIST_NAMES = ("servers", "receipts", "challenges", "verdicts", "disputes", "verifiers", "misbehaviour", "movements")
HOSTILE_CURSORS = (
    *(cursor_of([name, value]) for name in LIST_NAMES for value in (2**63, 2**70, -(2**63) - 1, -1, 10**30)),
    *(cursor_of([name, value]) for name in LIST_NAMES for value in ("a\x00b", "\x1b", 1.5, None, True, [1], {})),
    cursor_of({"servers": 1}),
    cursor_of([1, 2, 3]),
    cursor_of("servers"),
    cursor_of(["servers"]),
    cursor_of(["servers", "9" * 5000][:2])[:200],
    "!!!",
    "====",
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
)


@dataclass
class Probe:
    """One request, and what the checks after it need to know."""

    method: str
    path: str  # with its query, raw as sent
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    expect: str = "refused"  # refused (4xx, or 200 with nothing accepted), unsupported (415), read (< 500)
    label: str = ""


def plain_values(record: WireRecord) -> list[Any]:
    """A record's wire values, ``[version, field, ...]``, as msgpack would carry them."""
    values: list[Any] = msgpack.unpackb(record.encode(), raw=False)
    return values


def template(cls: type[WireRecord], signer: bytes, rng: random.Random) -> list[Any]:
    """Plausible values for ``cls`` (not necessarily a valid record): something to mutate from."""
    values: list[Any] = [cls.VERSION]
    for name, info in fields_of(cls):
        values.append(signer if name == cls.SIGNER_FIELD else _plausible(info, rng))
    return values


def _plausible(info: mi.Type, rng: random.Random) -> Any:
    if isinstance(info, mi.IntType):
        low, high = info.ge or 0, info.le or 0
        return rng.choice([low, high, (low + high) // 2])
    if isinstance(info, mi.FloatType):
        return 0.5
    if isinstance(info, mi.LiteralType):
        return sorted(info.values)[0]
    if isinstance(info, mi.StrType):
        return "tiny"
    if is_shape(info):
        return [1, 1, 64]
    if optional_inner(info) is not None:
        return None
    if isinstance(info, mi.VarTupleType):
        return []
    assert isinstance(info, mi.BytesType)
    return rng.randbytes(min(info.max_length or 32, 32))


def mutate(values: list[Any], rng: random.Random) -> Any:
    """``values`` with one thing wrong with it."""
    kind = rng.randrange(7)
    if kind <= 2 and len(values) > 1:  # one field swapped for something hostile (the likeliest)
        out = list(values)
        out[rng.randrange(1, len(values))] = rng.choice(HOSTILE_VALUES)
        return out
    if kind == 3:
        return {str(i): v for i, v in enumerate(values)}  # a map where the array belongs
    if kind == 4:
        return values[: rng.randrange(len(values))]  # truncated
    if kind == 5:
        return [rng.choice(["1", 2, -1, None, 1.0, [1]]), *values[1:]]  # a version that is not one
    return [values]  # nested one level too deep


def hostile_body(cls: type[WireRecord], values: list[Any], rng: random.Random) -> bytes:
    """Bytes that ``cls.decode`` must refuse, built by mutating ``values``; checked here before use."""
    for _ in range(50):
        candidate = msgpack.packb(mutate(values, rng), use_bin_type=True)
        try:
            cls.decode(candidate)
        except WireFormatError:
            return candidate
    raise AssertionError(f"no mutation of {cls.__name__} was refused: the generator is broken")


def envelope(
    cls: type[WireRecord], body: bytes, key: nacl.signing.SigningKey, rng: random.Random, *, shape: bool = True
) -> bytes:
    """``body`` in a signed envelope, properly signed by ``key``; with ``shape``, sometimes a broken envelope."""
    signature = key.sign(cls.DOMAIN + body).signature
    if not shape:
        return msgpack.packb([body, signature], use_bin_type=True)
    kind = rng.randrange(8)
    if kind == 0:
        return msgpack.packb({"body": body, "signature": signature}, use_bin_type=True)
    if kind == 1:
        return msgpack.packb([body], use_bin_type=True)
    if kind == 2:
        return msgpack.packb([body, signature, b"extra"], use_bin_type=True)
    if kind == 3:
        return msgpack.packb([body.decode("latin-1"), signature], use_bin_type=True)
    if kind == 4:
        return rng.randbytes(rng.randrange(0, 64))
    return msgpack.packb([body, signature], use_bin_type=True)


@dataclass
class World:
    """What the generator knows of the service it attacks."""

    key: nacl.signing.SigningKey  # signs hostile requests
    server_key_hex: str  # a server the ledger knows (admin actions on it are not refused for being unknown)
    admin_token: str
    rng: random.Random
    get_routes: list[tuple[str, list[tuple[str, str]]]]  # (path template, [(name, where)]) from the spec

    @property
    def signer(self) -> bytes:
        return bytes(self.key.verify_key)

    def signed(self, method: str, path: str, body: bytes, content_type: str | None, expect: str, label: str) -> Probe:
        headers = sign_request(self.key, method, path, body)
        if self.rng.random() < 0.08:  # a wrong media type: refused before anything else is looked at
            headers["Content-Type"] = self.rng.choice(WRONG_CONTENT_TYPES)
            return Probe(method, path, body, headers, "unsupported", label)
        if content_type is not None:
            headers["Content-Type"] = content_type
        return Probe(method, path, body, headers, expect, label)


def receipts_probe(w: World) -> Probe:
    rng = w.rng
    items: list[Any] = []
    for _ in range(rng.randrange(1, 4)):
        receipt = build_receipt(w.key)
        items.append(envelope(Receipt, hostile_body(Receipt, plain_values(receipt), rng), w.key, rng))
    if rng.random() < 0.3:  # the batch itself is hostile
        batch: Any = rng.choice([{"0": items[0]}, [*items, 7], ["text"], 5, None, [[items[0]]]])
        body = msgpack.packb(batch, use_bin_type=True)
    else:
        body = msgpack.packb(items, use_bin_type=True)
    return w.signed("POST", "/api/v1/receipts", body, "application/x-msgpack", "refused", "receipts")


def challenge_probe(w: World) -> Probe:
    rng = w.rng
    evidence = msgpack.packb([2, [rng.choice(HOSTILE_VALUES)], [], [], []], use_bin_type=True, default=repr)
    values = template(Challenge, w.signer, rng)
    values[2] = w.signer  # submitter
    values[6], values[7] = 0, 4  # block span
    values[11], values[12] = evidence_digest(evidence), len(evidence)
    kind = rng.randrange(5)
    if kind == 0:
        # A valid challenge naming hostile evidence: refused (422), and the refusal is recorded against its
        # submitter; the one write this generator expects.
        challenge = Challenge(*values[1:])
        wire = envelope(Challenge, challenge.encode(), w.key, rng, shape=False)
        body = msgpack.packb([wire, evidence], use_bin_type=True)
        return w.signed("POST", "/api/v1/challenges", body, "application/x-msgpack", "forged", "challenge+evidence")
    if kind == 1:
        shaped = rng.choice([{"c": b"x", "e": evidence}, [b"x"], [b"x", evidence, b"y"], [1, evidence], "x", [{}]])
        body = msgpack.packb(shaped, use_bin_type=True)
    else:
        wire = envelope(Challenge, hostile_body(Challenge, values, rng), w.key, rng)
        body = msgpack.packb([wire, evidence], use_bin_type=True)
    return w.signed("POST", "/api/v1/challenges", body, "application/x-msgpack", "refused", "challenge")


def verdict_probe(w: World) -> Probe:
    rng = w.rng
    values = template(Verdict, w.signer, rng)
    if rng.random() < 0.15:  # well formed, but for an assignment the ledger never made
        body = envelope(Verdict, Verdict(*values[1:]).encode(), w.key, rng, shape=False)
    else:
        body = envelope(Verdict, hostile_body(Verdict, values, rng), w.key, rng)
    return w.signed("POST", "/api/v1/verdicts", body, "application/octet-stream", "refused", "verdict")


def announce_probe(w: World) -> Probe:
    record = signed_announcement(w.key).record
    cls = type(record)
    body = envelope(cls, hostile_body(cls, plain_values(record), w.rng), w.key, w.rng)
    return w.signed("POST", "/api/v1/servers/announce", body, "application/octet-stream", "refused", "announce")


def market_probe(w: World) -> Probe:
    kind = w.rng.choice(sorted(MARKET_KINDS))
    cls = MARKET_KINDS[kind]
    body = envelope(cls, hostile_body(cls, template(cls, w.signer, w.rng), w.rng), w.key, w.rng)
    return w.signed("POST", f"/api/v1/market/{kind}", body, "application/octet-stream", "refused", f"market/{kind}")


def misbehaviour_probe(w: World) -> Probe:
    rng = w.rng
    values = template(MisbehaviourProof, w.signer, rng)
    server = bytes(rng.randbytes(32))
    if rng.random() < 0.5:
        # A well-formed, properly signed proof whose inner receipts are hostile (a map where the envelope or the
        # record belongs, a field out of range): the outer record decodes; the inner ones must not.
        inner: list[bytes] = []
        while len(inner) < 2:
            receipt = signed_receipt(w.key)
            hostile = hostile_body(Receipt, plain_values(receipt.record), rng)
            wire = rng.choice(
                [
                    envelope(Receipt, hostile, w.key, rng, shape=False),
                    msgpack.packb({"body": receipt.body, "signature": receipt.signature}, use_bin_type=True),
                    msgpack.packb([{"0": 1}, receipt.signature], use_bin_type=True),
                ]
            )
            assert_refused(lambda wire=wire: open_signed(Receipt, wire))
            if len(wire) <= dict(fields_of(MisbehaviourProof))["first"].max_length:  # type: ignore[attr-defined]
                inner.append(wire)
        values[2], values[3] = server, receipt.record.session_id
        values[4], values[5] = inner
        values[6] = time.time_ns() // 1_000_000  # on time, so the ledger gets as far as the receipts
        body = envelope(MisbehaviourProof, MisbehaviourProof(*values[1:]).encode(), w.key, rng, shape=False)
    else:
        body = envelope(MisbehaviourProof, hostile_body(MisbehaviourProof, values, rng), w.key, rng)
    return w.signed("POST", "/api/v1/misbehaviour", body, "application/octet-stream", "refused", "misbehaviour")


def assert_refused(decode: Callable[[], Any]) -> None:
    try:
        decode()
    except WireFormatError:
        return
    raise AssertionError("a hostile inner record decoded")


def admin_probe(w: World) -> Probe:
    rng = w.rng
    auth = {"Authorization": f"Bearer {w.admin_token}", "Content-Type": "application/json"}
    loose = ["100", True, False, 1e3, 1.0, 100.5, -5, 0, 10**16, None, [], {}, "1e3", 2**64]
    if rng.random() < 0.5:
        body: Any = {"account": "treasury", "amount": rng.choice(loose), "reason": "faucet"}
        if rng.random() < 0.3:  # or a control character in the reason, or an account that is none
            body = body | {"amount": 100, "reason": rng.choice(["a\x00", "\x1b[2J", "tab\there", "\u0085", "", 5])}
        if rng.random() < 0.1:
            body = {"account": rng.choice(["TREASURY", "escrow", "\x00", 1]), "amount": 100, "reason": "x"}
        raw = json.dumps(body).encode()
        return Probe("POST", "/api/v1/admin/mint", raw, auth, "refused", "admin/mint")
    action = rng.choice(["quarantine", "release"])
    reason = rng.choice(["a\x00b", "\x1b[2J", "line\nbreak", "", "   ", 7, None, True, "x" * 401, "\x7f", ["x"]])
    raw = json.dumps({"reason": reason}).encode()
    return Probe("POST", f"/api/v1/admin/servers/{w.server_key_hex}/{action}", raw, auth, "refused", "admin/action")


BAD_DTYPE_LISTS: tuple[Any, ...] = (
    [],
    ["float64"],
    ["float32", "float32"],
    ["FLOAT32"],
    ["bfloat16\x00"],
    [1],
    [None],
    [["float32"]],
    "float32",
    None,
    {"0": "float32"},
    ["float32", "bfloat16", "float16", "float32"],
    ["float32"] * 1000,
    ["int8"],
    [""],
)


def model_probe(w: World) -> Probe:
    """The model routes' writes: a registration whose dtypes no registration can hold (any model id, hostile or
    not), or a tolerance record mutated into one that must not decode, signed by its calibrator."""
    rng = w.rng
    auth = {"Authorization": f"Bearer {w.admin_token}"}
    if rng.random() < 0.1:  # no token, or a wrong one: refused before the body is read
        wrong = rng.choice(["-", "wrong", "x" * 3000, "' OR 1=1 --", w.admin_token + "x", w.admin_token[:-1]])
        auth = rng.choice([{}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": "Basic x"}])
    if rng.random() < 0.5:
        model: Any = rng.choice([*HOSTILE_TEXT, "tiny", 7, None, ["tiny"], {"id": "tiny"}])
        body: Any = {"model_id": model, "dtypes": rng.choice(BAD_DTYPE_LISTS)}
        if rng.random() < 0.2:
            body = rng.choice([[model], model, {"model_id": "tiny"}, {"dtypes": ["float32"]}, {}])
        raw = json.dumps(body).encode()
        if rng.random() < 0.1:
            raw = raw[: rng.randrange(len(raw))]  # cut short: not JSON
        headers = auth | {"Content-Type": "application/json"}
        return Probe("POST", "/api/v1/admin/models", raw, headers, "refused", "admin/models")
    wire = envelope(ToleranceRecord, hostile_body(ToleranceRecord, template(ToleranceRecord, w.signer, rng), rng),
                    w.key, rng)  # fmt: skip
    headers = auth | {"Content-Type": "application/x-msgpack"}
    if rng.random() < 0.08:  # a wrong media type: 415
        headers["Content-Type"] = rng.choice(WRONG_CONTENT_TYPES)
    return Probe("POST", "/api/v1/admin/tolerances", wire, headers, "refused", "admin/tolerances")


def read_probe(w: World) -> Probe:
    """A read of any GET route in the spec, each parameter hostile or left out (signed where the route is)."""
    rng = w.rng
    template_path, params = rng.choice(w.get_routes)
    path = template_path
    query: list[tuple[str, str]] = []
    for name, where in params:
        value = rng.choice(HOSTILE_CURSORS) if name == "cursor" and rng.random() < 0.7 else rng.choice(HOSTILE_TEXT)
        if where == "path":
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        elif rng.random() < 0.6:
            query.append((name, value))
    if rng.random() < 0.1:
        query.append((rng.choice(["limit", "cursor", "zzz"]), rng.choice(HOSTILE_TEXT)))
    full = path + ("?" + urllib.parse.urlencode(query) if query else "")
    if template_path in ("/api/v1/assignments", "/api/v1/evidence/{digest}"):
        try:
            headers = sign_request(w.key, "GET", full, b"")
        except WireFormatError:  # a path too long to sign: sent unsigned
            headers = {}
        return Probe("GET", full, b"", headers, "read", f"GET {template_path}")
    return Probe("GET", full, b"", {}, "read", f"GET {template_path}")


def dashboard_probe(w: World) -> Probe:
    rng = w.rng
    cookie = rng.choice(["", "1.2.3", "9" * 40 + ".x.y", "4102444800.abc.def", "é.é.é", "\x7f", "a.b", "."])
    login = rng.choice(HOSTILE_TEXT)[:40]
    headers = {"Cookie": f"swarmtrust_admin={urllib.parse.quote(cookie)}; swarmtrust_login={urllib.parse.quote(login)}"}
    kind = rng.randrange(4)
    if kind == 0:
        return Probe("GET", rng.choice(["/dashboard", "/dashboard/servers", "/dashboard/market"]), b"", headers, "read")
    form = urllib.parse.urlencode({"token": rng.choice(HOSTILE_TEXT), "csrf": rng.choice(HOSTILE_TEXT)}).encode()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    if rng.random() < 0.5:
        headers["Origin"] = rng.choice(["https://evil.example", "null", "http://127.0.0.1:1"])
    target = rng.choice(
        ["/dashboard/login", "/dashboard/logout", "/dashboard/audit", f"/dashboard/servers/{w.server_key_hex}/action"]
    )
    return Probe("POST", target, form, headers, "read", f"dashboard {target}")


GENERATORS: tuple[tuple[Callable[[World], Probe], int], ...] = (
    (read_probe, 40),
    (receipts_probe, 10),
    (challenge_probe, 9),
    (verdict_probe, 8),
    (announce_probe, 8),
    (market_probe, 8),
    (misbehaviour_probe, 7),
    (admin_probe, 6),
    (model_probe, 5),
    (dashboard_probe, 4),
)


def probes(world: World, count: int) -> Iterator[Probe]:
    makers = [maker for maker, weight in GENERATORS for _ in range(weight)]
    for _ in range(count):
        yield world.rng.choice(makers)(world)
