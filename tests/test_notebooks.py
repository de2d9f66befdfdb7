"""Tests of the lesson notebooks: conventions, committed outputs, papermill, repeatability.

nbval (``python -m pytest`` runs it over notebooks/ in lax mode) executes every
lesson and compares the ``# NBVAL_CHECK_OUTPUT`` cells with the committed
outputs; the tests here check what nbval does not: the structure every lesson
must have, that papermill's injected parameters take effect, and that two runs
print the same checked outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from rnpa import course

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob(course.LESSON_GLOB))
EXPECTED = [
    "01_residual_learning.ipynb",
    "02_pre_activation.ipynb",
    "03_bottleneck.ipynb",
    "04_resnetpreact.ipynb",
    "05_training_flowers.ipynb",
    "06_ablation_lab.ipynb",
    "07_scaling_up.ipynb",
]
CHECK = "# NBVAL_CHECK_OUTPUT"
ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|root|home|Users)/")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(v for k, v in data.items() if k.startswith("text/"))


def _checked_outputs(nb: nbformat.NotebookNode) -> list[tuple[str, list[str]]]:
    """The text outputs of the cells nbval compares, keyed by the cell's first line."""
    return [
        (cell.source.splitlines()[0], [_text(o) for o in cell.outputs])
        for cell in nb.cells
        if cell.cell_type == "code" and CHECK in cell.source
    ]


def test_the_seven_lessons_exist_in_order():
    assert [p.name for p in LESSONS] == EXPECTED


@pytest.mark.parametrize("path", LESSONS[:-1], ids=lambda p: p.name)
def test_each_lesson_ends_with_a_link_to_the_next(path):
    following = LESSONS[LESSONS.index(path) + 1].name
    assert f"({following})" in _read(path).cells[-1].source


JOBS = sorted((NOTEBOOKS / "experiments").glob("*.ipynb"))


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.name)
def test_job_notebook_parameters_are_literals_papermill_can_read(path):
    import ast

    (cell,) = [c for c in _read(path).cells if "parameters" in c.metadata.get("tags", [])]
    names = set()
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)  # raises for anything but a literal
        names.add(node.targets[0].id)
    assert {"SEED", "RESULT_FILE"} <= names


def test_lesson_7_opens_on_a_colab_gpu():
    meta = _read(NOTEBOOKS / "07_scaling_up.ipynb").metadata
    assert meta["accelerator"] == "GPU" and meta["colab"]["gpuType"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_follows_the_conventions(path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    url = course.repository_url()
    assert f"({course.colab_url(url, path.name)})" in first.source
    assert "Time needed" in first.source and "TIME_" not in first.source
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    setup = code_cells[0]
    assert f'RNPA_SOURCE = "{course.pip_source(url)}"' in setup.source
    assert '"google.colab" in sys.modules' in setup.source
    assert "TF_CPP_MIN_LOG_LEVEL" in setup.source
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    assert tagged[0] is code_cells[1], "the parameters cell must follow the setup cell"
    assert "rnpa.profile()" in tagged[0].source
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert any(CHECK in c.source for c in code_cells)
    assert "seed_everything" in code_cells[2].source
    for cell in nb.cells:
        texts = [cell.source] + [_text(o) for o in cell.get("outputs", [])]
        for text in texts:
            assert not ABSOLUTE_PATH.search(text), f"{path.name}: absolute path in {text[:200]!r}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_has_committed_outputs_of_a_clean_run(path):
    nb = _read(path)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), "run top to bottom on a fresh kernel"
    outputs = [o for c in code_cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], "TF log noise committed"
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    assert "profile full" in "".join(_text(o) for o in code_cells[2].outputs)
    assert "papermill" not in nb.metadata
    for name, texts in _checked_outputs(nb):
        assert "".join(texts).strip(), f"{path.name}: checked cell {name!r} has no output"


# ----------------------------------------------------------------------------
# executing a lesson: papermill with injected parameters, and twice the same
# ----------------------------------------------------------------------------
CHEAP = NOTEBOOKS / "03_bottleneck.ipynb"  # trains nothing: the cheapest lesson to execute
INJECTED = {"DEPTH": 20, "TIMING_BATCH": 4, "TIMING_REPEATS": 1}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Lesson 3 executed twice in the quick profile: with injected parameters, and without."""
    out = tmp_path_factory.mktemp("runs")
    course.run_course(out / "injected", profile="quick", parameters=INJECTED,
                      notebooks_dir=NOTEBOOKS, only=[CHEAP.name])
    course.run_course(out / "plain", profile="quick", notebooks_dir=NOTEBOOKS, only=[CHEAP.name])
    return _read(out / "injected" / CHEAP.name), _read(out / "plain" / CHEAP.name)


def test_papermill_injects_parameters_that_take_effect(two_runs):
    injected, plain = two_runs
    tags = [c.metadata.get("tags", []) for c in injected.cells]
    at = tags.index(["parameters"])
    assert "injected-parameters" in tags[at + 1]
    printed = "".join(_text(o) for c in injected.cells for o in c.get("outputs", []))
    assert "profile quick: DEPTH=20, TIMING_BATCH=4, TIMING_REPEATS=1" in printed
    assert "20 layers, basic units" in printed
    assert "per batch of 4" in printed
    default = "".join(_text(o) for c in plain.cells for o in c.get("outputs", []))
    assert "profile quick: DEPTH=56, TIMING_BATCH=8, TIMING_REPEATS=2" in default


def test_checked_outputs_are_the_same_in_every_run(two_runs):
    injected, plain = two_runs
    committed = _checked_outputs(_read(CHEAP))  # the full-profile run in the repository
    assert len(committed) >= 4
    assert _checked_outputs(injected) == _checked_outputs(plain) == committed
