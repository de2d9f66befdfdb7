"""Tests of rnpa.course: profile, repository URL, Colab badges, running notebooks, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from rnpa import course
from rnpa.__main__ import main

FAKE_URL = "https://github.com/someone-else/my-fork"
OLD_BADGE = (
    "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
    "(https://colab.research.google.com/github/old/place/blob/main/notebooks/x.ipynb)"
)


def _lesson(path: Path, code: str = "print(1)") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# A lesson\n\n{OLD_BADGE}\n\nTime: 1 minute."),
        nbformat.v4.new_code_cell(
            "import sys\n"
            'RNPA_SOURCE = "rnpa @ git+https://github.com/old/place"  # set by course badges\n'
            'if "google.colab" in sys.modules:\n'
            "    pass\n"
        ),
        nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------
# profile and repository_url
# ----------------------------------------------------------------------------
def test_profile_reads_the_environment(monkeypatch):
    monkeypatch.delenv("RNPA_PROFILE", raising=False)
    assert course.profile() == "full"
    monkeypatch.setenv("RNPA_PROFILE", " Quick ")
    assert course.profile() == "quick"
    monkeypatch.setenv("RNPA_PROFILE", "fast")
    with pytest.raises(ValueError, match="RNPA_PROFILE.*'fast'"):
        course.profile()


def test_repository_url_comes_from_the_package_metadata():
    url = course.repository_url()
    assert url.startswith("https://github.com/")
    assert not url.endswith("/") and not url.endswith(".git")
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'Repository = "{url}"' in pyproject


def test_repository_url_without_metadata(monkeypatch):
    class Meta:
        def get_all(self, name):
            return ["Documentation, https://example.org/docs"]

    monkeypatch.setattr(course.importlib.metadata, "metadata", lambda name: Meta())
    with pytest.raises(RuntimeError, match="Repository"):
        course.repository_url()


def test_colab_url_and_pip_source():
    assert course.colab_url(FAKE_URL + ".git", "notebooks/01_a.ipynb") == (
        "https://colab.research.google.com/github/someone-else/my-fork/blob/main/notebooks/01_a.ipynb"
    )
    assert course.pip_source(FAKE_URL + "/") == "rnpa @ git+https://github.com/someone-else/my-fork"
    with pytest.raises(ValueError, match="repo_url.*gitlab"):
        course.colab_url("https://gitlab.com/a/b", "01_a.ipynb")
    with pytest.raises(TypeError, match="repo_url"):
        course.pip_source(None)


# ----------------------------------------------------------------------------
# update_badges
# ----------------------------------------------------------------------------
def test_update_badges_rewrites_badge_and_install_line(tmp_path):
    path = _lesson(tmp_path / "01_lesson.ipynb")
    (tmp_path / "notes.ipynb").write_text("not a lesson, never read")
    changed = course.update_badges(tmp_path, repo_url=FAKE_URL)
    assert changed == [path]
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0].source
    assert (
        "(https://colab.research.google.com/github/someone-else/my-fork/blob/main/"
        "notebooks/01_lesson.ipynb)" in first
    )
    assert "old/place" not in first and "Time: 1 minute." in first
    setup = nb.cells[1].source
    assert 'RNPA_SOURCE = "rnpa @ git+https://github.com/someone-else/my-fork"' in setup
    assert "# set by course badges" in setup
    assert nb.cells[3].source == "print(1)"


def test_update_badges_is_idempotent(tmp_path):
    path = _lesson(tmp_path / "02_lesson.ipynb")
    course.update_badges(tmp_path, repo_url=FAKE_URL)
    before = path.read_bytes()
    assert course.update_badges(tmp_path, repo_url=FAKE_URL) == []
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_update_badges_default_url_is_the_repository(tmp_path):
    path = _lesson(tmp_path / "03_lesson.ipynb")
    course.update_badges(tmp_path)
    assert course.colab_url(course.repository_url(), path.name) in path.read_text()


def test_update_badges_refuses_a_lesson_without_badge(tmp_path):
    good = _lesson(tmp_path / "01_good.ipynb")
    bad = _lesson(tmp_path / "02_bad.ipynb")
    nb = nbformat.read(bad, as_version=4)
    nb.cells[0].source = "# no badge here"
    nbformat.write(nb, bad)
    before = good.read_bytes()
    with pytest.raises(ValueError, match="02_bad.ipynb.*badge"):
        course.update_badges(tmp_path, repo_url=FAKE_URL)
    assert good.read_bytes() == before  # nothing written when one lesson is wrong
    with pytest.raises(FileNotFoundError, match="notebooks_dir"):
        course.update_badges(tmp_path / "missing", repo_url=FAKE_URL)


# ----------------------------------------------------------------------------
# clean_notebook and run_course
# ----------------------------------------------------------------------------
def test_clean_notebook_drops_stderr_and_papermill_metadata():
    nb = {
        "metadata": {"papermill": {"duration": 3.0}, "kernelspec": {"name": "python3"}},
        "cells": [
            {"cell_type": "code", "metadata": {"papermill": {}, "execution": {}, "tags": ["x"]},
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "kept"},
                         {"output_type": "stream", "name": "stderr", "text": "absl noise"},
                         {"output_type": "stream", "name": "stdout", "text": [" and", " joined"]}]},
            {"cell_type": "markdown", "metadata": {"papermill": {}}, "source": "hi"},
        ],
    }
    course.clean_notebook(nb)
    assert nb["metadata"] == {"kernelspec": {"name": "python3"}}
    assert nb["cells"][0]["metadata"] == {"tags": ["x"]}
    assert nb["cells"][0]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "kept and joined"}
    ]
    assert nb["cells"][1]["metadata"] == {}


def test_run_course_executes_in_order_with_profile_and_parameters(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    code = (
        "import os, sys\n"
        "print('profile', os.environ['RNPA_PROFILE'], 'X', X)\n"
        "print('noise', file=sys.stderr)"
    )
    _lesson(src / "01_a.ipynb", code)
    _lesson(src / "02_b.ipynb", code)
    monkeypatch.setenv("RNPA_PROFILE", "full")
    seconds = course.run_course(
        tmp_path / "out", profile="quick", parameters={"X": 7}, notebooks_dir=src
    )
    assert list(seconds) == ["01_a.ipynb", "02_b.ipynb"]
    for name in seconds:
        nb = nbformat.read(tmp_path / "out" / name, as_version=4)
        outputs = nb.cells[-1].outputs
        assert [o.get("name") for o in outputs] == ["stdout"]  # stderr removed
        assert outputs[0]["text"].strip() == "profile quick X 7"
        assert "papermill" not in nb.metadata
    assert course.profile() == "full"  # the caller's environment is restored


def test_run_course_only_and_inplace(tmp_path):
    _lesson(tmp_path / "01_a.ipynb", "print('ran a')")
    b = _lesson(tmp_path / "02_b.ipynb", "print('ran b')")
    seconds = course.run_course(None, profile="quick", notebooks_dir=tmp_path, inplace=True,
                                only=["02"])
    assert list(seconds) == ["02_b.ipynb"]
    nb = json.loads(b.read_text())
    assert "".join(nb["cells"][-1]["outputs"][0]["text"]) == "ran b\n"
    assert not json.loads((tmp_path / "01_a.ipynb").read_text())["cells"][-1]["outputs"]


def test_run_course_rejects_bad_arguments(tmp_path):
    _lesson(tmp_path / "01_a.ipynb")
    with pytest.raises(ValueError, match="profile"):
        course.run_course(tmp_path / "o", profile="slow", notebooks_dir=tmp_path)
    with pytest.raises(TypeError, match="parameters"):
        course.run_course(tmp_path / "o", parameters=[("X", 1)], notebooks_dir=tmp_path)
    with pytest.raises(ValueError, match="out_dir"):
        course.run_course(None, notebooks_dir=tmp_path)
    with pytest.raises(ValueError, match="only"):
        course.run_course(tmp_path / "o", notebooks_dir=tmp_path, only=["09"])


# ----------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------
def test_cli_course_badges(tmp_path, capsys):
    path = _lesson(tmp_path / "01_a.ipynb")
    assert main(["course", "badges", "--notebooks", str(tmp_path), "--url", FAKE_URL]) == 0
    assert "someone-else/my-fork" in path.read_text()
    assert "1 notebook(s) changed" in capsys.readouterr().out


def test_cli_course_run(tmp_path, capsys):
    _lesson(tmp_path / "01_a.ipynb", "print('X is', X)")
    status = main(["course", "run", "--notebooks", str(tmp_path), "--out", str(tmp_path / "o"),
                   "--profile", "quick", "-p", "X=[1, 2]"])
    assert status == 0
    nb = nbformat.read(tmp_path / "o" / "01_a.ipynb", as_version=4)
    assert nb.cells[-1].outputs[0]["text"] == "X is [1, 2]\n"
    assert "01_a.ipynb" in capsys.readouterr().out
    assert main(["course", "run", "--notebooks", str(tmp_path), "-p", "1X=2"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
