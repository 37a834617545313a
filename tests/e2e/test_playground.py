"""The playground in headless Chromium, against what `make run` starts (`cpt64640 dev fhir-fixtures`): a left LFCN
phenol neurolysis under ultrasound composed for a fixture patient draws a 64640-LT line card, accepting it stores
the feedback; a genicular order draws the more-specific card; the case survives in the URL; a performed procedure
and fetch mode with a signed JWT work; the cards read in a 400 px panel. Screenshots of each state go to
var/playground/ for a person to look at."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..browser import chromium, is_png, needs_chromium
from ..conftest import ROOT
from .launcher import launch_dev, until_ready

pytestmark = needs_chromium
SHOTS = ROOT / "var" / "playground"
WAIT_S = 30


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(service base URL, fixture FHIR server URL, data folder) of one launcher for the module."""
    data = tmp_path_factory.mktemp("playground")
    with launch_dev(data) as (launcher, lines):
        discovery, fhir_url = until_ready(launcher, lines).groups()
        base = discovery.removesuffix("/cds-services")
        assert launcher.stdout is not None
        assert launcher.stdout.readline().startswith(f"playground at {base}/ ")  # make run says where it is
        yield base, fhir_url, data


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "profile") as driver:
        yield driver


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def _open(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")


def _choose(driver: Any, selector: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"{selector} option[value='{value}']"))
    Select(driver.find_element(By.CSS_SELECTOR, selector)).select_by_value(value)


def _type(driver: Any, selector: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.CSS_SELECTOR, selector)
    field.clear()
    field.send_keys(text, Keys.TAB)  # leaving the field fires its change event, as a user's tab does


def _patient(driver: Any, patient: str, encounter: str) -> None:
    from selenium.webdriver.common.by import By

    _choose(driver, "#patient", patient)
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#conditions li"))
    _choose(driver, "#encounter", encounter)


def _order(driver: Any, index: int, **fields: str) -> None:
    order = f".order[data-index='{index}']"
    for name, value in fields.items():
        if name in ("concentration", "volume", "note", "text"):
            _type(driver, f"{order} [name='{name}']", value)
        else:
            _choose(driver, f"{order} [name='{name}']", value)


def _send(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "send").click()
    _wait(driver, lambda d: d.find_element(By.ID, "send-status").text.startswith(("200", "4", "5", "Not sent")))
    status = driver.find_element(By.ID, "send-status").text
    assert status.startswith("200"), driver.find_element(By.ID, "raw-response").text
    return driver.find_elements(By.CSS_SELECTOR, "#cards .card")


def _shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / name))
    assert is_png(SHOTS / name, 10_000)


def _lfcn(driver: Any, base: str) -> None:
    _open(driver, f"{base}/")
    _patient(driver, "neuro-1", "enc-order")
    _order(
        driver,
        0,
        code="64640",
        nerve="lateral-femoral-cutaneous",
        side="left",
        agent="phenol",
        concentration="6",
        volume="3",
        guidance="ultrasound",
        reason="cond-meralgia",
    )


def test_lfcn_order_draws_a_line_card_and_accepting_it_stores_feedback(launched, browser):
    from selenium.webdriver.common.by import By

    base, fhir_url, data = launched
    _open(browser, f"{base}/")
    assert browser.find_element(By.ID, "fhir-url").get_attribute("value") == fhir_url  # make run's FHIR server
    _lfcn(browser, base)
    cards = _send(browser)
    _shot(browser, "1-lfcn-line-card.png")

    assert [c.get_attribute("data-rule") for c in cards] == ["line-suggestion"]
    card = cards[0]
    assert "64640-LT" in card.find_element(By.TAG_NAME, "h3").text
    assert "64640\N{NON-BREAKING HYPHEN}LT" in card.find_element(By.CSS_SELECTOR, ".detail").text
    assert "G57.12" in card.text  # the diagnosis the line rests on
    request = json.loads(browser.find_element(By.ID, "raw-request").text.split("\n\n", 1)[1])
    assert set(request["prefetch"]) >= {"patient", "conditions", "procedures"}  # filled from discovery's templates
    timing = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#timing th")]
    assert {"contract", "facts", "rules", "cards"} <= set(timing)

    card.find_element(By.CSS_SELECTOR, ".suggestion button.accept").click()
    _wait(browser, lambda d: card.find_elements(By.CSS_SELECTOR, ".stored li"))
    assert "stored 1" in card.find_element(By.CSS_SELECTOR, ".outcome").text
    assert "Stored: accepted, rule line-suggestion" in card.find_element(By.CSS_SELECTOR, ".stored").text
    _shot(browser, "2-lfcn-accepted.png")
    with sqlite3.connect(data / "cpt64640.sqlite3") as db:
        rows = db.execute(
            "SELECT outcome, accepted_suggestions FROM feedback WHERE card_uuid = ?", (card.get_attribute("data-uuid"),)
        ).fetchall()
    assert len(rows) == 1 and rows[0][0] == "accepted" and json.loads(rows[0][1])


def test_genicular_order_draws_the_more_specific_card_and_the_case_is_in_the_url(launched, browser):
    from selenium.webdriver.common.by import By

    base, _, _ = launched
    _lfcn(browser, base)
    _order(browser, 0, nerve="genicular", side="right")
    shared = browser.current_url
    assert "#case=" in shared and "genicular" in shared

    browser.get("about:blank")
    _open(browser, shared)  # a colleague opening the link sees the same case
    order = browser.find_element(By.CSS_SELECTOR, ".order[data-index='0']")
    assert order.find_element(By.NAME, "nerve").get_attribute("value") == "genicular"
    assert order.find_element(By.NAME, "agent").get_attribute("value") == "phenol"
    assert browser.find_element(By.ID, "patient").get_attribute("value") == "neuro-1"
    _choose(browser, "#hook", "order-select")
    cards = _send(browser)
    _shot(browser, "3-genicular-more-specific.png")
    request = json.loads(browser.find_element(By.ID, "raw-request").text.split("\n\n", 1)[1])
    assert request["hook"] == "order-select" and request["context"]["selections"] == ["ServiceRequest/pg-order-1"]
    rules = [c.get_attribute("data-rule") for c in cards]
    assert "more-specific-code" in rules and "line-suggestion" not in rules
    specific = cards[rules.index("more-specific-code")]
    assert "64624" in specific.text
    # Accepting recodes the order, as an EHR applies the card's update action to it.
    specific.find_element(By.CSS_SELECTOR, ".suggestion button.accept").click()
    _wait(browser, lambda d: "stored 1" in specific.find_element(By.CSS_SELECTOR, ".outcome").text)
    code = browser.find_element(By.CSS_SELECTOR, ".order[data-index='0'] [name='code']")
    assert code.get_attribute("value") == "64624"


def test_performed_procedure_in_fetch_mode_with_a_signed_token(launched, browser):
    from selenium.webdriver.common.by import By

    base, _, _ = launched
    _open(browser, f"{base}/")
    _patient(browser, "neuro-1", "enc-order")
    browser.find_element(By.CSS_SELECTOR, ".order[data-index='0'] .remove").click()
    browser.find_element(By.ID, "add-performed").click()
    _order(
        browser,
        0,
        nerve="lateral-femoral-cutaneous",
        side="right",
        agent="dehydrated-alcohol",
        volume="2",
        guidance="ultrasound",
        reason="cond-meralgia",
    )
    _choose(browser, "#mode", "fetch")
    browser.find_element(By.ID, "sign").click()
    cards = _send(browser)
    raw = browser.find_element(By.ID, "raw-request").text
    assert "Bearer eyJ" in raw  # signed with the development key, and verified by the service
    request = json.loads(raw.split("\n\n", 1)[1])
    assert set(request["prefetch"]) == {"procedures", "medicationAdministrations"}  # the rest is fetched
    assert request["context"]["draftOrders"]["entry"] == []
    lines = [c for c in cards if c.get_attribute("data-rule") == "line-suggestion"]
    assert len(lines) == 1 and "64640-RT" in lines[0].find_element(By.TAG_NAME, "h3").text


def test_cards_read_in_a_400_px_panel(launched, tmp_path):
    from selenium.webdriver.common.by import By

    base, _, _ = launched
    with chromium(tmp_path / "narrow") as driver:
        # A window cannot be narrower than about 500 px; the viewport can, as in a phone or a narrow EHR panel.
        metrics = {"width": 400, "height": 1400, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        _lfcn(driver, base)
        cards = _send(driver)
        card = cards[0]
        driver.execute_script("arguments[0].scrollIntoView()", card)
        _shot(driver, "4-narrow-400px.png")
        width = driver.execute_script("return document.documentElement.clientWidth")
        assert width <= 400  # the scroll bar, if any, takes its share
        # Nothing pushes the page sideways, and the card fits the viewport.
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        assert card.rect["x"] >= 0 and card.rect["x"] + card.rect["width"] <= width
        # Each billing code stays on one line: one box, not split at its hyphen.
        line_code = "64640\N{NON-BREAKING HYPHEN}LT"
        code = next(s for s in card.find_elements(By.CSS_SELECTOR, ".detail strong") if line_code in s.text)
        assert driver.execute_script("return arguments[0].getClientRects().length", code) == 1
        button = card.find_element(By.CSS_SELECTOR, ".suggestion button.accept")
        assert button.rect["x"] + button.rect["width"] <= width


def test_a_discharge_review_of_an_encounter_billed_with_too_many_units(launched, browser):
    from selenium.webdriver.common.by import By

    base, _, _ = launched
    _open(browser, f"{base}/")
    _patient(browser, "dis-units", "enc-done-units")  # a discharge scenario's patient, on the fixture server
    browser.find_element(By.CSS_SELECTOR, ".order[data-index='0'] .remove").click()
    _choose(browser, "#hook", "encounter-discharge")
    cards = _send(browser)
    _shot(browser, "5-discharge-units.png")
    request = json.loads(browser.find_element(By.ID, "raw-request").text.split("\n\n", 1)[1])
    assert "draftOrders" not in request["context"] and request["context"]["encounterId"] == "enc-done-units"
    assert "claims" in request["prefetch"]  # discharge's own template, from discovery
    [card] = cards
    assert card.get_attribute("data-rule") == "billed-differs"
    assert "units" in card.find_element(By.TAG_NAME, "h3").text
    assert "Replace with 64640-RT" in card.find_element(By.CSS_SELECTOR, ".suggestion button.accept").text
