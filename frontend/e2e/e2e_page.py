"""Page helpers for the browser tests: console and CSP watching, screenshots, axe-core audits."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "e2e"

# Collected by an init script: the page reports every CSP violation here.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


class Console:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))


def csp_violations(page: Page) -> list[str]:
    violations: list[str] = page.evaluate("window.__cspViolations || []")
    return violations


def screenshot(page: Page, name: str, full_page: bool = False) -> Path:
    """Saved under .artifacts/e2e/ for people (and CI artefacts) to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# axe-core from the frontend's devDependencies (npm ci). Evaluated through the DevTools protocol,
# which runs outside the page's CSP: what users get stays as strict as it is.
AXE_JS = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations of AXE_TAGS on the page as it is now, one entry per element:
    the rule, its impact and help, the element (selector and HTML) and the fix axe suggests."""
    if not AXE_JS.is_file():
        raise FileNotFoundError(
            f"{AXE_JS} is missing: install the frontend's packages (make frontend)"
        )
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text())
    result = page.evaluate(
        """tags => axe.run(document, {
          runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] })""",
        AXE_TAGS,
    )
    lines = []
    for rule in result["violations"]:
        for node in rule["nodes"]:
            lines.append(
                f"{rule['id']} ({rule['impact']}): {rule['help']}\n"
                f"  element: {' '.join(map(str, node['target']))}  {node['html']}\n"
                f"  fix: {node['failureSummary']}\n"
                f"  see: {rule['helpUrl']}"
            )
    return lines


# What has keyboard focus and whether a sighted user can see it: a name for it, whether it shows
# a focus ring (:focus-visible with a solid outline of 2px or more), and whether its centre is on
# screen and not covered by something else (the sticky top bar).
FOCUS_JS = """() => {
  const el = document.activeElement;
  if (el === null || el === document.body) return { name: null };
  const d = el.dataset;
  const name = el.id ? `#${el.id}`
    : d.type ? `chip:${d.type}` : d.sort ? `sort:${d.sort}` : d.code ? `code:${d.code}`
    : el.getAttribute("aria-label") || el.textContent.trim();
  const style = getComputedStyle(el);
  const ring = el.matches(":focus-visible") && style.outlineStyle !== "none"
    && parseFloat(style.outlineWidth) >= 2;
  const box = el.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const top = document.elementFromPoint(x, y);
  const seen = top !== null && (top === el || el.contains(top));
  return { name, ring, seen };
}"""


def focused(page: Page) -> dict[str, object]:
    """FOCUS_JS's answer for the focused element: {"name": ...} (None: nothing), "ring", "seen"."""
    answer: dict[str, object] = page.evaluate(FOCUS_JS)
    return answer


# Pixels of the chart's canvas in the series colour (the accent, #2563eb): the line is drawn.
LINE_PIXELS_JS = """canvas => {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - 37) < 40 && Math.abs(data[i + 1] - 99) < 40
        && Math.abs(data[i + 2] - 235) < 40 && data[i + 3] > 200) n++;
  }
  return n;
}"""


def line_pixels(page: Page) -> int:
    """How many pixels of #chart's canvas are in the line's colour."""
    count: int = page.locator("#chart canvas").evaluate(LINE_PIXELS_JS)
    return count
