"""axe-core in a Playwright page: inject it once, run it, keep the serious findings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
"""The rules of WCAG 2.0, 2.1 and 2.2 at levels A and AA."""

BLOCKING = ("critical", "serious")

RUN_AXE = """async ([context, tags, rules]) => {
    const options = {runOnly: {type: "tag", values: tags}};
    if (rules.length) {  // rules beyond the tags (best practices such as "region")
        options.rules = Object.fromEntries(rules.map((r) => [r, {enabled: true}]));
    }
    const result = await axe.run(context, options);
    return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => ({
            target: n.target.join(" "), summary: n.failureSummary,
        })),
        count: v.nodes.length,
    }));
}"""


def axe_violations(
    page: Any,
    axe_js: Path,
    *,
    include: list[str] | None = None,
    rules: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.2 A and AA rules, and ``rules``) on the page or ``include``."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(axe_js))
    context: Any = {"include": [[s] for s in include]} if include else "html"
    return page.evaluate(RUN_AXE, [context, WCAG_TAGS, list(rules)])


def assert_accessible(
    page: Any,
    axe_js: Path,
    after: str,
    *,
    include: list[str] | None = None,
    required: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Fail if axe finds a critical or serious violation; return the minor ones.

    ``required`` names rules outside WCAG's tags (axe's best practices, e.g. ``region``:
    all content is in landmarks) that are run too and fail at any impact.
    """
    found = axe_violations(page, axe_js, include=include, rules=required)
    blocking = [v for v in found if v["impact"] in BLOCKING or v["id"] in required]
    assert not blocking, f"after {after}: " + "\n".join(
        f"{v['impact']} {v['id']} ({v['count']}): {v['help']}; {v['nodes']}" for v in blocking
    )
    return [v for v in found if v not in blocking]
