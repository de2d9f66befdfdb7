"""Packaging and the README: what a fresh install and a reader of the README get."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("rnpa-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_ships_the_data_with_its_license(wheel):
    names = set(wheel.namelist())
    for asset in ("flowers32.npz", "LICENSE.txt", "README.md"):
        assert f"rnpa/assets/{asset}" in names
    npz = wheel.getinfo("rnpa/assets/flowers32.npz")
    assert npz.file_size == (ROOT / "rnpa/assets/flowers32.npz").stat().st_size
    # the package, not the tests or notebooks
    assert "rnpa/models.py" in names
    assert not any(n.startswith(("tests/", "notebooks/")) for n in names)


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- test-command -->", 1)[1]
    command = re.search(r"```bash\n(.+?)\n```", block, re.S).group(1).strip()
    assert "pytest" in command and "requirements.txt" in command
    # .ci/run extracts the line after the marker; run its extraction alone
    awk = re.search(r"cmd=\$\(awk '(.+?)' README.md\)", (ROOT / ".ci/run").read_text()).group(1)
    extracted = subprocess.run(
        ["awk", awk, "README.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert extracted == command


def test_readme_lists_every_lesson_that_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"notebooks/(\d\d_[a-z_]+\.ipynb)", readme))
    present = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert listed == present
