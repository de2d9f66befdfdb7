"""Tests of rnpa.course: profile, repository URL, Colab badges, running notebooks, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from rnpa import course
from rnpa.cli import main

ROOT = Path(__file__).resolve().parents[1]

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
            'if "google.colab" in sys.modules:  # set by course badges\n'
            '    %pip install -q "rnpa @ git+https://github.com/old/place@v0.0.1"\n'
        ),
        nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
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
    assert course.pip_source(FAKE_URL + "/", "v1.2.3") == (
        "rnpa @ git+https://github.com/someone-else/my-fork@v1.2.3"
    )
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "rnpa" / "_version.py").read_text())
    assert course.release_ref() == f"v{version.group(1)}"
    assert course.pip_source(FAKE_URL) == (
        f"rnpa @ git+https://github.com/someone-else/my-fork@v{version.group(1)}"
    )
    assert course.install_line(FAKE_URL, "0a1b2c3") == (
        '%pip install -q "rnpa @ git+https://github.com/someone-else/my-fork@0a1b2c3"'
    )
    with pytest.raises(ValueError, match="ref.*'main; rm'"):
        course.pip_source(FAKE_URL, "main; rm")
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
    ref = course.release_ref()
    fork = "https://github.com/someone-else/my-fork"
    assert f'    %pip install -q "rnpa @ git+{fork}@{ref}"' in setup
    assert "# set by course badges" in setup and "old/place" not in setup
    assert nb.cells[3].source == "print(1)"


def test_update_badges_pins_a_ref_and_reaches_solutions_and_jobs(tmp_path):
    _lesson(tmp_path / "01_lesson.ipynb")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "experiments").mkdir()
    solution = _lesson(tmp_path / "solutions" / "ex01.ipynb")
    job = tmp_path / "experiments" / "job.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A job, no badge"),
        nbformat.v4.new_code_cell('    RNPA_SOURCE = "rnpa @ git+https://github.com/o/p"'),
    ]
    nbformat.write(nb, job)
    changed = course.update_badges(tmp_path, repo_url=FAKE_URL, ref="abc1234")
    assert sorted(changed) == sorted([tmp_path / "01_lesson.ipynb", solution, job])
    text = solution.read_text()
    assert (
        "https://colab.research.google.com/github/someone-else/my-fork/blob/main/notebooks/"
        "solutions/ex01.ipynb" in text
    )
    assert "my-fork@abc1234" in text
    job_nb = nbformat.read(job, as_version=4)
    assert job_nb.cells[1].source == (
        '    RNPA_SOURCE = "rnpa @ git+https://github.com/someone-else/my-fork@abc1234"'
    )
    assert job_nb.cells[0].source == "# A job, no badge"


def test_setup_cell_is_what_update_badges_keeps(tmp_path):
    path = _lesson(tmp_path / "01_lesson.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = course.setup_cell("https://github.com/old/place", ref="v0.0.1")
    nbformat.write(nb, path)
    course.update_badges(tmp_path, repo_url=FAKE_URL)
    assert nbformat.read(path, as_version=4).cells[1].source == course.setup_cell(FAKE_URL)


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
    nb.cells[0].source = f"# badge again\n\n{OLD_BADGE}"
    nb.cells[1].source = "import rnpa"
    nbformat.write(nb, bad)
    with pytest.raises(ValueError, match="02_bad.ipynb.*install line"):
        course.update_badges(tmp_path, repo_url=FAKE_URL)
    assert good.read_bytes() == before
    with pytest.raises(FileNotFoundError, match="notebooks_dir"):
        course.update_badges(tmp_path / "missing", repo_url=FAKE_URL)


# ----------------------------------------------------------------------------
# clean_notebook and run_course
# ----------------------------------------------------------------------------
def test_clean_notebook_drops_stderr_and_papermill_metadata():
    nb = {
        "metadata": {"papermill": {"duration": 3.0}, "kernelspec": {"name": "python3"}},
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"papermill": {}, "execution": {}, "tags": ["x"]},
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "kept"},
                    {"output_type": "stream", "name": "stderr", "text": "absl noise"},
                    {"output_type": "stream", "name": "stdout", "text": [" and", " joined"]},
                ],
            },
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
    seconds = course.run_course(
        None, profile="quick", notebooks_dir=tmp_path, inplace=True, only=["02"]
    )
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
    status = main(
        [
            "course",
            "run",
            "--notebooks",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--profile",
            "quick",
            "-p",
            "X=[1, 2]",
        ]
    )
    assert status == 0
    nb = nbformat.read(tmp_path / "o" / "01_a.ipynb", as_version=4)
    assert nb.cells[-1].outputs[0]["text"] == "X is [1, 2]\n"
    assert "01_a.ipynb" in capsys.readouterr().out
    assert main(["course", "run", "--notebooks", str(tmp_path), "-p", "1X=2"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# -p NAME=VALUE: a name no lesson has is refused; a bad value fails in the apply cell
# ----------------------------------------------------------------------------
APPLY = (
    "P = rnpa.notebook_parameters(globals(), rules=dict(EPOCHS='int >= 1', DEPTH='depth 6n+2'),\n"
    "                             defaults=dict(EPOCHS=10, DEPTH=20),\n"
    "                             quick=dict(EPOCHS=1, DEPTH=8))"
)


def _parameterised(path: Path, extra: str = "") -> Path:
    """A lesson with a literal parameters cell and the apply cell of the course's convention."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# A lesson\n\n{OLD_BADGE}"),
        nbformat.v4.new_code_cell("import rnpa"),
        nbformat.v4.new_code_cell(
            'PROFILE = "auto"  # "auto", "full" or "quick"\n'
            "EPOCHS = 10  # training epochs (quick: 1)\n"
            "DEPTH = 20  # weighted layers (quick: 8)\n" + extra,
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(APPLY),
        nbformat.v4.new_code_cell("print('ran with', PROFILE, EPOCHS, DEPTH)"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_check_overrides_reads_the_parameters_as_papermill_does(tmp_path):
    a = _parameterised(tmp_path / "01_a.ipynb")
    b = _parameterised(tmp_path / "02_b.ipynb", extra="SEEDS = [0, 1]  # seeds\n")
    assert course.lesson_parameters(b) == ["PROFILE", "EPOCHS", "DEPTH", "SEEDS"]
    course.check_overrides([a, b], {"EPOCHS": 3, "SEEDS": [1]})  # SEEDS: one lesson has it
    with pytest.raises(ValueError) as err:
        course.check_overrides([a, b], {"EPOCHZ": 3, "DEPTH": 8, "SEED": 1})
    assert str(err.value) == (
        "unknown parameters EPOCHZ, SEED: no lesson run has them; the lessons' parameters are "
        "01_a.ipynb: PROFILE, EPOCHS, DEPTH; 02_b.ipynb: PROFILE, EPOCHS, DEPTH, SEEDS"
    )
    with pytest.raises(ValueError, match="unknown parameter SEEDS: no lesson run has it"):
        course.check_overrides([a], ["SEEDS"])


def test_cli_refuses_an_unknown_parameter_before_running(tmp_path, capsys):
    _parameterised(tmp_path / "01_a.ipynb")
    _parameterised(tmp_path / "02_b.ipynb", extra="SEEDS = [0, 1]  # seeds\n")
    out = tmp_path / "out"
    status = main(
        [
            "course",
            "run",
            "--notebooks",
            str(tmp_path),
            "--out",
            str(out),
            "--only",
            "01",
            "-p",
            "SEEDS=[1]",
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "rnpa course: error: unknown parameter SEEDS: no lesson run has it; the "
        "lessons' parameters are 01_a.ipynb: PROFILE, EPOCHS, DEPTH"
    )
    assert not out.exists()  # nothing ran


def test_an_injected_value_wins_over_the_quick_profile_even_at_its_default(tmp_path):
    _parameterised(tmp_path / "01_a.ipynb")
    course.run_course(
        tmp_path / "o",
        profile="quick",
        parameters={"EPOCHS": 10},
        notebooks_dir=tmp_path,
        html=False,
    )
    nb = nbformat.read(tmp_path / "o" / "01_a.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "profile quick: EPOCHS=10 (set), DEPTH=8 (quick)" in printed
    assert "ran with quick 10 8" in printed


@pytest.mark.parametrize(
    "param, message",
    [
        ("EPOCHS=-1", "EPOCHS must be an int >= 1, got -1"),
        ("EPOCHS=abc", "EPOCHS must be an int >= 1, got 'abc'"),
        ("DEPTH=-1", "DEPTH must be a depth 6n+2 with n >= 1 (8, 14, 20, 26, ...), got -1"),
        ("PROFILE=fast", "PROFILE must be one of 'auto', 'full', 'quick'"),
    ],
)
def test_a_bad_value_fails_in_the_apply_cell_with_one_line(tmp_path, capsys, param, message):
    _parameterised(tmp_path / "01_a.ipynb")
    status = main(
        [
            "course",
            "run",
            "--notebooks",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--no-html",
            "-p",
            param,
        ]
    )
    assert status == 1
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert failed[0].startswith("FAILED: 01_a.ipynb failed at cell 3 (")  # the apply cell
    assert "P = rnpa.notebook_parameters(globals(), rules=dict(" in failed[0]
    assert f"ValueError: {message}" in failed[0]
    nb = nbformat.read(tmp_path / "o" / "01_a.ipynb", as_version=4)
    assert nb.cells[-1].outputs == []  # the lesson itself never ran


# ----------------------------------------------------------------------------
# the course site and failing lessons
# ----------------------------------------------------------------------------
def _site_lesson(path: Path, title: str, first_cell_rest: str, *code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\n{first_cell_rest}"),
        nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]}),
        *[nbformat.v4.new_code_cell(c) for c in code],
        nbformat.v4.new_markdown_cell("Next: [the next lesson](02_fails.ipynb)"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


LEARN_1 = (
    "Some prose.\n\n**What you learn**\n\n- how to add <b>1</b> & 1\n- the sum *x* + `y`\n\n"
    "**Time needed** on a CPU: about a second. On a GPU: not measured."
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Four tiny lessons, the second failing at cell 3, run by the CLI with --only 01 02 03."""
    import contextlib
    import io

    src = tmp_path_factory.mktemp("lessons")
    out = src.parent / (src.name + "-site")
    _site_lesson(src / "01_first.ipynb", "Lesson 1: first <steps>", LEARN_1, "print('one', X)")
    _site_lesson(
        src / "02_fails.ipynb",
        "Lesson 2: a failure",
        "It fails.",
        "print('before')",
        "y = 1\nraise ValueError('boom in lesson 2')",
        "print('never')",
    )
    _site_lesson(
        src / "03_third.ipynb",
        "Lesson 3: after the failure",
        "Only a first paragraph here.\n\nAnd a second one.",
        "print('three')",
    )
    _site_lesson(src / "04_skipped.ipynb", "Lesson 4: not run", "Skipped.", "print('four')")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(
            [
                "course",
                "run",
                "--notebooks",
                str(src),
                "--out",
                str(out),
                "--profile",
                "quick",
                "-p",
                "X=2",
                "--only",
                "01",
                "02",
                "03",
            ]
        )
    return status, stdout.getvalue(), out


def _hrefs(page: str) -> list[str]:
    from html.parser import HTMLParser

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.hrefs.append(dict(attrs)["href"])

    parser = Links()
    parser.feed(page)
    return parser.hrefs


def test_a_failing_lesson_fails_the_command_and_names_the_cell(site):
    status, printed, _ = site
    assert status == 1
    # the fixture's cell 3 is the raising one (papermill counts its injected cell too)
    assert (
        "FAILED: 02_fails.ipynb failed at cell 3 ('y = 1'): ValueError: boom in lesson 2" in printed
    )
    table = {line.split()[0]: line for line in printed.splitlines() if line.startswith("0")}
    assert list(table) == ["01_first.ipynb", "02_fails.ipynb", "03_third.ipynb"]
    assert table["01_first.ipynb"].endswith(" ok")
    assert table["02_fails.ipynb"].endswith(" failed at cell 3")
    assert table["03_third.ipynb"].endswith(" ok")  # later lessons still run
    assert "1 of 3 failed" in printed


def test_a_failed_lesson_keeps_its_partly_executed_notebook(site):
    _, printed, out = site
    nb = nbformat.read(out / "02_fails.ipynb", as_version=4)
    by_source = {c.source: c for c in nb.cells if c.cell_type == "code"}
    assert by_source["print('before')"].outputs[0]["text"] == "before\n"
    assert by_source["y = 1\nraise ValueError('boom in lesson 2')"].outputs[0]["ename"] == (
        "ValueError"
    )
    assert by_source["print('never')"].outputs == []
    assert f"the partly executed notebook is {out / '02_fails.ipynb'}" in printed


def test_the_site_index_links_every_lesson_page_with_its_title(site):
    _, printed, out = site
    index = (out / "index.html").read_text()
    assert f"site: {out / 'index.html'}" in printed
    pages = [h for h in _hrefs(index) if h.endswith(".html")]
    assert pages == ["01_first.html", "02_fails.html", "03_third.html"]
    titles = ["Lesson 1: first &lt;steps&gt;", "Lesson 2: a failure", "Lesson 3: after the failure"]
    for page, title in zip(pages, titles, strict=True):
        text = (out / page).read_text()
        assert f"<title>{title}</title>" in text
        assert 'href="index.html"' in text  # the way back
        assert title in index
    assert "boom in lesson 2" in (out / "02_fails.html").read_text()
    assert 'href="02_fails.html"' in (out / "01_first.html").read_text()  # .ipynb link rewritten
    assert "mathjax" in (out / "01_first.html").read_text().lower()


def test_the_site_index_shows_what_each_lesson_teaches_its_time_and_status(site):
    _, _, out = site
    index = (out / "index.html").read_text()
    assert "<li>how to add &lt;b&gt;1&lt;/b&gt; &amp; 1</li>" in index  # escaped
    assert "<b>1</b>" not in index
    assert "<li>the sum <em>x</em> + <code>y</code></li>" in index
    assert "Time needed (the lesson says): on a CPU: about a second." in index
    assert "This run: " in index
    assert "On a GPU" not in index  # only the first sentence
    assert "<li>Only a first paragraph here.</li>" in index  # no bullets: the first paragraph
    assert "failed at cell 3: ValueError: boom in lesson 2" in index
    assert 'class="status not-run">not run<' in index
    assert "Lesson 4: not run" in index and "04_skipped.html" not in index
    assert not (out / "04_skipped.html").exists()
    assert (out / ".nojekyll").read_text() == ""
    assert index.count('class="status ok">ok<') == 2


def test_run_course_raises_after_a_failed_lesson(tmp_path):
    _lesson(tmp_path / "01_bad.ipynb", "1 / 0")
    with pytest.raises(
        course.CourseRunError,
        match=r"01_bad.ipynb failed at cell 3 "
        r"\('1 / 0'\): ZeroDivisionError",
    ) as info:
        course.run_course(tmp_path / "o", profile="quick", notebooks_dir=tmp_path, html=False)
    assert info.value.runs["01_bad.ipynb"].status == "failed"
    assert (tmp_path / "o" / "01_bad.ipynb").exists()
    assert not (tmp_path / "o" / "index.html").exists()  # html=False


def test_lesson_info_of_the_real_lessons():
    lessons = sorted((Path(__file__).parents[1] / "notebooks").glob(course.LESSON_GLOB))
    assert lessons
    for path in lessons:
        info = course.lesson_info(path)
        assert info.title.startswith("Lesson "), path.name
        assert len(info.learn) >= 2 and all(info.learn), path.name
        assert "CPU" in info.time_needed and "full" in info.time_needed, path.name


# ----------------------------------------------------------------------------
# write_result and run_sweep
# ----------------------------------------------------------------------------
def test_write_result_writes_checked_numbers(tmp_path):
    import numpy as np

    path = tmp_path / "r" / "a-seed1.json"
    record = course.write_result(
        path, {"acc": np.float32(0.5), "n": 3}, history={"loss": np.array([2.0, 1.0])}
    )
    assert record == {"acc": 0.5, "n": 3.0, "history": {"loss": [2.0, 1.0]}}
    assert json.loads(path.read_text()) == record
    assert course.write_result(None, {"acc": 1}) == {"acc": 1.0}
    with pytest.raises(ValueError, match="metric 'acc' must be a finite number, got nan"):
        course.write_result(path, {"acc": float("nan")})
    with pytest.raises(TypeError, match="metric 'ok' must be a number, got True"):
        course.write_result(path, {"ok": True})
    with pytest.raises(ValueError, match="metric names.*'history'"):
        course.write_result(path, {"history": 1.0})
    with pytest.raises(ValueError, match="history 'loss'.*inf"):
        course.write_result(path, {"acc": 1.0}, history={"loss": [1.0, float("inf")]})
    assert json.loads(path.read_text()) == record  # nothing written by a refused call


def _job_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "VARIANT_PARAM = 'a'\nSEED = 0\nRESULT_FILE = None\nCOUNTER = None\nFAIL = False",
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell("if FAIL:\n    raise ValueError('job asked to fail')"),
        nbformat.v4.new_code_cell(
            "import os\n"
            "import rnpa.course\n"
            "if COUNTER:\n"
            "    with open(COUNTER, 'a') as f:\n"
            "        f.write(f'{VARIANT_PARAM} {SEED}\\n')\n"
            "metric = SEED * 10 + (1 if VARIANT_PARAM == 'b' else 0)\n"
            "quick = float(os.environ['RNPA_PROFILE'] == 'quick')\n"
            "rnpa.course.write_result(RESULT_FILE, {'metric': metric, 'half': SEED / 2,\n"
            "                                       'quick': quick},\n"
            "                         history={'loss': [float(SEED), SEED / 2]})"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


VARIANTS = {"a": {"VARIANT_PARAM": "a"}, "b": {"VARIANT_PARAM": "b"}}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two variants by two seeds of the job notebook, and the same sweep again (cached)."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("sweep")
    job = _job_notebook(root / "job.ipynb")
    common = {"COUNTER": str(root / "counter.txt")}
    printed = []
    results = []
    for _ in range(2):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            results.append(
                course.run_sweep(
                    job, VARIANTS, [1, 2], root / "out", common=common, profile="quick"
                )
            )
        printed.append(stdout.getvalue())
    return root, job, common, results, printed


def test_sweep_two_variants_by_two_seeds(sweep):
    root, _, _, (result, _), (printed, _) = sweep
    assert [(r["variant"], r["seed"]) for r in result.rows] == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
    ]
    assert [r["metric"] for r in result.rows] == [10.0, 20.0, 11.0, 21.0]
    assert all(r["quick"] == 1.0 for r in result.rows)  # the job kernels got the profile
    assert result.histories[("b", 2)] == {"loss": [2.0, 1.0]}
    summary = result.summary(["metric", "half"])
    assert [s["variant"] for s in summary] == ["a", "b"]
    # by hand: a = {10, 20}, b = {11, 21}; sample std of two values d apart is d / sqrt(2)
    assert summary[0]["metric_mean"] == pytest.approx(15.0)
    assert summary[1]["metric_mean"] == pytest.approx(16.0)
    assert summary[0]["metric_std"] == pytest.approx(10 / 2**0.5)
    assert summary[1]["half_mean"] == pytest.approx(0.75)
    assert summary[1]["half_std"] == pytest.approx(0.5 / 2**0.5)
    assert [s["n"] for s in summary] == [2, 2]
    assert set(summary[0]) == {"variant", "metric_mean", "metric_std", "half_mean", "half_std", "n"}
    lines = printed.splitlines()
    assert len(lines) == 4 and lines[0].startswith("[1/4] a seed 1: ") and lines[0].endswith(" s")
    executed = nbformat.read(root / "out" / "b-seed2.ipynb", as_version=4)
    assert "papermill" not in executed.metadata
    # RESULT_FILE is relative to the job notebook's folder (where the job runs), so the
    # executed notebooks name no machine's absolute paths
    injected = next(c.source for c in executed.cells if "injected-parameters" in c.metadata.tags)
    assert 'RESULT_FILE = "out/b-seed2.json"' in injected, injected
    assert str(root) not in injected.replace(str(root / "counter.txt"), "")
    saved = json.loads((root / "out" / "b-seed2.json").read_text())
    assert saved["parameters"] == {
        "COUNTER": str(root / "counter.txt"),
        "VARIANT_PARAM": "b",
        "SEED": 2,
    }
    assert saved["profile"] == "quick"


def test_sweep_format_table(sweep):
    result = sweep[3][0]
    table = result.format_table(["metric", "half"], percent=["half"]).splitlines()
    assert table[0].split() == ["variant", "metric", "half", "(%)", "n"]
    assert table[1].split() == ["a", "15.0", "±", "7.071", "75.0", "±", "35.4", "2"]
    assert table[2].split() == ["b", "16.0", "±", "7.071", "75.0", "±", "35.4", "2"]
    with pytest.raises(ValueError, match="metrics must be some of"):
        result.format_table(["accuracy"])
    with pytest.raises(ValueError, match="percent"):
        result.format_table(["metric"], percent=["half"])


def test_sweep_second_run_is_cached(sweep):
    root, _, _, (first, second), (_, printed) = sweep
    assert (root / "counter.txt").read_text().split("\n")[:-1] == ["a 1", "a 2", "b 1", "b 2"]
    assert printed.splitlines() == [
        "[1/4] a seed 1: cached",
        "[2/4] a seed 2: cached",
        "[3/4] b seed 1: cached",
        "[4/4] b seed 2: cached",
    ]
    assert second.rows == first.rows and second.histories == first.histories


def test_sweep_reruns_a_job_whose_parameters_changed(sweep, tmp_path):
    import shutil

    root, job, common, _, _ = sweep
    moved = tmp_path / "moved"
    shutil.copytree(root / "out", moved)  # the cache does not depend on the folder's place
    before = (root / "counter.txt").read_text()
    variants = {"a": VARIANTS["a"], "b": {"VARIANT_PARAM": "b", "FAIL": False}}
    result = course.run_sweep(
        job, variants, [1], moved, common=common, profile="quick", progress=False
    )
    assert (root / "counter.txt").read_text() == before + "b 1\n"  # only b re-ran
    assert [r["metric"] for r in result.rows] == [10.0, 11.0]
    assert json.loads((moved / "b-seed1.json").read_text())["parameters"]["FAIL"] is False


def test_sweep_failing_job_names_variant_seed_and_cell(tmp_path):
    job = _job_notebook(tmp_path / "job.ipynb")
    with pytest.raises(RuntimeError) as info:
        course.run_sweep(
            job, {"bad": {"FAIL": True}}, [3], tmp_path / "out", profile="quick", progress=False
        )
    message = str(info.value)
    kept = tmp_path / "out" / "bad-seed3.ipynb"
    assert message == (
        "sweep job 'bad' seed 3 failed at cell 1 ('if FAIL:'): ValueError: job asked to fail; "
        f"the executed notebook is {kept}"
    )
    assert kept.exists() and not (tmp_path / "out" / "bad-seed3.json").exists()


@pytest.mark.parametrize(
    ("variants", "seeds", "common", "error", "match"),
    [
        ({}, [1], None, ValueError, "variants must be a non-empty dict"),
        ({"1st": {}}, [1], None, ValueError, "variant names.*'1st'"),
        ({"a b": {}}, [1], None, ValueError, "variant names.*'a b'"),
        ({"a": {}}, ["1"], None, TypeError, "seeds must be a non-empty list of ints"),
        ({"a": {}}, [1.0], None, TypeError, "seeds"),
        ({"a": {}}, [True], None, TypeError, "seeds"),
        ({"a": {}}, [], None, TypeError, "seeds"),
        ({"a": {}}, 1, None, TypeError, "seeds"),
        ({"a": {}}, [1, 1], None, ValueError, r"seeds must be distinct, got \[1, 1\]"),
        ({"a": {}}, [-1], None, ValueError, r"seeds must be >= 0"),
        ({"a": {"SEED": 2}}, [1], None, ValueError, r"variants\['a'\] may not set SEED"),
        ({"a": {"RESULT_FILE": "x"}}, [1], None, ValueError, "may not set RESULT_FILE"),
        ({"a": {}}, [1], {"SEED": 1}, ValueError, "common may not set SEED"),
        ({"a": [("X", 1)]}, [1], None, TypeError, r"variants\['a'\] must be a dict"),
        ({"a": {"X": object()}}, [1], None, TypeError, "JSON values"),
        ({"a": {"1X": 1}}, [1], None, ValueError, "Python names.*'1X'"),
    ],
)
def test_sweep_rejects_bad_arguments_before_running(
    tmp_path, variants, seeds, common, error, match
):
    job = _job_notebook(tmp_path / "job.ipynb")
    with pytest.raises(error, match=match):
        course.run_sweep(job, variants, seeds, tmp_path / "out", common=common, profile="quick")
    assert not (tmp_path / "out").exists()


def test_sweep_rejects_a_missing_notebook_and_a_bad_profile(tmp_path):
    job = _job_notebook(tmp_path / "job.ipynb")
    with pytest.raises(FileNotFoundError, match="notebook.*missing.ipynb"):
        course.run_sweep(tmp_path / "missing.ipynb", VARIANTS, [1], tmp_path / "out")
    with pytest.raises(ValueError, match="profile.*'slow'"):
        course.run_sweep(job, VARIANTS, [1], tmp_path / "out", profile="slow")
    assert not (tmp_path / "out").exists()


def test_summary_with_one_seed_has_zero_std():
    result = course.SweepResult(
        rows=[
            {"variant": "pre", "seed": 0, "acc": 0.5},
            {"variant": "post", "seed": 0, "acc": 0.25},
        ],
        variants=("pre", "post"),
    )
    assert result.summary() == [
        {"variant": "pre", "acc_mean": 0.5, "acc_std": 0.0, "n": 1},
        {"variant": "post", "acc_mean": 0.25, "acc_std": 0.0, "n": 1},
    ]
    assert result.format_table(percent="acc").splitlines()[2].split() == [
        "post",
        "25.0",
        "±",
        "0.000",
        "1",
    ]
