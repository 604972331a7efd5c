"""The login throttle on a clock of our own, and administrators' session cookies and CSRF tokens against
anything a browser (or someone pretending to be one) could send."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.api.admin_auth import SESSION_SECONDS, AdminCredentials, session_expiry
from swarmtrust.api.dashboard.text import neutralise_bidi
from swarmtrust.api.login_throttle import LoginThrottle

TOKEN = "a-token-of-enough-length-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_after_too_many_wrong_tokens_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60.0, clock=clock)
    for second in (0, 10, 20):
        clock.now = 1000.0 + second
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 40, "the first failure leaves the window at 1060"
    assert throttle.retry_after("10.0.0.2") == 0, "per address"
    clock.now = 1060.0
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10


def test_a_right_token_clears_the_record_and_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(2, 60.0, max_addresses=3, clock=clock)
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 0, "one failure since the right token"
    for address in ("b", "c", "d"):
        throttle.failed(address)
        throttle.failed(address)
    assert throttle.retry_after("a") == 0 and throttle.retry_after("b") > 0
    throttle.failed("e")  # a fourth address evicts the quietest, b
    assert throttle.retry_after("b") == 0 and throttle.retry_after("d") > 0


def test_a_throttle_that_could_never_let_anyone_in_is_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        LoginThrottle(0, 60.0)


def test_sessions_expire_are_bound_to_the_token_and_each_is_distinct() -> None:
    admin = AdminCredentials.from_token(TOKEN, "admin")
    cookie = admin.new_session(now=5000.0)
    assert admin.session_valid(cookie, now=5000.0 + SESSION_SECONDS - 1)
    assert not admin.session_valid(cookie, now=5000.0 + SESSION_SECONDS + 1)
    assert not AdminCredentials.from_token(TOKEN + "x", "admin").session_valid(cookie, now=5000.0)
    assert admin.new_session(now=5000.0) != cookie, "a random id: logging out ends one session, not all"
    parsed = session_expiry(cookie)
    assert parsed is not None and parsed[0] == 5000 + SESSION_SECONDS
    expires, session_id, mac = cookie.split(".")
    assert not admin.session_valid(f"{int(expires) + 1000}.{session_id}.{mac}", now=5000.0), "expiry is signed"


@settings(max_examples=300, deadline=None)
@given(cookie=st.text(max_size=120), offered=st.text(st.characters(exclude_categories=()), max_size=120))
def test_any_cookie_or_form_value_is_refused_without_an_exception(cookie: str, offered: str) -> None:
    admin = AdminCredentials.from_token(TOKEN, "admin")
    assert not admin.session_valid(cookie)
    assert not admin.csrf_valid(cookie, offered)
    assert not admin.login_csrf_valid(cookie, offered)
    assert not admin.token_matches(offered)
    session_expiry(cookie)


def test_the_dashboard_shows_bidi_controls_as_their_names() -> None:
    assert neutralise_bidi("evil\u202egnp.exe") == "evil[U+202E]gnp.exe"
    assert neutralise_bidi("\u2066x\u2069\u200f") == "[U+2066]x[U+2069][U+200F]"
    assert neutralise_bidi("名前 👩\u200d💻") == "名前 👩\u200d💻", "other Unicode is left alone"
    assert neutralise_bidi(42) == 42
