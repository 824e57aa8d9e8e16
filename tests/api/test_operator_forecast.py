"""The operator page shows tomorrow morning's risk per zone (headless Chromium, real API,
real InfluxDB holding one forecast cycle's predictions)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import KEYS, AppFactory, fill_fleet
from selenium.webdriver.remote.webdriver import WebDriver
from test_api_forecast import _cycle_lines
from test_operator_page import _serve, browser, log_in, script_errors, wait_for, wait_text

from heatwatch.local.servers import InfluxServer

pytestmark = pytest.mark.timeout(120)
__all__ = ["browser"]  # the fixture, imported for this module's tests


@pytest.fixture
def forecast_site(make_app: AppFactory, influx: InfluxServer, database: str,
                  tmp_path: Path) -> Iterator[str]:
    now = float(int(time.time()))
    fill_fleet(influx, database, now)
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content="\n".join(_cycle_lines(tmp_path, now)).encode())
    assert resp.status_code == 204, resp.text
    yield from _serve(make_app())


def test_board_and_zone_show_the_morning_risk(forecast_site: str, browser: WebDriver) -> None:
    browser.get(f"{forecast_site}/#/")
    log_in(browser, KEYS["viewer"])
    badge = wait_for(browser, 'details.zone[data-zone="north"] summary .risk')
    # 07:00 when the 12 h horizon reaches it (the test runs at any hour), else the peak:
    # s1's four flats, all the flats the cycle predicted, go under the standard tonight
    if badge.text.startswith("07:00: "):
        assert badge.get_attribute("data-risk") in ("0", "100")
    else:
        assert badge.text == "next 12 h: 100 % cold"
        assert badge.get_attribute("data-risk") == "100"
    assert "alerting" in (badge.get_attribute("class") or "") or badge.text.endswith(" 0 % cold")
    assert not browser.find_elements("css selector", 'details.zone[data-zone="south"] .risk')
    browser.get(f"{forecast_site}/#/zones/north")
    wait_text(browser, "#zone .stats", "predicted cold, ")
    assert script_errors(browser) == []
