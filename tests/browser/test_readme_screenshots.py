"""The README's screenshots tell the truth (issue 17): each image the README shows is mapped to
the UI sources drawn in it, and an image whose last commit is older than one of its sources' is
out of date. Regenerate them with `ANSHIN_UPDATE_SCREENSHOTS=1 make test` (the browser and
desktop suites copy what they capture into assets/screenshots/) and commit them with or after
the sources. No browser: git's history of the files.
"""
import os
import re
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
C = "ui/src/components/"
SHARED = ["ui/src/app.css", C + "SummaryBar.svelte", C + "SoundControl.svelte"]

# README image → the UI sources drawn in it (besides the theme; the header where it shows).
SOURCES = {
    "desktop-operator.png": SHARED + [C + "OperatorView.svelte", C + "Tile.svelte", C + "IncidentPanel.svelte",
                                      C + "Filters.svelte", C + "Unavailable.svelte"],
    "desktop-detail.png": SHARED + [C + "Detail.svelte", C + "Chart.svelte", C + "Unavailable.svelte"],
    "desktop-wall.png": SHARED + [C + "WallView.svelte", "ui/src/lib/model/wall.ts"],
    "wall-10000.png": SHARED + [C + "WallView.svelte", "ui/src/lib/model/wall.ts"],
    "desktop-review.png": ["ui/src/app.css", C + "ReviewView.svelte"],
    "escalation.png": ["ui/src/app.css", C + "EscalationPanel.svelte", C + "CallForm.svelte"],
    "backup-detail.png": ["ui/src/app.css", C + "BackupPanel.svelte"],
    "backup-restore.png": ["ui/src/app.css", C + "BackupPanel.svelte"],
    "updates-view.png": SHARED + [C + "FleetUpdatesView.svelte"],
    "updates-detail.png": ["ui/src/app.css", C + "UpdatesPanel.svelte"],
}


def last_commit(path):
    out = subprocess.run(["git", "log", "-1", "--format=%ct", "--", path], cwd=ROOT, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, "git log failed (a clone of the repository is needed): %s" % out.stderr
    return int(out.stdout.strip() or 0)


def readme_images():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return sorted(set(re.findall(r"assets/screenshots/([\w.-]+\.png)", text)))


def test_every_readme_image_exists_and_is_mapped_to_its_sources():
    images = readme_images()
    assert images
    for img in images:
        assert os.path.isfile(os.path.join(ROOT, "assets", "screenshots", img)), img
        assert img in SOURCES, "%s: map it to the UI sources it shows" % img
        for src in SOURCES[img]:
            assert os.path.isfile(os.path.join(ROOT, src)), src


@pytest.mark.parametrize("img", sorted(SOURCES))
def test_a_readme_image_is_no_older_than_the_ui_it_shows(img):
    shot = last_commit("assets/screenshots/" + img)
    assert shot > 0, "%s is not committed" % img
    newer = [src for src in SOURCES[img] if last_commit(src) > shot]
    assert not newer, "%s is older than %s: ANSHIN_UPDATE_SCREENSHOTS=1 make test, then commit it" % (
        img, ", ".join(newer))
