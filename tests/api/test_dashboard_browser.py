"""The admin dashboard in a real browser: Playwright driving Debian's Chromium against a `swarmtrust api serve`
process. Log in, read the overview, open a server, quarantine it, and check what every page shows.

Screenshots of each page go to ``SWARMTRUST_TEST_ARTIFACTS`` (default: ``test-artifacts/dashboard`` in the
working directory), kept after the run for people to look at.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.directory import record_announcement
from swarmtrust.ledger.market import mint, take_node_record
from swarmtrust.ledger.market_rules import TREASURY
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.node.ledger_api import LedgerApi
from swarmtrust.protocol.market_records import MICRO, BondDeposit, PriceQuote, SessionPayment
from swarmtrust.protocol.signing import sign_record
from tests.builders import challenge_for, evidence_session, new_key, signed_announcement, signed_verdict
from tests.conftest import missing_real_component

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
XSS_NAME = "<script>window.pwned=1</script><img src=x onerror=pwned=2>"
CHROMIUM_ENV = "SWARMTRUST_CHROMIUM"
ARTIFACTS_ENV = "SWARMTRUST_TEST_ARTIFACTS"


def chromium_path() -> str:
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing_real_component(
            f"browser tests need Chromium: `apt-get install chromium` (or set {CHROMIUM_ENV}=/path/to/chromium)"
        )
    assert found is not None
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_real_component("browser tests need Playwright: install the project with its dev extras")
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV, "test-artifacts")) / "dashboard" / str(request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Swarm:
    """A ledger with four announced servers: one passed its checks, one is in an open dispute, one named
    with HTML, and a cheater convicted by consensus after it was bonded and paid; and their market."""

    honest: str
    disputed: str
    hostile: str
    cheat: str


T0 = time.time_ns() // 1_000_000 - 6 * 3_600_000  # checks in the last hours, so the plot spreads them out


def build_ledger(db_url: str) -> Swarm:
    engine = create_ledger_engine(db_url)
    try:
        upgrade(engine)
        honest, disputed, hostile, cheat, client = (new_key() for _ in range(5))
        verifiers = [new_key() for _ in range(3)]
        announced = (
            (honest, "honest-a", 0, 4),
            (disputed, "shaky-b", 4, 8),
            (hostile, XSS_NAME, 0, 8),
            (cheat, "cheat-c", 4, 8),
        )
        for key, name, start, end in announced:
            record_announcement(engine, signed_announcement(key, name=name, block_start=start, block_end=end))
        clock = [T0]
        ledger_key = new_key()
        for account, credits in ((client, 50), (honest, 30), (cheat, 40), (TREASURY, 5)):
            name = account if isinstance(account, str) else bytes(account.verify_key).hex()
            mint(engine, ledger_key, account=name, amount=credits * MICRO, reason="faucet", admin="test")

        def signed(kind: str, record: Any, signer: Any) -> None:
            take_node_record(engine, kind, sign_record(record, signer).to_wire(), bytes(signer.verify_key))

        for server, bond, price in ((honest, 20, 10), (cheat, 40, 1)):
            signed("bond", BondDeposit(os.urandom(16), bytes(server.verify_key), bond * MICRO, T0), server)
            signed("price", PriceQuote(bytes(server.verify_key), "tiny", price, T0), server)

        def pay(server: Any, session: bytes, credits: int, price: int) -> None:
            tokens = credits * MICRO // price
            record = SessionPayment(
                os.urandom(16), bytes(client.verify_key), bytes(server.verify_key), session, tokens, credits * MICRO, T0
            )
            signed("payment", record, client)

        pay(honest, os.urandom(16), 10, 10)  # waits in escrow: the window has not passed
        policy = SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0, assignment_ttl_ms=10**9)
        desk = SpotChecks(engine, ledger_key, policy, clock=lambda: clock[0])
        for verifier in verifiers[1:]:  # present, so that a dispute can draw them
            desk.claim(bytes(verifier.verify_key))

        def check(server: Any, outcome: str, paid: int = 0) -> None:
            clock[0] += 3_600_000  # first: only verifiers[0], asking now, is present for the draw
            receipts, evidence = evidence_session(server, 4)
            if paid:
                pay(server, receipts[0].record.session_id, paid, 1)
            encoded = evidence.encode()
            desk.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded)
            claimed = desk.claim(bytes(verifiers[0].verify_key))
            desk.submit_verdict(signed_verdict(verifiers[0], claimed, outcome, clock[0]))

        check(cheat, "fail", paid=2)  # a paid session caught: the dispute draws the other two, who agree
        for verifier in verifiers[1:]:
            desk.submit_verdict(signed_verdict(verifier, desk.claim(bytes(verifier.verify_key)), "fail", clock[0]))
        for _ in range(4):
            check(honest, "pass")
        check(disputed, "fail")  # first verdict a fail: a dispute opens and waits for the others
        return Swarm(*(bytes(k.verify_key).hex() for k in (honest, disputed, hostile, cheat)))
    finally:
        engine.dispose()


@pytest.fixture
def dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Swarm]]:
    db_url = f"sqlite:///{tmp_path}/ledger.db"
    swarm = build_ledger(db_url)
    monkeypatch.setenv("SWARMTRUST_DASHBOARD_REFRESH", "1")
    with LocalSwarm(tmp_path) as local:
        yield local.start_api(db_url=db_url, admin_token=TOKEN), swarm


def logged_in_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/dashboard")
    assert page.url.endswith("/dashboard/login"), "no session: sent to the login page"
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/dashboard")
    return page


def test_log_in_read_the_overview_open_a_server_and_quarantine_it(
    browser: Any, dashboard: tuple[str, Swarm], shots: Path
) -> None:
    url, swarm = dashboard
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/dashboard/login")
    page.fill("#token", TOKEN + "-wrong")
    page.click("button[type=submit]")
    assert "not the administrator token" in page.inner_text("[role=alert]")
    page.screenshot(path=shots / "0-login-refused.png")
    page.close()

    page = logged_in_page(browser, url)
    assert page.inner_text("#total-servers") == "4" and page.inner_text("#open-disputes") == "1"
    assert page.inner_text("#total-quarantined") == "1", "the convicted cheater"
    bars = page.locator("figure.coverage[data-model=tiny] rect.bar")
    assert bars.count() == 4
    assert page.locator("figure.coverage rect.bar.trusted, figure.coverage rect.bar.newcomer").count() == 3
    capacity = page.inner_text("figure.coverage[data-model=tiny] .capacity")  # as GET /capacity gives it
    assert "tokens/s through every block" in capacity and "servers online" in capacity and "sessions" in capacity
    page.screenshot(path=shots / "1-overview.png", full_page=True)

    page.click("figure.coverage a:has(text:text-is('honest-a'))")
    page.wait_for_url(f"{url}/dashboard/servers/{swarm.honest}")
    assert page.inner_text("#server-name") == "honest-a" and page.inner_text("#server-state") == "newcomer"
    assert page.locator("#verdicts tbody tr.pass").count() == 4
    assert page.locator("svg polyline.mean").count() == 1 and page.locator("svg polygon.band").count() == 1
    assert page.locator("#receipts tbody tr").count() == 16, "four checked sessions of four steps"
    page.screenshot(path=shots / "2-server.png", full_page=True)

    page.click("#quarantine")  # no reason: the browser's own check keeps the form from being sent
    assert page.url.endswith(swarm.honest) and page.inner_text("#server-state") == "newcomer"
    page.fill("#reason", "abuse report #12 — <b>not bold</b>")
    page.click("#quarantine")
    page.wait_for_url(f"{url}/dashboard/servers/{swarm.honest}?done=quarantine")
    assert page.inner_text("#server-state") == "quarantined"
    assert page.inner_text("[role=status]") == "Recorded: quarantine."
    assert page.inner_text("#actions tbody tr td:nth-child(5)") == "abuse report #12 — <b>not bold</b>"
    assert page.locator("#release").count() == 1 and page.locator("svg circle.mark.quarantine").count() == 1
    page.screenshot(path=shots / "3-quarantined.png", full_page=True)

    api = httpx.get(f"{url}/api/v1/servers/{swarm.honest}/reputation").json()
    assert api["state"] == "quarantined" and api["trust"] == 0.0
    (event,) = httpx.get(f"{url}/api/v1/events", params={"kind": "admin_action"}).json()["items"]
    assert event["subject"] == swarm.honest and event["signer"] == httpx.get(f"{url}/health").json()["ledger_key"]

    page.goto(f"{url}/dashboard")
    assert page.inner_text("#total-quarantined") == "2"
    assert page.locator("figure.coverage rect.bar.quarantined").count() == 2


def test_server_names_are_shown_as_text_never_run(browser: Any, dashboard: tuple[str, Swarm], shots: Path) -> None:
    url, swarm = dashboard
    page = logged_in_page(browser, url)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:  # an alert() that ran would land here
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    for path in ("/dashboard", "/dashboard/servers", f"/dashboard/servers/{swarm.hostile}"):
        page.goto(f"{url}{path}")
        assert page.evaluate("window.pwned") is None, f"{path}: a server's name ran as script"
        assert page.locator("main script, main img").count() == 0
    assert page.inner_text("#server-name") == XSS_NAME
    page.goto(f"{url}/dashboard/servers")
    assert XSS_NAME in page.inner_text("#servers")
    assert dialogs == []
    page.screenshot(path=shots / "servers-with-hostile-name.png", full_page=True)


def test_tables_sort_and_pages_refresh_themselves(browser: Any, dashboard: tuple[str, Swarm], shots: Path) -> None:
    from playwright.sync_api import expect

    url, _swarm = dashboard
    page = logged_in_page(browser, url)
    page.goto(f"{url}/dashboard/servers")

    def passes() -> list[int]:
        return [int(v) for v in page.locator("#servers tbody tr td:nth-child(9)").all_inner_texts()]

    page.click("#servers th:text-is('Passed')")
    assert passes() == [0, 0, 0, 4]
    page.click("#servers th:text-is('Passed')")
    assert passes() == [4, 0, 0, 0]

    with LedgerApi(url, late := new_key()) as api:  # a server announces itself while the page is open
        wire = signed_announcement(late, name="late-arrival").to_wire()
        api.request("POST", "/servers/announce", wire, "application/octet-stream")
    expect(page.locator("#servers tbody tr")).to_have_count(5, timeout=10_000)  # no reload: the page refreshed
    assert passes()[0] == 4, "the chosen order survives the refresh"
    assert "late-arrival" in page.inner_text("#servers")

    page.goto(f"{url}/dashboard/disputes")
    row = page.locator("#disputes tbody tr.open")
    assert row.count() == 1 and "shaky-b" in row.inner_text() and "fail" in row.inner_text()
    page.goto(f"{url}/dashboard/verifiers")
    first, *others = page.locator("#verifiers tbody tr").all()
    assert first.locator("td").all_inner_texts()[2:4] == ["6", "6"], "six assignments, six verdicts"
    assert [o.locator("td").all_inner_texts()[2:4] for o in others] == [["1", "1"]] * 2, "the cheater's dispute"
    page.screenshot(path=shots / "verifiers.png", full_page=True)


def test_a_convicted_cheat_is_refunded_slashed_and_its_catchers_paid_on_the_market_page(
    browser: Any, dashboard: tuple[str, Swarm], shots: Path
) -> None:
    url, swarm = dashboard
    market = httpx.get(f"{url}/api/v1/market").json()
    slashed = 40 * MICRO // 2
    bounty_each = slashed // 2 // 3  # half the slash, shared by the three verifiers who voted fail
    assert (market["refunded"], market["slashed"], market["bounties"]) == (2 * MICRO, slashed, 3 * bounty_each)
    assert market["minted"] == 125 * MICRO and market["in_escrow"] == 10 * MICRO, "the honest server's hold waits"
    cheat = httpx.get(f"{url}/api/v1/accounts/{swarm.cheat}").json()
    assert (cheat["bond"], cheat["fully_bonded"], cheat["earning_in_escrow"]) == (20 * MICRO, False, 0)

    page = logged_in_page(browser, url)
    page.goto(f"{url}/dashboard/market")
    assert (page.inner_text("#minted"), page.inner_text("#in-escrow"), page.inner_text("#in-bonds")) == (
        "125",
        "10",
        "40",
    )
    assert (page.inner_text("#slashed"), page.inner_text("#bounties")) == ("20", "9.999999")
    assert page.locator("#movements tbody tr.bounty").count() == 3
    assert (
        "cheat-c" in page.inner_text("#movements tbody tr.slash") and page.locator("#movements tr.refund").count() == 1
    )
    (hold,) = page.locator("#holds tbody tr").all()
    assert "honest-a" in hold.inner_text() and "held" in hold.inner_text()
    page.screenshot(path=shots / "market.png", full_page=True)

    page.goto(f"{url}/dashboard/servers")
    row = page.locator(f"#servers tbody tr[data-key='{swarm.honest}']")
    assert row.locator("td").all_inner_texts()[-2:] == ["20", "0"], "bond 20 credits, nothing earned yet"


def test_logging_out_ends_the_session_and_other_sites_cannot_post_the_login_form(
    browser: Any, dashboard: tuple[str, Swarm], shots: Path
) -> None:
    url, _swarm = dashboard
    page = logged_in_page(browser, url)
    kept = page.context.cookies()
    assert any(c["name"] == "swarmtrust_admin" for c in kept)
    page.click("form.logout button[type=submit]")
    page.wait_for_url(f"{url}/dashboard/login")
    page.close()

    # Someone who copied the cookie before the logout gets nowhere with it.
    context = browser.new_context()
    context.add_cookies(kept)
    stale = context.new_page()
    stale.goto(f"{url}/dashboard")
    assert stale.url.endswith("/dashboard/login"), "the ended session is refused by the service, not just forgotten"
    context.close()

    # A page on another origin posting the login form, token and all, is refused, and no session is made.
    other = browser.new_page()
    other.set_content(
        f'<form method="post" action="{url}/dashboard/login"><input name="token" value="{TOKEN}">'
        '<button type="submit">go</button></form>'
    )
    with other.expect_navigation():
        other.click("button")
    assert "not sent by this dashboard" in other.inner_text("[role=alert]")
    assert not any(c["name"] == "swarmtrust_admin" for c in other.context.cookies())
    other.screenshot(path=shots / "cross-site-login-refused.png")
    other.close()
