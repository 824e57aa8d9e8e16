"""The operator page (``api/static``) in Debian's headless Chromium, on the real API.

uvicorn serves the real app on a loopback port, on the real InfluxDB (telemetry written here)
and an alert store in which the real engine raised ``power_loss`` on s1; Selenium drives
``/usr/bin/chromium`` through ``/usr/bin/chromedriver`` (``scripts/setup.sh --test`` installs
both; nothing is downloaded). Every wait is explicit: a condition polled until a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from api_helpers import KEYS, AppFactory, fill_fleet, registry, write_lines
from fastapi import FastAPI
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.model import AlertState, EventKind
from alerts.store import Store
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.wire import Kind, Reading

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 15.0
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
)

pytestmark = pytest.mark.timeout(120)


# ---------------------------------------------------------------------- serving the page

@pytest.fixture
def served(make_app: AppFactory) -> Iterator[str]:
    """The app under uvicorn in a thread, on a free loopback port; yields the base URL."""
    yield from _serve(make_app())


def _serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_static_files_are_public_and_the_api_is_not(served: str) -> None:
    page = httpx.get(f"{served}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="static/app.js">' in page.text
    js = httpx.get(f"{served}/static/app.js", timeout=10)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert httpx.get(f"{served}/static/style.css", timeout=10).status_code == 200
    # Nothing outside api/static is reachable through the mount.
    for path in ("/static/../main.py", "/static/%2e%2e/main.py", "/static/nosuch.js"):
        assert httpx.get(f"{served}{path}", timeout=10).status_code == 404, path
    # The API, the probes and the schema are as before: the page adds no route to them.
    assert httpx.get(f"{served}/api/v1/stations", timeout=10).status_code == 401
    assert httpx.get(f"{served}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{served}/metrics", timeout=10).status_code == 200
    schema = httpx.get(f"{served}/api/v1/openapi.json", timeout=10).json()
    assert "/" not in schema["paths"] and not any(p.startswith("/static") for p in schema["paths"])


# ---------------------------------------------------------------------- the browser test

@pytest.fixture
def scenario(influx: InfluxServer, database: str, store: Store) -> str:
    """Telemetry for the board and s1's charts, and power_loss firing on s1 (real engine)."""
    now = time.time()
    fill_fleet(influx, database, now)
    # Pressures every 2 minutes over the last 6 h (fill_fleet writes temperatures only).
    write_lines(influx, database, [
        f"telemetry,station=s1,zone=north supply_pressure={6 + (k % 5) / 10},"
        f"return_pressure={3 + (k % 3) / 10} {int(now) - 120 * k}"
        for k in range(1, 180)
    ])
    rules = RulesConfig.model_validate({"pipeline": {"startup_grace_s": 0, "enabled": False}})
    engine = Engine(rules, store, lambda: now, registry=registry())
    engine.observe(Reading(Kind.TELEMETRY, "s1", int(now * 1e9), {"power_ok": False}))
    fired = [e for e in engine.evaluate(now) if e.alert.rule == "power_loss"]
    assert [e.kind for e in fired] == [EventKind.FIRING]
    return fired[0].alert.id


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"{missing} missing: run 'bash scripts/setup.sh --test' (as root)"
    # Both paths are given, so Selenium Manager has nothing to look up; offline in any case.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, css: str) -> WebElement:
    found: WebElement = WebDriverWait(driver, WAIT_S).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css)), f"no visible {css}")
    return found


def wait_present(driver: WebDriver, css: str) -> WebElement:
    """Present in the page; for SVG lines, which a flat series leaves zero pixels high (and
    so 'invisible' to WebDriver's visibility check)."""
    found: WebElement = WebDriverWait(driver, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)), f"no {css}")
    return found


def wait_text(driver: WebDriver, css: str, text: str) -> None:
    WebDriverWait(driver, WAIT_S).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), f"{css}: no {text!r}")


def log_in(driver: WebDriver, key: str) -> None:
    field = wait_for(driver, "#login-form #key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def script_errors(driver: WebDriver) -> list[str]:
    """Console errors other than the refused requests this test provokes on purpose."""
    try:
        entries = driver.get_log("browser")
    except WebDriverException:  # a driver without the log endpoint: nothing to check
        return []
    return [e["message"] for e in entries
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]


@pytest.fixture
def site(make_app: AppFactory, scenario: str) -> Iterator[str]:
    """The app served *after* the scenario is written: the fleet snapshot it builds at start
    (and reuses for cache.fleet_ttl_s) already holds the telemetry and the alert."""
    yield from _serve(make_app())


def test_operator_acks_a_firing_alert(
    site: str, scenario: str, browser: WebDriver, store: Store, tmp_path: Path
) -> None:
    served, alert_id = site, scenario
    card = f'article[data-alert="{alert_id}"]'
    browser.get(f"{served}/#/alerts")

    # A wrong key is refused with the API's reason, and the form stays.
    log_in(browser, "hw_not-a-key")
    wait_text(browser, "#login-error", "unknown API key")

    # A viewer sees the alert but may not ack it: the 403 is explained next to the button.
    log_in(browser, KEYS["viewer"])
    wait_for(browser, f'{card}[data-state="firing"][data-acked="false"]')
    browser.find_element(By.CSS_SELECTOR, f"{card} button[data-action=ack]").click()
    wait_for(browser, f"{card} form.ack textarea[name=comment]").send_keys("looking")
    browser.find_element(By.CSS_SELECTOR, f"{card} button[data-action=submit-ack]").click()
    wait_text(browser, f"{card} form.ack .error", "this needs crew or higher")
    stored = store.alert(alert_id)
    assert stored is not None and stored.acked_at is None

    # The crew logs in, sees the firing alert and acks it with a comment and an assignee.
    browser.find_element(By.ID, "logout").click()
    log_in(browser, KEYS["crew"])
    wait_for(browser, f'{card}[data-state="firing"][data-acked="false"]')
    wait_text(browser, card, "power_loss")
    wait_text(browser, "#alert-count", "1")
    browser.find_element(By.CSS_SELECTOR, f"{card} button[data-action=ack]").click()
    wait_for(browser, f"{card} textarea[name=comment]").send_keys("crew on the way")
    browser.find_element(By.CSS_SELECTOR, f"{card} input[name=assignee]").send_keys("team-north")
    browser.find_element(By.CSS_SELECTOR, f"{card} button[data-action=submit-ack]").click()

    # The page shows the new state (re-read from the API) ...
    wait_for(browser, f'{card}[data-acked="true"]')
    wait_text(browser, f"{card} .acked", "Acknowledged by crew-key")
    wait_text(browser, f"{card} .acked", "crew on the way")
    wait_text(browser, f"{card} .acked", "team-north")
    # ... and so does the alert store the engine reads.
    stored = store.alert(alert_id)
    assert stored is not None and stored.state is AlertState.FIRING
    assert (stored.acked_by, stored.ack_comment, stored.assignee) == (
        "crew-key", "crew on the way", "team-north")

    # The alert's own page (where notifications link to) lists the ack in its history.
    browser.get(f"{served}/#/alerts/{alert_id}")
    wait_text(browser, 'tr[data-event="acknowledged"]', "crew on the way")
    wait_for(browser, 'tr[data-event="firing"]')

    # Un-ack from there: the page and the store agree again.
    browser.find_element(By.CSS_SELECTOR, f"{card} button[data-action=unack]").click()
    wait_for(browser, f'{card}[data-acked="false"] button[data-action=ack]')
    stored = store.alert(alert_id)
    assert stored is not None and stored.acked_at is None and stored.acked_by is None

    # The fleet board on a phone: 375 px wide, no sideways scrolling, tiles by state.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True})
    browser.get(f"{served}/#/")
    wait_for(browser, '.tile[data-station="s1"][data-status="alerting"]')
    wait_for(browser, '.tile[data-station="s3"][data-status="online"]')
    wait_for(browser, '.tile[data-station="s4"][data-status="offline"]')
    zones = [z.get_attribute("data-zone") for z in
             browser.find_elements(By.CSS_SELECTOR, "details.zone")]
    assert zones == ["north", "south", "unassigned"]
    wait_text(browser, 'details.zone[data-zone="north"] summary', "1 alerting")
    width = browser.execute_script("return window.innerWidth")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert width == 375 and scroll <= width, f"the board overflows: {scroll} px in {width}"
    tile = browser.find_element(By.CSS_SELECTOR, '.tile[data-station="s1"]')
    assert tile.size["height"] >= 44 and tile.size["width"] >= 120  # a thumb can hit it
    shot = tmp_path / "board-375.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000

    # Station detail: both charts drawn from the history endpoint, with data points.
    browser.get(f"{served}/#/stations/s1")
    temps = wait_for(browser, '[data-chart="Temperatures"] svg.chart')
    assert int(temps.get_attribute("data-points") or 0) > 100  # two series, 2-minute buckets
    for series in ("supply_temp", "return_temp", "supply_pressure", "return_pressure"):
        line = wait_present(browser, f'svg.chart polyline[data-series="{series}"]')
        assert len((line.get_attribute("points") or "").split()) > 10, series
    wait_text(browser, "#station", "power_loss")  # its open alert is listed there too
    # Its flats today, floor by position (top floor first, flats without a floor last),
    # coloured by today's comfort so far.
    wait_for(browser, '#flats .flat-row[data-floor="5"] .flat[data-meter="f3"]')
    rows = browser.find_elements(By.CSS_SELECTOR, "#flats .flat-row")
    assert [r.get_attribute("data-floor") for r in rows] == ["5", "1", "?"]
    assert [[c.get_attribute("data-meter") for c in r.find_elements(By.CSS_SELECTOR, ".flat")]
            for r in rows] == [["f2", "f3"], ["f1", None], ["f4", "f5"]]
    f1 = browser.find_element(By.CSS_SELECTOR, '#flats .flat[data-meter="f1"]')
    assert "21.0 °C" in f1.text
    assert f1.get_attribute("data-band") in ("warm", "no_data")  # no_data: 10 min of data

    # Zone view: the share below 18 °C and the coldest flats first.
    browser.get(f"{served}/#/zones/north")
    wait_text(browser, "#zone .stats", "below 18.0 °C")
    wait_text(browser, "#zone .stats", "3 of 6 flats")
    first = wait_for(browser, "#coldest tbody tr")
    assert first.text.split()[:3] == ["g1", "s2", "15.0"]

    assert script_errors(browser) == []
