"""Dashboard sessions and administrators' writes over real HTTP, against `swarmtrust api serve` processes: logout
ends a session in every process, a new token ends them all, wrong tokens are throttled per address, the login
form refuses cross-site posts, admin writes take strict types and plain text, and msgpack routes refuse other
media types."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.http_signing import sign_request
from tests.builders import new_key, signed_announcement

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
OTHER_TOKEN = secrets.token_urlsafe(24)


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[LocalSwarm]:
    with LocalSwarm(tmp_path) as local:
        yield local


def login_form(http: httpx.Client) -> str:
    """Open the login page (which sets the login cookie) and return the form's CSRF token."""
    page = http.get("/dashboard/login")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None, "the login form carries a CSRF token"
    return found.group(1)


def log_in(http: httpx.Client, token: str = TOKEN) -> httpx.Response:
    return http.post("/dashboard/login", data={"token": token, "csrf": login_form(http)})


def session_cookie(http: httpx.Client) -> str:
    cookie = http.cookies.get("swarmtrust_admin", path="/dashboard")
    assert cookie, "logged in"
    return cookie


def page_csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_logout_ends_the_session_in_every_process_and_a_new_token_ends_them_all(swarm: LocalSwarm) -> None:
    db = f"sqlite:///{swarm.workdir / 'ledger.db'}"
    first = swarm.start_api(db_url=db, admin_token=TOKEN)
    second = swarm.start_api(db_url=db, admin_token=TOKEN)
    with httpx.Client(base_url=first, timeout=30) as http:
        assert log_in(http).status_code == 303
        cookie = session_cookie(http)
        overview = http.get("/dashboard")
        assert overview.status_code == 200
        kept = {"swarmtrust_admin": cookie}
        assert httpx.get(f"{second}/dashboard", cookies=kept).status_code == 200, "any process takes the session"

        logout = http.post("/dashboard/logout", data={"csrf": page_csrf(overview)})
        assert logout.status_code == 303 and logout.headers["location"] == "/dashboard/login"

    # The browser dropped the cookie; whoever kept a copy is sent to the login page by either process.
    for url in (first, second):
        stale = httpx.get(f"{url}/dashboard", cookies=kept)
        assert stale.status_code == 303 and stale.headers["location"] == "/dashboard/login"
        refused = httpx.post(f"{url}/dashboard/audit", cookies=kept, data={"csrf": "0" * 64})
        assert refused.status_code == 303

    # A session made under one token means nothing to a service holding another.
    renewed = swarm.start_api(db_url=db, admin_token=OTHER_TOKEN)
    with httpx.Client(base_url=first, timeout=30) as http:
        log_in(http)
        live = session_cookie(http)
    assert httpx.get(f"{first}/dashboard", cookies={"swarmtrust_admin": live}).status_code == 200
    assert httpx.get(f"{renewed}/dashboard", cookies={"swarmtrust_admin": live}).status_code == 303


def test_wrong_tokens_are_throttled_per_address_with_retry_after(swarm: LocalSwarm) -> None:
    url = swarm.start_api(admin_token=TOKEN)
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(5):
            assert log_in(http, "not-the-token-at-all").status_code == 401
        throttled = log_in(http, "still-guessing")
        assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 60
        assert "Too many wrong tokens" in throttled.text
        right = log_in(http, TOKEN)
        assert right.status_code == 429, "while throttled, even the right token waits: no oracle for guessers"
        assert http.cookies.get("swarmtrust_admin", path="/dashboard") is None


def test_the_login_form_refuses_cross_site_posts(swarm: LocalSwarm) -> None:
    url = swarm.start_api(admin_token=TOKEN)
    # Another site can make a browser post the form, but cannot read our cookie or page for the token.
    forged = httpx.post(f"{url}/dashboard/login", data={"token": TOKEN, "csrf": "0" * 64}, timeout=30)
    assert forged.status_code == 403 and "swarmtrust_admin" not in forged.cookies
    with httpx.Client(base_url=url, timeout=30) as http:
        csrf = login_form(http)
        elsewhere = http.post(
            "/dashboard/login", data={"token": TOKEN, "csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 403 and http.cookies.get("swarmtrust_admin", path="/dashboard") is None
        csrf = login_form(http)  # the refusal renewed the login cookie: a fresh form
        same = http.post("/dashboard/login", data={"token": TOKEN, "csrf": csrf}, headers={"Origin": url})
        assert same.status_code == 303 and session_cookie(http)


def test_admin_writes_take_strict_integers_and_plain_text(swarm: LocalSwarm) -> None:
    url = swarm.start_api(admin_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for amount in ("100", True, 1e3, 1.0, None):
        body = {"account": "treasury", "amount": amount, "reason": "faucet"}
        answer = httpx.post(f"{url}/api/v1/admin/mint", json=body, headers=auth, timeout=30)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", amount
    for reason in ("faucet\x00", "\x1b[2Jfaucet", "two\nlines"):
        body = {"account": "treasury", "amount": 100, "reason": reason}
        assert httpx.post(f"{url}/api/v1/admin/mint", json=body, headers=auth, timeout=30).status_code == 422
    assert httpx.get(f"{url}/health", timeout=30).json()["head_seq"] == 0, "nothing was minted"
    body = {"account": "treasury", "amount": 100, "reason": "faucet"}
    assert httpx.post(f"{url}/api/v1/admin/mint", json=body, headers=auth, timeout=30).status_code == 200


def test_msgpack_routes_refuse_other_media_types_before_anything_else(swarm: LocalSwarm) -> None:
    url = swarm.start_api()
    key = new_key()
    wire = signed_announcement(key).to_wire()
    path = "/api/v1/servers/announce"
    for media in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        headers = sign_request(key, "POST", path, wire) | {"Content-Type": media}
        answer = httpx.post(f"{url}{path}", content=wire, headers=headers, timeout=30)
        assert answer.status_code == 415 and answer.json()["error"]["code"] == "unsupported_media_type"
    assert httpx.get(f"{url}/health", timeout=30).json()["head_seq"] == 0
    headers = sign_request(key, "POST", path, wire) | {"Content-Type": "application/octet-stream; charset=binary"}
    assert httpx.post(f"{url}{path}", content=wire, headers=headers, timeout=30).status_code == 200


def test_names_with_control_characters_are_refused_and_bidi_overrides_shown_for_what_they_are(
    swarm: LocalSwarm,
) -> None:
    url = swarm.start_api(admin_token=TOKEN)
    with pytest.raises(WireFormatError, match="control character U\\+0000"):
        signed_announcement(new_key(), name="honest\x00")  # refused where records are made, too

    # Built by hand, signed properly: the ledger refuses it all the same.
    liar = new_key()
    record = signed_announcement(liar, name="plain").record
    body = msgpack.packb(
        [record.VERSION, *[("evil\x1b[0m" if v == "plain" else v) for v in _fields(record)]], use_bin_type=True
    )
    wire = pack([body, liar.sign(type(record).DOMAIN + body).signature])
    with LedgerApi(url, liar) as api:
        with pytest.raises(LedgerApiError, match="control character"):
            api.request("POST", "/servers/announce", wire, "application/octet-stream")
        shown = "evil\u202egnp.exe"
        api.request("POST", "/servers/announce", signed_announcement(liar, name=shown).to_wire(), "application/msgpack")

    with httpx.Client(base_url=url, timeout=30) as http:
        log_in(http)
        page = http.get(f"/dashboard/servers/{bytes(liar.verify_key).hex()}")
    assert page.status_code == 200
    assert "evil[U+202E]gnp.exe" in page.text and "\u202e" not in page.text


def _fields(record: Any) -> list[Any]:
    values: list[Any] = msgpack.unpackb(record.encode(), raw=False)
    return values[1:]  # after the version
