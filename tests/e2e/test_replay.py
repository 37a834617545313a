"""`cpt64640 replay` on single scenarios: both modes with HTML and JUnit reports, a wrong golden fails in a coder's
words (terminal and report), text is escaped in the report, goldens can be rewritten, a running service can be the
target, a plain Bundle is replayed, and the HTML report reads well in a real browser. The whole corpus runs once
per mode in test_scenarios.py."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpt64640_cds.cli import main

from ..browser import chromium, is_png, needs_chromium
from ..conftest import FIXTURES

TIMES = "\N{MULTIPLICATION SIGN}"  # "64640-LT x 1": units, as a coder writes them


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _replay(*args: str) -> Ran:
    """`cpt64640 replay --quiet ...` run by the command's own `main`, in this process (the knowledge base is
    loaded once for all of them); test_the_console_script_is_installed runs the installed command itself."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["replay", "--quiet", *args])
    return Ran(code, out.getvalue(), err.getvalue())


# Two scenarios with a card each: a 64640 line (line-suggestion) and a nerve with its own code (more-specific-code).
REPORTED = ("line-lfcn-phenol-left", "specific-genicular")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    scenarios = [str(FIXTURES / "scenarios" / name) for name in REPORTED]
    result = _replay(
        *scenarios, "--mode", "both", "--html", str(out / "report.html"), "--junit", str(out / "junit.xml")
    )
    return result, out


def test_scenarios_pass_in_both_modes_with_html_and_junit_reports(report):
    result, out = report
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{len(REPORTED)} of {len(REPORTED)} scenarios pass (prefetch, fetch)" in result.stdout
    junit = (out / "junit.xml").read_text()
    assert 'failures="0"' in junit and junit.count("<testcase") == 2 * len(REPORTED)
    html = (out / "report.html").read_text()
    assert html.count('class="card"') >= len(REPORTED) and "Rules fired" in html
    assert "<script" not in html  # self-contained and inert


def _copy_scenario(tmp_path: Path, name: str) -> Path:
    """A scenario folder with its patient record, laid out as in fhir-fixtures/."""
    shutil.copytree(FIXTURES / "ehr", tmp_path / "ehr")
    target = tmp_path / "scenarios" / name
    shutil.copytree(FIXTURES / "scenarios" / name, target)
    return target


def test_a_wrong_golden_is_told_in_a_coders_words_on_the_terminal_and_in_the_report(tmp_path):
    two_nerves = _copy_scenario(tmp_path, "line-two-nerves-same-side")
    golden = json.loads((two_nerves / "expected.json").read_text())
    card = next(c for c in golden["cards"] if c["topic"] == "line-suggestion")
    second = next(line for line in card["lines"] if "59" in line[1])
    second[1] = ["LT"]  # drop the 59 the policy puts on the second line
    (two_nerves / "expected.json").write_text(json.dumps(golden))
    lfcn = tmp_path / "scenarios" / "line-lfcn-phenol-left"
    shutil.copytree(FIXTURES / "scenarios" / lfcn.name, lfcn)
    golden = json.loads((lfcn / "expected.json").read_text())
    golden["cards"][0]["lines"][0][1] = ["RT"]  # a side the record does not have
    (lfcn / "expected.json").write_text(json.dumps(golden))

    result = _replay(str(tmp_path / "scenarios"), "--html", str(tmp_path / "report.html"))
    assert result.returncode == 1
    told = [
        f"line-suggestion card: expected line: 64640-RT {TIMES} 1, left lateral femoral cutaneous nerve, on G57.12"
        f" / got line: 64640-LT {TIMES} 1, left lateral femoral cutaneous nerve, on G57.12",
        f"line-suggestion card: expected line: 64640-LT {TIMES} 1, left musculocutaneous nerve, on no diagnosis"
        f" / got line: 64640-LT-59 {TIMES} 1, left musculocutaneous nerve, on no diagnosis",
    ]
    assert "FAIL line-two-nerves-same-side [prefetch]" in result.stdout
    assert "0 of 2 scenarios pass" in result.stdout
    page = (tmp_path / "report.html").read_text()
    for words in told:
        assert f"  {words}\n" in result.stdout
        assert f"<li>{words}</li>" in page
    assert '"64640"' not in result.stdout and "[[" not in page  # no JSON arrays for a coder to decode


def test_a_missing_card_is_named_and_its_lines_listed(tmp_path):
    folder = _copy_scenario(tmp_path, "line-lfcn-phenol-left")
    (folder / "expected.json").write_text('{"cards": []}')
    result = _replay(str(tmp_path / "scenarios"), "--mode", "both")
    assert result.returncode == 1
    for mode in ("prefetch", "fetch"):
        failure = result.stdout.split(f"FAIL line-lfcn-phenol-left [{mode}]")[1].split("FAIL")[0]
        assert "line-suggestion card: expected card: none / got card: line-suggestion (info)" in failure
        assert (
            f"expected line: none / got line: 64640-LT {TIMES} 1, left lateral femoral cutaneous nerve, on G57.12"
            in failure
        )


def test_card_text_is_escaped_in_the_report(tmp_path):
    folder = _copy_scenario(tmp_path, "line-lfcn-phenol-left")
    meta = json.loads((folder / "scenario.json").read_text())
    meta["description"] = '<script>alert("x")</script> & <b>bold</b>'
    (folder / "scenario.json").write_text(json.dumps(meta))
    result = _replay(str(tmp_path / "scenarios"), "--html", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stdout
    page = (tmp_path / "report.html").read_text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script" not in page and "<b>bold" not in page


def test_update_golden_rewrites_the_expectation(tmp_path):
    folder = _copy_scenario(tmp_path, "line-bilateral-lfcn")
    (folder / "expected.json").write_text('{"cards": []}')
    assert _replay(str(tmp_path / "scenarios")).returncode == 1
    result = _replay(str(tmp_path / "scenarios"), "--update-golden")
    assert result.returncode == 0 and "updated" in result.stdout
    written = json.loads((folder / "expected.json").read_text())
    card = next(c for c in written["cards"] if c["topic"] == "line-suggestion")
    assert [line[1] for line in card["lines"]] == [["LT"], ["RT"]]
    assert _replay(str(tmp_path / "scenarios")).returncode == 0


def test_replay_against_a_running_service(service):
    result = _replay(
        str(FIXTURES / "scenarios" / "line-two-nerves-same-side"), "--url", service.base_url, "--mode", "fetch"
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 of 1 scenarios pass (fetch)" in result.stdout


def test_a_plain_patient_bundle_is_replayed_around_an_unrelated_order():
    bundle = sorted((FIXTURES / "external" / "smart-sandbox").glob("*.json"))[0]
    result = _replay(str(bundle))
    assert result.returncode == 0, result.stdout
    assert "1 of 1 scenarios pass" in result.stdout


def test_missing_path_is_a_usage_error():
    result = _replay("no/such/folder")
    assert result.returncode == 2 and "no such file or folder" in result.stderr


def test_the_console_script_is_installed():
    command = Path(sys.executable).parent / "cpt64640"
    result = subprocess.run([command, "replay", "--quiet", "no/such/folder"], capture_output=True, text=True)
    assert result.returncode == 2 and "no such file or folder" in result.stderr


@needs_chromium
def test_report_in_a_real_browser(report, tmp_path):
    from selenium.webdriver.common.by import By

    _, out = report
    with chromium(tmp_path / "profile") as driver:
        driver.get((out / "report.html").as_uri())
        summary = driver.find_element(By.ID, "summary")
        assert summary.is_displayed()
        rules = [
            row.find_elements(By.TAG_NAME, "td")[0].text for row in summary.find_elements(By.CSS_SELECTOR, "tbody tr")
        ]
        assert "line-suggestion" in rules and "more-specific-code" in rules
        card = driver.find_element(By.CSS_SELECTOR, ".card[data-topic='line-suggestion']")
        assert card.is_displayed() and "Bill 64640" in card.text
        assert card.find_element(By.TAG_NAME, "button").is_displayed()
        assert driver.find_elements(By.CSS_SELECTOR, "section.scenario[data-passed='false']") == []
        screenshot = tmp_path / "report.png"
        driver.save_screenshot(str(screenshot))
        assert is_png(screenshot)
