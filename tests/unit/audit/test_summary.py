"""summary.html: the totals, a chart per rule and per month (inline SVG), every rule, the encounters with the
most findings, and every finding with a link to its evidence; text escaped; nothing fetched from anywhere."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

from cpt64640_cds.audit import summary
from cpt64640_cds.audit.model import FindingRow
from cpt64640_cds.audit.summary import NO_DATE, largest_gaps, month_chart, per_month, render, rule_chart

from .rows import ROWS, RUN, TOTALS


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.found


def test_the_summary_shows_totals_charts_every_rule_and_every_finding():
    html = render(ROWS, TOTALS, RUN)
    elements = _elements(html)
    assert [tag for tag, _ in elements].count("svg") == 2
    assert "Findings per rule" in html and "Findings per month" in html
    for rule in ("line-suggestion", "bundled-guidance", "billed-units", "&lt;script&gt;alert(1)&lt;/script&gt;"):
        assert html.count(rule) >= 3  # chart label, rule table, findings table
    assert "<script>" not in html and "p&lt;3&gt;" in html and "e&amp;4" in html
    assert "<dt>Resources read</dt><dd>9</dd>" in html and "<dt>Malformed lines skipped</dt><dd>150" in html
    assert ">2025-03</text>" in html and ">2025-04</text>" in html and f">{NO_DATE}</text>" in html


def test_each_finding_links_to_the_list_of_its_evidence():
    html = render(ROWS, TOTALS, RUN)
    elements = _elements(html)
    ids = {attrs["id"] for _, attrs in elements if attrs.get("id")}
    links = [
        attrs["href"] for tag, attrs in elements if tag == "a" and (attrs.get("href") or "").startswith("#evidence-")
    ]
    assert len(links) == len(ROWS) and all(link[1:] in ids for link in links)
    evidence = re.search(r'<li id="evidence-3">(.*?)</li>', html, re.S)
    assert evidence is not None
    assert re.findall(r"<code>(.*?)</code>", evidence.group(1)) == ROWS[2].evidence.split()


def test_nothing_is_loaded_from_elsewhere():
    html = render(ROWS, TOTALS, RUN)
    for tag, attrs in _elements(html):
        for name, value in attrs.items():
            if value and re.match(r"\s*(https?:)?//", value):
                assert (tag, name) == ("a", "href")
    assert not re.search(r"@import|url\(", html)


def test_a_long_list_of_findings_is_capped_and_says_so(monkeypatch):
    monkeypatch.setattr(summary, "FINDINGS_LISTED", 2)
    html = render(ROWS, TOTALS, RUN)
    assert "The first 2 of 4 findings are listed here" in html
    assert 'id="evidence-2"' in html and 'id="evidence-3"' not in html


def test_no_findings_render_without_charts():
    html = render([], TOTALS, RUN)
    assert "<svg" not in html and html.count("No findings.") >= 3


def test_the_charts_scale_bars_to_the_largest_count():
    chart = rule_chart([("a", 10), ("b", 5), ("c", 0)])
    assert [bar.width for bar in chart.bars] == [380, 190, 1.0]  # an empty rule still shows a sliver
    months = month_chart([("2025-01", 4), ("2025-02", 2), ("2025-03", 0)])
    assert [bar.height for bar in months.bars] == [200, 100, 0]
    assert all(bar.y + bar.height == 230 for bar in months.bars)  # one baseline


def test_months_without_findings_between_the_first_and_last_are_on_the_axis():
    dated = [dataclasses.replace(ROWS[0], date_of_service=day) for day in ("2024-11-30", "2025-02-01", "2025-02-27")]
    undated = [dataclasses.replace(ROWS[0], date_of_service=value) for value in (None, "sometime")]
    assert per_month(dated + undated) == [("2024-11", 1), ("2024-12", 0), ("2025-01", 0), ("2025-02", 2), (NO_DATE, 2)]
    far_apart = [dataclasses.replace(ROWS[0], date_of_service=day) for day in ("1900-01-01", "2025-02-01")]
    assert per_month(far_apart) == [("1900-01", 1), ("2025-02", 1)]  # a stray date does not draw 1,500 months


def test_the_largest_gaps_are_the_encounters_with_most_findings():
    extra = FindingRow(
        "p2",
        "e9",
        "2025-04-30",
        "more-specific",
        "info",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "Procedure/pr7",
        "2026.1",
    )
    gaps = largest_gaps([*ROWS, extra, extra])
    assert [(g.patient_id, g.encounter_id, g.findings) for g in gaps] == [
        ("p2", "e9", 3),
        ("p1", "e1", 2),
        ("p<3>", "e&4", 1),
    ]
    assert gaps[0].rules == "billed-units, more-specific"
