"""Every label the UI paints on a solid colour reads at WCAG AA (issue 17), checked from the
sources so that no state has to happen on screen for it to be seen.

The size matrix runs axe-core on what the demo shows at that moment; a tag that appears only when
an event of its kind is in the panel (a prompt, a recovery) escapes it on a run where none was.
This test reads every CSS rule of ui/src (Svelte <style> blocks and .css files) that sets both a
background and a text colour, resolves `var(--x)` from app.css's :root, and fails when the two
contrast less than 4.5:1. It also checks each level's colour (`--c`) against its ink (`--ink`).
Translucent colours (rgba, color-mix) are left to axe-core in the browser.
"""
import pathlib
import re

UI = pathlib.Path(__file__).resolve().parents[2] / "ui" / "src"
AA = 4.5


def luminance(hex6):
    channels = [int(hex6[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a, b):
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def styles():
    for path in sorted(UI.rglob("*")):
        if path.suffix == ".css":
            yield path, path.read_text()
        elif path.suffix == ".svelte":
            for block in re.findall(r"<style[^>]*>(.*?)</style>", path.read_text(), re.S):
                yield path, block


def root_vars():
    css = (UI / "app.css").read_text()
    root = re.search(r":root\s*\{(.*?)\}", css, re.S).group(1)
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", root))


def solid(value, variables, depth=0):
    """The colour as six hex digits, or None when it is not a plain solid colour."""
    value = value.strip()
    m = re.fullmatch(r"var\((--[\w-]+)\)", value)
    if m and depth < 5 and m.group(1) in variables:
        return solid(variables[m.group(1)], variables, depth + 1)
    m = re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", value)
    if not m:
        return None
    h = m.group(1)
    return "".join(c * 2 for c in h) if len(h) == 3 else h


def rules(css):
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = {}
        for name, value in re.findall(r"(?:^|;)\s*([\w-]+)\s*:\s*([^;]+)", body):
            decls[name.strip()] = value.strip().replace("!important", "").strip()
        yield " ".join(selector.split()), decls


def test_rules_that_set_a_background_and_a_text_colour_contrast_at_aa():
    variables = root_vars()
    checked, weak = 0, []
    for path, css in styles():
        for selector, decls in rules(css):
            bg = decls.get("background-color") or decls.get("background")
            ink = decls.get("color")
            if not bg or not ink:
                continue
            a, b = solid(bg, variables), solid(ink, variables)
            if not a or not b:
                continue
            checked += 1
            ratio = contrast(a, b)
            if ratio < AA:
                weak.append("%s: %s { background %s, color %s } %.2f:1"
                            % (path.relative_to(UI), selector, bg, ink, ratio))
    assert checked >= 10, "too few rules found (%d): the parser no longer reads the styles" % checked
    assert not weak, "\n".join(weak)


def test_each_state_colour_carries_its_ink_at_aa():
    variables = root_vars()
    css = (UI / "app.css").read_text()
    states = re.findall(r"(\.st-[\w-]+)\s*\{\s*--c:\s*([^;]+);\s*--ink:\s*([^;]+);", css)
    assert len(states) >= 7, states
    weak = []
    for selector, c, ink in states:
        ratio = contrast(solid(c, variables), solid(ink, variables))
        if ratio < AA:
            weak.append("%s: %s on %s %.2f:1" % (selector, ink, c, ratio))
    blink = solid("var(--lv5-blink)", variables)
    ratio = contrast(blink, "ffffff")
    if ratio < AA:
        weak.append("Lv.5 blink: #fff on #%s %.2f:1" % (blink, ratio))
    assert not weak, "\n".join(weak)
