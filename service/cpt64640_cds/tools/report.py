"""Replay reports: one self-contained HTML page for people, JUnit XML for CI.

The HTML shows each scenario's cards the way an EHR shows them — indicator colour, summary, the Markdown
detail rendered, suggestions as buttons with the lines they would create — with pass/fail against the golden
expectation and, for a failure, what differs in words, and a table of how often each rule fired. It is rendered
from the Jinja2 templates in templates/ with autoescaping on: card text can quote what an EHR sent, and the
report must never run it. No scripts, fonts or images are loaded from anywhere: the file opens offline.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.etree import ElementTree as ET

import markdown
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from .cards import charge_line, topics
from .replay import Result, Run

INDICATOR_COLOURS = {"info": "#2f6fb3", "warning": "#c77c02", "critical": "#b3261e"}


def _markdown(text: str) -> Markup:
    # Escaped first, so Markdown sees text, never HTML: what it returns is then safe to insert.
    return Markup(markdown.markdown(html.escape(text, quote=False), extensions=["tables"]))


def _charged(action: dict[str, Any]) -> dict[str, Any] | None:
    """The billing line a suggestion's action creates, for the button's list; None for other actions."""
    resource = action.get("resource", {})
    if action["type"] != "create" or resource.get("resourceType") != "ChargeItem":
        return None
    line = charge_line(resource)
    return {
        "label": "-".join([line.code, *line.modifiers]),
        "units": line.units,
        "site": f"{line.side} {line.nerve}" if line.side else line.nerve,
    }


@cache
def _templates() -> Environment:
    env = Environment(loader=PackageLoader(__package__ or "cpt64640_cds.tools", "templates"), autoescape=True)
    env.filters["markdown"] = _markdown
    env.globals.update(charged=_charged, colours=INDICATOR_COLOURS, explanation_key="cpt64640-cds.explanation")
    return env


@dataclass
class _Scenario:
    """One scenario as the report shows it: its first run's cards, and why any run failed."""

    name: str
    description: str
    passed: bool
    modes: str
    cards: list[dict[str, Any]]
    problems: list[tuple[str, list[str]]]  # (mode, or "prefetch and fetch disagree"; what is wrong, in words)


def _scenario(runs: list[Run], disagreement: list[str] | None) -> _Scenario:
    scenario = runs[0].scenario
    problems = [(run.mode, run.problems()) for run in runs if not run.passed]
    if disagreement is not None:
        problems.append(("prefetch and fetch disagree", disagreement))
    return _Scenario(
        name=scenario.name,
        description=scenario.description,
        passed=not problems,
        modes=", ".join(f"{r.mode} {'✓' if r.passed else '✗'} ({r.seconds * 1000:.0f} ms)" for r in runs),
        cards=runs[0].cards,
        problems=problems,
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
    scenarios = [_scenario(runs, result.disagreements.get(name)) for name, runs in by_scenario.items()]
    return (
        _templates()
        .get_template("report.html.jinja")
        .render(
            title=title,
            scenarios=scenarios,
            failing=[s for s in scenarios if not s.passed],
            runs=len(result.runs),
            verdict="pass" if result.passed else "fail",
            fired=[
                (rule, n, scenarios_fired[rule]) for rule, n in sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        )
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
            failure.text = "\n".join(run.problems())
    for name, problems in result.disagreements.items():
        case = ET.SubElement(suite, "testcase", classname="replay", name=f"{name} [prefetch = fetch]")
        ET.SubElement(case, "failure", message="prefetch and fetch disagree").text = "\n".join(problems)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
