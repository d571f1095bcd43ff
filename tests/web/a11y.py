"""Accessibility and look checks the browser tests share: axe-core (the npm package in tests/web/,
installed by `npm ci --prefix tests/web`) run inside the page, the reflow check at phone width
(WCAG 1.4.10: no horizontal scrolling at 320-360 CSS px) and screenshots.

axe-core is injected into the page as a script; the site's Content-Security-Policy allows no inline
script, so the pages it checks are opened in a context made with `bypass_csp=True` (`axe_context`).
Only serious and critical violations fail a test: minor and moderate ones are best practices axe
itself does not treat as barriers."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# WCAG 2.0/2.1 A and AA, plus axe's best practices (landmarks, headings...): the RGAA's scope.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING_IMPACTS = ("serious", "critical")
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Violation:
    """One axe rule broken by one or more elements of a page."""

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]
    html: tuple[str, ...]

    def describe(self) -> str:
        elements = "; ".join(f"{target} {snippet[:160]}" for target, snippet in zip(self.targets, self.html,
                                                                                    strict=True))
        return f"[{self.impact}] {self.rule}: {self.help} -- {elements}"


@cache
def axe_source() -> str:
    """The axe-core script. Missing in CI is a broken setup (fail); on a developer's machine the
    tests that need it are skipped with the command that installs it."""
    if not AXE_SCRIPT.exists():
        message = f"axe-core is not installed ({AXE_SCRIPT}): run `npm ci --prefix tests/web`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_SCRIPT.read_text(encoding="utf-8")


async def axe_context(browser: Any, **options: Any) -> Any:
    """A browser context (French, test certificates accepted) where axe can be injected."""
    options.setdefault("locale", "fr-FR")
    return await browser.new_context(ignore_https_errors=True, bypass_csp=True, **options)


async def axe_violations(page: Any, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[Violation]:
    """Run axe-core on the page as it is now; the violations of the given impacts."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=axe_source())
    results = await page.evaluate(
        """async (tags) => {
            const results = await window.axe.run(document, {runOnly: {type: "tag", values: tags},
                                                            resultTypes: ["violations"]});
            return results.violations.map(v => ({
                rule: v.id, impact: v.impact || "", help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")), html: v.nodes.map(n => n.html)}));
        }""", AXE_TAGS)
    return [Violation(rule=r["rule"], impact=r["impact"], help=r["help"], targets=tuple(r["targets"]),
                      html=tuple(r["html"]))
            for r in results if r["impact"] in impacts]


async def horizontal_overflow(page: Any) -> list[str]:
    """Elements wider than the viewport (they make the page scroll sideways); empty when it reflows."""
    return await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width) return [];
            const wide = [];
            for (const element of document.body.querySelectorAll("*")) {
                const box = element.getBoundingClientRect();
                if (box.right > width + 1 && box.width > 0 && getComputedStyle(element).position !== "fixed") {
                    wide.push(element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
                              + (element.className && typeof element.className === "string"
                                 ? "." + element.className.trim().split(/\\s+/).join(".") : "")
                              + " (right edge " + Math.round(box.right) + " px)");
                }
            }
            return wide.slice(0, 5);
        }""")


def screenshots_dir(fallback: Path) -> Path:
    """docs/screenshots/ when FEDIVERSE_SCREENSHOTS=1 (to refresh the README's images), else `fallback`
    (a temporary directory, so that test runs never change the work tree)."""
    if os.environ.get("FEDIVERSE_SCREENSHOTS") == "1":
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS_DIR
    return fallback


async def screenshot(page: Any, directory: Path, name: str, full_page: bool = True) -> Path:
    """A PNG of the page, named from `name` (letters, digits and dashes)."""
    path = directory / (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") + ".png")
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


async def focus_indicator(page: Any) -> dict[str, Any]:
    """What shows the keyboard focus on the focused element: its outline, box-shadow and place on screen."""
    return await page.evaluate(
        """() => {
            const element = document.activeElement;
            if (!element || element === document.body) return {tag: "body"};
            const style = getComputedStyle(element);
            const box = element.getBoundingClientRect();
            return {tag: element.tagName.toLowerCase(), text: (element.innerText || element.value || "").trim(),
                    href: element.getAttribute("href"), outlineStyle: style.outlineStyle,
                    outlineWidth: parseFloat(style.outlineWidth) || 0, outlineColor: style.outlineColor,
                    top: box.top, left: box.left, right: box.right, bottom: box.bottom,
                    viewportWidth: document.documentElement.clientWidth, viewportHeight: window.innerHeight};
        }""")


def visible_focus(indicator: dict[str, Any]) -> bool:
    """A solid outline at least 2 px wide, on an element on screen (WCAG 2.4.7, and 2.4.11's 2 px)."""
    return (indicator.get("outlineStyle") not in (None, "none") and indicator.get("outlineWidth", 0) >= 2
            and indicator["right"] > 0 and indicator["left"] < indicator["viewportWidth"]
            and indicator["bottom"] > 0 and indicator["top"] < indicator["viewportHeight"])


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, from its header."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
