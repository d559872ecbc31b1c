"""The regulator's dashboard in a real browser: Debian's Chromium driven by playwright (no browser
download), against every service and the gateway (the e2e stack) holding a demo-like network
loaded through the HTTP API by the demo's own code. The page asks for a token without one, takes
one from the login field or `#token=` (never in a URL sent to a server), shows the numbers the
API returns, opens a cooperative's page, logs no console error, and fits a 390 px wide phone.
Screenshots of every view go to .run/screenshots/."""
from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from services.gateway import demo_health
from services.gateway.demo import DemoClient
from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / ".run" / "screenshots"
# One of each kind: healthy with its year closed, RAT but books offline, losses without a RAT,
# asleep for over a year, just founded.
CHOSEN = [demo_health.PROFILES[i] for i in (0, 4, 6, 8, 9)]
# the keys in the order of the page's catalog and financing tables
CATALOG = ("products_listed", "orders_settled", "order_value")
FINANCING = ("contracts_disbursed", "disbursed_amount", "payments", "late_instalments", "contracts_settled",
             "contracts_written_off")
EXPECTED_FLAGS = [  # (active, rat_compliant, reporting_online) of each chosen profile
    (True, True, True), (True, True, False), (True, False, False), (False, False, False),
    (False, True, False)]


def chromium() -> str:
    """Debian's chromium (`make test` installs it through `deploy/localinfra.py tools`)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: run `python3 deploy/localinfra.py tools` (Debian's chromium)"
    return path


def dotted(value: int) -> str:
    """Intl.NumberFormat("id-ID"): thousands separated by dots."""
    return f"{value:,}".replace(",", ".")


class Network:
    def __init__(self, stack: Any):
        self.stack, self.admin = stack, stack.token("network_admin")
        self.origin = stack.base.removesuffix("/api/v1")
        self.ids = demo_health.load(DemoClient(stack.base, stack.secret), profiles=CHOSEN)
        for coop, profile, expected in zip(self.ids, CHOSEN, EXPECTED_FLAGS, strict=True):
            wait_for(lambda c=coop, p=profile, e=expected: self.settled(c, p, e), timeout=90,
                     what=f"{profile.name}'s health from its events")

    def api(self, path: str) -> Any:
        answer = self.stack.call("GET", path, self.admin)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def settled(self, coop: str, profile: demo_health.Profile, expected: tuple[bool, ...]) -> bool:
        """The projection has the flags and the last 12 months of sales and expenses we booked."""
        health = self.stack.call("GET", f"/cooperatives/{coop}/health", self.admin)
        if health.status_code != 200:
            return False
        body = health.json()
        flags = tuple(body["flags"][name] for name in ("active", "rat_compliant", "reporting_online"))
        flows = body["score"]["inputs"]["last_12_months"]
        booked = 0 if profile.asleep else 12
        return flags == expected and flows["income"] == profile.sales * booked and \
            flows["expense"] == profile.sales * profile.expense_percent // 100 * booked


@pytest.fixture(scope="module")
def network(stack) -> Network:
    return Network(stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium through playwright's driver (a node process). Playwright's own stop waits for the
    driver's exit through asyncio's child watcher, which never fires in this eventlet-patched
    process (tests/conftest.py), so it would hang: the fixture closes the browser, then ends the
    driver itself (closing a browser first is the orderly part; the driver holds no state)."""
    manager = sync_playwright()
    driver = manager.start()
    launched = driver.chromium.launch(executable_path=chromium())
    try:
        yield launched
    finally:
        launched.close()
        os.kill(manager._client._transport._proc.pid, signal.SIGTERM)  # type: ignore[union-attr]


class Tab:
    """A fresh browser context (own sessionStorage) recording console errors and request URLs."""

    def __init__(self, browser: Browser, width: int = 1280, height: int = 900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append((request.url, request.headers)))

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def view(self, name: str) -> None:
        self.page.wait_for_selector(f'body[data-view="{name}"]', timeout=30_000)

    def overflow(self) -> int:
        return self.page.evaluate("document.documentElement.scrollWidth")

    def cells(self, container: str) -> list[list[str]]:
        """A table's body rows, cell texts (folded <details> included)."""
        return self.page.eval_on_selector_all(
            f"#{container} tbody tr",
            "rows => rows.map(r => Array.from(r.children, c => c.textContent.trim()))")


@pytest.fixture
def tab(browser) -> Iterator[Tab]:
    opened = Tab(browser)
    yield opened
    opened.context.close()


def overview_numbers(tab: Tab) -> dict[str, Any]:
    page = tab.page
    return {
        "province": {key: page.text_content(f'#province-tiles [data-field="{key}"]') for key in
                     ("registered", "active", "rat_compliant", "reporting_online", "healthy")},
        "progress": page.text_content('[data-field="progress_percent"]'),
        "regencies": [row[:6] for row in tab.cells("regencies-table")],
        "months": len(tab.cells("months-table")),
        "follow_up": [(row[0], row[3], row[4]) for row in tab.cells("follow-up-table")],
        "best": [(row[1], row[4]) for row in tab.cells("best-table")],
        "activity": [row[1] for row in tab.cells("catalog-table") + tab.cells("financing-table")],
    }


def expected_numbers(data: dict[str, Any]) -> dict[str, Any]:
    def regency(slug: str) -> str:
        return " ".join(word.capitalize() for word in slug.split("-"))

    counts = ("registered", "active", "rat_compliant", "reporting_online", "healthy")
    return {
        "province": {key: dotted(data["province"][key]) for key in counts},
        "progress": f"{data['target']['progress_percent']}%",
        "regencies": [[regency(r["regency"]), *(dotted(r[key]) for key in counts)]
                      for r in data["regencies"]],
        "months": 12,
        "follow_up": [(r["name"], dotted(r["score"]), r["category"]) for r in data["follow_up"]],
        "best": [(r["name"], dotted(r["score"])) for r in data["best"]],
        "activity": [f"Rp {dotted(v)}" if key in ("order_value", "disbursed_amount") else dotted(v)
                     for key, v in [*((k, data["catalog"][k]) for k in CATALOG),
                                    *((k, data["financing"][k]) for k in FINANCING)]],
    }


def test_without_a_token_the_page_asks_for_one_and_takes_it_from_the_login_field(network, tab):
    tab.page.goto(f"{network.origin}/dashboard/")
    login = tab.page.locator("#login")
    login.wait_for(state="visible")
    assert tab.page.is_hidden("#overview") and tab.page.is_hidden("#cooperative")
    assert tab.page.evaluate("document.activeElement.id") == "token-input"
    assert tab.page.get_by_label("Token network_admin").is_visible()
    tab.shot("login")
    assert not [url for url, _ in tab.requests if "/api/" in url]  # nothing asked without a token
    tab.page.get_by_label("Token network_admin").fill(network.admin)
    tab.page.get_by_role("button", name="Masuk").click()
    tab.view("overview")
    assert tab.page.is_hidden("#login")
    assert tab.page.get_by_label("Token network_admin").input_value() == ""  # not left in the field
    assert tab.errors == []


def test_a_wrong_token_is_refused_and_the_login_asks_again(network, tab):
    tab.page.goto(f"{network.origin}/dashboard/#token=not-a-token")
    tab.page.locator("#login-error").filter(has_text="401").wait_for()
    assert tab.page.evaluate("sessionStorage.length") == 0


def test_with_a_token_in_the_fragment_it_shows_the_numbers_the_api_returns(network, tab):
    def shows_what_the_api_says() -> bool:
        tab.page.goto(f"{network.origin}/dashboard/#token={network.admin}")
        tab.view("overview")
        # the projection may still take an event in; equal to a read made after the page drew
        return overview_numbers(tab) == expected_numbers(network.api("/network/dashboard"))

    wait_for(shows_what_the_api_says, timeout=30, interval=0.5, what="the page to show the API's numbers")
    data = network.api("/network/dashboard")
    assert len(data["regencies"]) == 27 and len(tab.cells("regencies-table")) == 27
    assert data["province"]["registered"] >= len(CHOSEN) and data["follow_up"] and data["best"]
    assert {r["name"] for r in data["best"]} >= {CHOSEN[0].name}
    assert tab.page.evaluate("location.hash") == "#/"  # the token left the address bar at once
    assert tab.page.evaluate("sessionStorage.getItem('kopnet.dashboard.token')") == network.admin
    api_calls = [(url, headers) for url, headers in tab.requests if "/api/" in url]
    bearer = f"Bearer {network.admin}"
    assert api_calls and all(headers.get("authorization") == bearer for _, headers in api_calls)
    assert not [url for url, _ in tab.requests if network.admin in url]  # only ever in a header
    labels = tab.page.eval_on_selector_all("#overview canvas",
                                           "all => all.map(c => c.getAttribute('aria-label'))")
    assert len(labels) == 4 and all(label and "tabel data" in label for label in labels), labels
    for section in ("categories-table", "regencies-table", "months-table"):  # every chart has its table
        assert tab.page.locator(f"#{section} details table caption").count() == 1
    tab.shot("overview")
    assert tab.errors == []


def test_a_cooperative_page_shows_its_flags_evidence_and_score(network, tab):
    tab.page.goto(f"{network.origin}/dashboard/#token={network.admin}")
    tab.view("overview")
    losing = CHOSEN[2]  # losses, no RAT: on the follow-up list
    tab.page.locator("#follow-up-table").get_by_role("link", name=losing.name).click()
    tab.view("cooperative")
    coop = network.ids[2]
    assert tab.page.evaluate("location.hash") == f"#/cooperatives/{coop}"
    health = network.api(f"/cooperatives/{coop}/health")
    assert tab.page.text_content("#coop-title") == losing.name
    assert tab.page.text_content("#coop-score") == str(health["score"]["score"])
    assert health["score"]["category"] in tab.page.text_content("#coop-category")
    for flag, value in health["flags"].items():
        card = tab.page.locator(f'[data-flag="{flag}"]')
        assert card.locator(".answer").text_content() == ("Ya (yes)" if value else "Tidak (no)")
        assert health["evidence"][flag]["rule"] in card.text_content()
    def facts(flag: str) -> dict[str, str]:  # the evidence as the page lists it: <dt>key</dt><dd>value</dd>
        return dict(zip(tab.page.locator(f'[data-flag="{flag}"] dt').all_text_contents(),
                        tab.page.locator(f'[data-flag="{flag}"] dd').all_text_contents(), strict=True))

    active = health["evidence"]["active"]
    assert active["entry_id"] and facts("active") == {
        "last_activity_on": active["last_activity_on"], "entry_id": active["entry_id"]}
    rat = facts("rat_compliant")
    assert rat["due_by"] == health["evidence"]["rat_compliant"]["due_by"] and rat["last_rat"] == "—"
    rows = tab.cells("aspects-table")
    assert [int(row[2]) for row in rows] == [a["score"] for a in health["score"]["aspects"].values()]
    assert [int(row[3]) for row in rows] == [a["weight"] for a in health["score"]["aspects"].values()]
    tab.shot("cooperative")
    tab.page.get_by_role("link", name="Kembali ke ringkasan").click()
    tab.view("overview")
    assert tab.errors == []


def test_at_390_px_wide_nothing_overflows(network, browser):
    phone = Tab(browser, width=390, height=844)
    try:
        phone.page.goto(f"{network.origin}/dashboard/#token={network.admin}")
        phone.view("overview")
        phone.page.locator("#regencies-table summary").click()  # an open wide table scrolls in its box
        assert phone.overflow() <= 390
        phone.shot("phone-overview")
        phone.page.goto(f"{network.origin}/dashboard/#/cooperatives/{network.ids[0]}")
        phone.view("cooperative")
        assert phone.overflow() <= 390
        phone.shot("phone-cooperative")
        phone.page.goto(f"{network.origin}/dashboard/")  # sign-in view on a phone too
        phone.page.get_by_role("button", name="Keluar / Sign out").click()
        phone.page.locator("#login").wait_for(state="visible")
        assert phone.overflow() <= 390
        assert phone.errors == []
    finally:
        phone.context.close()
