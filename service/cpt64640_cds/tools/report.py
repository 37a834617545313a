"""Replay reports: one self-contained HTML page for people, JUnit XML for CI.

The HTML shows each scenario's cards the way an EHR shows them — indicator colour, summary, the Markdown
detail rendered, suggestions as buttons with the lines they would create — with pass/fail against the golden
expectation and its diff, and a table of how often each rule fired. No scripts, fonts or images are loaded
from anywhere: the file opens offline.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any
from xml.etree import ElementTree as ET

import markdown

from .cards import topics
from .replay import Result, Run, diff

INDICATOR_COLOURS = {"info": "#2f6fb3", "warning": "#c77c02", "critical": "#b3261e"}

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c8cdd8}
main{padding:20px 28px;max-width:1100px}
table{border-collapse:collapse;background:#fff;margin:8px 0 18px}
th,td{border:1px solid #d8dce4;padding:5px 9px;text-align:left}
th{background:#eceff4}
.pass{color:#1b7a3a;font-weight:600}
.fail{color:#b3261e;font-weight:600}
section.scenario{background:#fff;border:1px solid #d8dce4;border-radius:8px;margin:14px 0;padding:12px 16px}
section.scenario h2{font-size:16px;margin:0 0 4px}
.desc{color:#5a6272;margin:0 0 8px}
.card{border:1px solid #d8dce4;border-left:6px solid var(--c);border-radius:6px;margin:10px 0;padding:8px 12px}
.card .summary{font-weight:600}
.card .topic{font-size:12px;color:#5a6272;text-transform:uppercase;letter-spacing:.04em}
.card .detail table{font-size:13px}
.suggestion{margin:6px 0}
.suggestion button{background:#fff;border:1px solid var(--c);border-radius:4px;padding:4px 10px;font:inherit}
.suggestion ul{margin:4px 0 0 18px;font-size:13px}
.evidence{font-size:12px;color:#5a6272}
pre.diff{background:#1d2330;color:#e6e9ef;padding:10px;overflow:auto;font-size:12px;border-radius:6px}
.nocards{color:#5a6272;font-style:italic}
.badge{font-size:12px;border-radius:10px;padding:1px 8px;margin-left:6px}
.badge.pass{background:#e3f3e8}
.badge.fail{background:#fbe4e2}
"""


def _markdown(text: str) -> str:
    # Escape first: card text can quote what an EHR sent, and the report must not run it as HTML.
    return markdown.markdown(html.escape(text, quote=False), extensions=["tables"])


def _line(resource: dict[str, Any]) -> str:
    code = resource["code"]["coding"][0]["code"]
    modifiers = [e["valueCoding"]["code"] for e in resource.get("extension", []) if "valueCoding" in e]
    site = ", ".join(
        b.get("text") or next((c.get("display", c["code"]) for c in b.get("coding", [])), "")
        for b in resource["bodysite"]
    )
    label = "-".join([code, *modifiers])
    return f"<b>{html.escape(label)}</b> x {resource['quantity']['value']} — {html.escape(site)}"


def _action(action: dict[str, Any]) -> str:
    resource = action.get("resource", {})
    if action["type"] == "create" and resource.get("resourceType") == "ChargeItem":
        return f"<li>Create line {_line(resource)}</li>"
    return f"<li>{html.escape(action['type'].capitalize())}: {html.escape(action['description'])}</li>"


def _card(card: dict[str, Any]) -> str:
    colour = INDICATOR_COLOURS.get(card["indicator"], "#5a6272")
    suggestions = "".join(
        f'<div class="suggestion"><button type="button">{html.escape(s["label"])}</button>'
        f"<ul>{''.join(_action(a) for a in s.get('actions', []))}</ul></div>"
        for s in card.get("suggestions", [])
    )
    explanation = card.get("extension", {}).get("cpt64640-cds.explanation", {})
    evidence = ", ".join(html.escape(e["reference"]) for e in explanation.get("evidence", []))
    reasons = ", ".join(html.escape(r["display"]) for r in card.get("overrideReasons", []))
    return (
        f'<div class="card" style="--c:{colour}" data-topic="{html.escape(card["source"]["topic"]["code"])}">'
        f'<div class="topic">{html.escape(card["indicator"])} · {html.escape(card["source"]["topic"]["code"])}</div>'
        f'<div class="summary">{html.escape(card["summary"])}</div>'
        f'<div class="detail">{_markdown(card.get("detail", ""))}</div>{suggestions}'
        f'<div class="evidence">Evidence: {evidence or "—"}'
        + (f" · Can be declined: {reasons}" if reasons else "")
        + "</div></div>"
    )


def _scenario(runs: list[Run], disagreement: str | None) -> str:
    first = runs[0]
    scenario = first.scenario
    passed = all(r.passed for r in runs) and disagreement is None
    status = '<span class="badge pass">pass</span>' if passed else '<span class="badge fail">fail</span>'
    modes = ", ".join(f"{r.mode} {'✓' if r.passed else '✗'} ({r.seconds * 1000:.0f} ms)" for r in runs)
    cards = "".join(_card(c) for c in first.cards) or '<p class="nocards">No cards.</p>'
    problems = ""
    for run in runs:
        if run.error:
            problems += f'<p class="fail">{html.escape(run.mode)}: {html.escape(run.error)}</p>'
        elif not run.passed:
            text = diff(scenario.expected, run.summary, ("golden", run.mode))
            problems += f'<pre class="diff">{html.escape(text)}</pre>'
    if disagreement:
        problems += (
            f'<p class="fail">prefetch and fetch disagree</p><pre class="diff">{html.escape(disagreement)}</pre>'
        )
    return (
        f'<section class="scenario" id="{html.escape(scenario.name)}" data-passed="{str(passed).lower()}">'
        f"<h2>{html.escape(scenario.name)}{status}</h2>"
        f'<p class="desc">{html.escape(scenario.description)} <small>({html.escape(modes)})</small></p>'
        f"{cards}{problems}</section>"
    )


def html_report(result: Result, title: str = "CPT 64640 replay") -> str:
    by_scenario: dict[str, list[Run]] = {}
    for run in result.runs:
        by_scenario.setdefault(run.scenario.name, []).append(run)
    fired: Counter[str] = Counter()
    scenarios_fired: Counter[str] = Counter()
    for runs in by_scenario.values():
        rules = topics(runs[0].cards)
        fired.update(rules)
        scenarios_fired.update(set(rules))
    passing = {
        name for name, runs in by_scenario.items() if all(r.passed for r in runs) and name not in result.disagreements
    }
    failing = [name for name in by_scenario if name not in passing]
    rows = "".join(
        f"<tr><td>{html.escape(rule)}</td><td>{count}</td><td>{scenarios_fired[rule]}</td></tr>"
        for rule, count in sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    index = "".join(f'<li><a href="#{html.escape(n)}">{html.escape(n)}</a></li>' for n in failing)
    body = "".join(_scenario(runs, result.disagreements.get(name)) for name, runs in by_scenario.items())
    verdict = "pass" if result.passed else "fail"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{len(passing)} of {len(by_scenario)} scenarios pass "
        f'(<span class="{verdict}">{verdict}</span>), {len(result.runs)} runs.</p></header><main>'
        '<h2>Rules fired</h2><table id="summary"><thead><tr><th>Rule</th><th>Cards</th><th>Scenarios</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        + (f"<h2>Failing</h2><ul>{index}</ul>" if failing else "")
        + f"<h2>Scenarios</h2>{body}</main></body></html>"
    )


def junit_report(result: Result) -> str:
    suite = ET.Element(
        "testsuite",
        name="cpt64640-replay",
        tests=str(len(result.runs)),
        failures=str(sum(1 for r in result.runs if not r.passed) + len(result.disagreements)),
    )
    for run in result.runs:
        case = ET.SubElement(
            suite, "testcase", classname="replay", name=f"{run.scenario.name} [{run.mode}]", time=f"{run.seconds:.3f}"
        )
        if not run.passed:
            failure = ET.SubElement(case, "failure", message=run.error or "cards differ from golden")
            failure.text = run.error or diff(run.scenario.expected, run.summary, ("golden", run.mode))
    for name, text in result.disagreements.items():
        case = ET.SubElement(suite, "testcase", classname="replay", name=f"{name} [prefetch = fetch]")
        ET.SubElement(case, "failure", message="prefetch and fetch disagree").text = text
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
