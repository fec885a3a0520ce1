"""Accessibility checks for Playwright pages: axe-core, sideways scroll, keyboard.

axe-core comes from npm (a devDependency, installed by ``make install``); it is read from
``node_modules`` and added to the page as a script. Pages need a context made with
``bypass_csp=True``: the portal's Content-Security-Policy refuses inline scripts.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import REPO

AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
    summary: (v.nodes[0] && v.nodes[0].failureSummary || "").split("\\n").slice(0, 3).join(" "),
  }));
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: run `make install` (npm ci)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['targets']} {v['summary']}"
            for v in violations]  # fmt: skip


WIDE = """limit => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > limit + 0.5 && !e.closest('.table-scroll'))
  .filter(e => getComputedStyle(e).visibility !== 'hidden')
  .map(e => {
    const id = e.dataset.testid ? `[${e.dataset.testid}]` : '';
    const right = Math.round(e.getBoundingClientRect().right);
    return `${e.tagName.toLowerCase()}${id}.${[...e.classList].join('.')} ends at ${right}`;
  })
  .slice(0, 6)"""


def sideways_scroll(page: Any, width: int) -> str:
    """Empty when the page fits ``width`` CSS pixels, else how wide it is and what sticks out.

    The page must already have that viewport width."""
    scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
    if scroll_width <= width:
        return ""
    return f"{scroll_width} px wide at {width} px: {page.evaluate(WIDE, width)}"


# Elements that the keyboard reaches, in page order (tabindex > 0 breaks page order: the
# Tab walk then differs from this list). One radio button of a group is reachable.
FOCUSABLE = """() => {
  const sel = 'a[href], button, input, select, textarea, summary, [tabindex], '
    + '[contenteditable=true]';
  const seen = new Set();
  const out = [];
  document.querySelectorAll(sel).forEach(e => {
    if (e.disabled || e.type === 'hidden' || e.tabIndex < 0) return;
    if (e.closest('[hidden], [inert]')) return;
    if (e.closest('details:not([open])') && e.tagName !== 'SUMMARY') return;
    const style = getComputedStyle(e);
    if (style.visibility === 'hidden' || style.display === 'none') return;
    const box = e.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) return;
    if (e.type === 'radio' && e.name) {
      if (seen.has(e.name)) return;
      seen.add(e.name);
    }
    e.dataset.a11yOrder = String(out.length);
    out.push(describeElement(e));
  });
  function describeElement(e) {
    const name = e.dataset.testid || e.id || e.getAttribute('aria-label')
      || e.textContent.trim().slice(0, 30);
    return `${e.tagName.toLowerCase()}:${name}`;
  }
  return out;
}"""

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  // A visually hidden input (a file input inside a label styled as a button) shows its
  // focus on the label around it.
  const box = e.getBoundingClientRect();
  const shown = box.width < 4 && box.height < 4 && e.closest('label') || e;
  const style = getComputedStyle(shown);
  const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  return { order: e.dataset.a11yOrder ?? null, tag: e.tagName.toLowerCase(),
           name: e.dataset.testid || e.id || e.textContent.trim().slice(0, 30),
           visible: ring || Boolean(shadow),
           outline: `${style.outlineStyle} ${style.outlineWidth}` };
}"""


def tab_walk(page: Any) -> list[str]:
    """Press Tab from the top of the page through every control; returns the problems.

    Checks that Tab visits exactly the page's controls, in page order, each with a visible
    focus ring (an outline of at least 2 px, or a box shadow)."""
    expected: list[str] = page.evaluate(FOCUSABLE)
    # Start from the top of the page (not from an autofocus field): focus a stand-in that
    # Tab itself never reaches, placed first in the body, and drop it after the first Tab.
    page.evaluate("""() => {
      const start = document.createElement('span');
      start.tabIndex = -1; start.id = 'a11y-start';
      document.body.prepend(start); start.focus(); window.scrollTo(0, 0); }""")
    problems: list[str] = []
    visited: list[str] = []
    seen: set[str | None] = set()
    for _ in range(len(expected) + 5):
        page.keyboard.press("Tab")
        page.evaluate("() => document.getElementById('a11y-start')?.remove()")
        focused = page.evaluate(FOCUSED)
        if focused is None or (focused["order"] is not None and focused["order"] in seen):
            break  # past the last control (into the browser's own UI), or round again
        seen.add(focused["order"])
        label = f"{focused['tag']}:{focused['name']}"
        if focused["order"] is None:
            problems.append(f"Tab reached {label}, which is not a visible control")
            continue
        visited.append(expected[int(focused["order"])])
        if not focused["visible"]:
            problems.append(f"{label} has no visible focus ring ({focused['outline']})")
    if visited != expected:
        problems.append(f"Tab order {visited} differs from page order {expected}")
    return problems


DESCRIBE_LISTENER = """function() {
  const native = this.closest('a[href], button, input, select, textarea, summary, label');
  const testid = this.dataset.testid || '';
  const name = this.tagName.toLowerCase() + (testid ? `[${testid}]` : '');
  return { native: Boolean(native), name, testid };
}"""
CLICK_EVENTS = {"click", "mousedown", "mouseup", "pointerdown", "pointerup", "dblclick"}
NATIVE = {"a", "button", "input", "select", "textarea", "summary", "label", "option"}


def click_only_elements(page: Any, root: str = "body", exempt: tuple[str, ...] = ()) -> list[str]:
    """Elements under ``root`` with a mouse/pointer listener that are not buttons, links or
    form controls (nor inside one), so a keyboard cannot use them. Read through the
    DevTools protocol (DOMDebugger.getEventListeners); ``exempt`` are data-testids."""
    cdp = page.context.new_cdp_session(page)
    try:
        handle = cdp.send(
            "Runtime.evaluate",
            {"expression": f"[...document.querySelectorAll('{root}, {root} *')]"},
        )
        elements = {"objectId": handle["result"]["objectId"], "ownProperties": True}
        props = cdp.send("Runtime.getProperties", elements)
        found = []
        for prop in props["result"]:
            if not prop["name"].isdigit():
                continue
            object_id = prop["value"]["objectId"]
            listeners = cdp.send("DOMDebugger.getEventListeners", {"objectId": object_id})
            kinds = {item["type"] for item in listeners["listeners"]} & CLICK_EVENTS
            if not kinds:
                continue
            info = cdp.send(
                "Runtime.callFunctionOn",
                {
                    "objectId": object_id,
                    "functionDeclaration": DESCRIBE_LISTENER,
                    "returnByValue": True,
                },
            )["result"]["value"]
            if info["native"] or info["testid"] in exempt:
                continue
            found.append(f"{info['name']} listens to {sorted(kinds)}")
        return found
    finally:
        cdp.detach()
