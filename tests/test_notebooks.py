"""Tests of the lesson notebooks: conventions, committed outputs, papermill, repeatability.

nbval (``python -m pytest`` runs it over notebooks/ in lax mode) executes every
lesson and compares the cells tagged ``nbval-check-output`` with the committed
outputs; the tests here check what nbval does not: the structure every lesson
must have (the setup cell, the literal parameters cell that papermill reads, the
cell that applies the profile; see rnpa/notebook.py), that papermill's injected
parameters take effect, and that two runs print the same checked outputs.
"""

from __future__ import annotations

import ast
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
CHECK = "nbval-check-output"  # nbval's cell tag (nbval/plugin.py: metadata_tags)
OLD_MARKER = "NBVAL_CHECK_OUTPUT"  # the comment form, which learners would read
JOBS = sorted((NOTEBOOKS / "experiments").glob("*.ipynb"))
SOLUTIONS = sorted((NOTEBOOKS / "solutions").glob("*.ipynb"))
EXERCISES = sorted((NOTEBOOKS / "exercises").glob("*.ipynb"))
PARAMETERISED = LESSONS + JOBS + SOLUTIONS
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
        if cell.cell_type == "code" and CHECK in cell.metadata.get("tags", [])
    ]


def test_the_seven_lessons_exist_in_order():
    assert [p.name for p in LESSONS] == EXPECTED


@pytest.mark.parametrize("path", LESSONS[:-1], ids=lambda p: p.name)
def test_each_lesson_ends_with_a_link_to_the_next(path):
    following = LESSONS[LESSONS.index(path) + 1].name
    assert f"({following})" in _read(path).cells[-1].source


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


def _trains(nb: nbformat.NotebookNode) -> bool:
    """Whether a notebook trains a network: it calls fit (Keras' or rnpa's), runs a sweep, or
    checks a recipe (``exercises.check_recipe`` trains the network with it)."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return bool(re.search(r"\.fit\(|\brun_sweep\(|\bcheck_recipe\(", code))


def test_lesson_7_opens_on_a_colab_gpu():
    meta = _read(NOTEBOOKS / "07_scaling_up.ipynb").metadata
    assert meta["accelerator"] == "GPU" and meta["colab"]["gpuType"]


@pytest.mark.parametrize("path", PARAMETERISED + EXERCISES, ids=lambda p: p.name)
def test_notebooks_that_train_open_on_a_colab_gpu(path):
    nb = _read(path)
    if _trains(nb):  # the metadata Colab writes for Runtime > Change runtime type > T4 GPU
        assert nb.metadata.get("accelerator") == "GPU", f"{path.name} trains: Colab GPU metadata"
        assert nb.metadata["colab"]["gpuType"] == "T4"
    else:
        assert "accelerator" not in nb.metadata, f"{path.name} trains nothing: no GPU needed"


def test_the_training_notebooks_are_the_ones_expected():
    trains = {p.name for p in PARAMETERISED if _trains(_read(p))}
    assert {
        "05_training_flowers.ipynb",
        "06_ablation_lab.ipynb",
        "07_scaling_up.ipynb",
        "train_one.ipynb",
        "ex04_experiments.ipynb",
        "ex05_training.ipynb",
    } <= trains


# ----------------------------------------------------------------------------
# the top of every notebook: setup cell, parameters cell, apply cell (rnpa/notebook.py)
# ----------------------------------------------------------------------------
def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return cell


def _literals(cell: nbformat.NotebookNode) -> dict[str, object]:
    """The parameters cell's assignments, each checked to be a one-line literal."""
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        assert isinstance(node.targets[0], ast.Name), ast.dump(node)
        assert node.lineno == node.end_lineno, f"{node.targets[0].id}: one line per parameter"
        values[node.targets[0].id] = ast.literal_eval(node.value)  # raises unless a literal
    return values


def _comments(cell: nbformat.NotebookNode) -> dict[str, str]:
    return {
        m["name"]: m["help"]
        for m in re.finditer(
            r"^(?P<name>[A-Za-z_]\w*)\s*=[^#\n]*#\s*(?P<help>.*)$", cell.source, re.MULTILINE
        )
    }


def _apply_call(nb: nbformat.NotebookNode) -> dict[str, ast.expr]:
    """The keywords of the ``rnpa.notebook_parameters(globals(), ...)`` call of the apply cell."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    calls = [
        node
        for node in ast.walk(ast.parse(code[2].source))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "notebook_parameters"
    ]
    assert len(calls) == 1, "code cell 2 must call rnpa.notebook_parameters(globals(), ...)"
    (call,) = calls
    assert ast.unparse(call.func) == "rnpa.notebook_parameters"
    assert [ast.unparse(a) for a in call.args] == ["globals()"]
    return {k.arg: k.value for k in call.keywords}


def _keys(node: ast.expr) -> list[str]:
    """The keys of a ``dict(A=...)`` call or a ``{"A": ...}`` literal."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "dict" and not node.args:
        return [k.arg for k in node.keywords]
    assert isinstance(node, ast.Dict), ast.unparse(node)
    return [ast.literal_eval(k) for k in node.keys]


def _literal_items(node: ast.expr) -> dict[str, object]:
    if isinstance(node, ast.Call):
        return {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return ast.literal_eval(node)


@pytest.mark.parametrize("path", PARAMETERISED, ids=lambda p: p.name)
def test_setup_cell_is_the_course_s_setup_cell(path):
    code = [c for c in _read(path).cells if c.cell_type == "code"]
    assert code[0].source == course.setup_cell(), f"{path.name}: see rnpa.course.setup_cell()"


@pytest.mark.parametrize("path", PARAMETERISED, ids=lambda p: p.name)
def test_papermill_lists_every_parameter(path):
    import papermill

    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    cell = _parameters_cell(nb)
    assert cell is code[1], "the parameters cell must follow the setup cell"
    literals = _literals(cell)
    listed = papermill.inspect_notebook(str(path))  # what `papermill --help-notebook` prints
    assert list(listed) == list(literals), f"{path.name}: papermill reads {list(listed)}"
    for name, parameter in listed.items():
        assert ast.literal_eval(parameter["default"]) == literals[name]
        assert parameter["help"], f"{path.name}: {name} has no comment that says what it is"
    if "PROFILE" in literals:
        assert literals["PROFILE"] == "auto"


@pytest.mark.parametrize("path", PARAMETERISED, ids=lambda p: p.name)
def test_apply_cell_checks_every_parameter_and_repeats_the_defaults(path):
    nb = _read(path)
    cell = _parameters_cell(nb)
    literals, comments = _literals(cell), _comments(cell)
    call = _apply_call(nb)
    assert set(call) <= {"rules", "defaults", "quick", "gpu", "show"}
    rules = _keys(call["rules"])
    assert rules == [n for n in literals if n != "PROFILE"], f"{path.name}: a rule for each"
    defaults = _literal_items(call["defaults"]) if "defaults" in call else {}
    for name, value in defaults.items():
        assert value == literals[name], f"{path.name}: defaults[{name!r}] is not the cell's"
    for profile, label in (("quick", "quick"), ("gpu", "GPU")):
        for name, value in (_literal_items(call[profile]) if profile in call else {}).items():
            assert name in defaults, f"{path.name}: {name} needs a default"
            assert f"{label}: {value!r}" in comments[name], (
                f"{path.name}: the comment of {name} must say '{label}: {value!r}'"
            )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "rnpa.seed_everything(SEED)" in code[3].source


@pytest.mark.parametrize("path", PARAMETERISED + EXERCISES, ids=lambda p: p.name)
def test_nbval_checks_are_cell_tags_not_comments(path):
    nb = _read(path)
    assert not [c for c in nb.cells if OLD_MARKER in c.source], f"{path.name}: use the tag"
    tagged = [c for c in nb.cells if CHECK in c.metadata.get("tags", [])]
    assert all(c.cell_type == "code" for c in tagged)
    if path in LESSONS:
        assert tagged, f"{path.name}: no cell is tagged {CHECK!r}"


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
    assert code_cells[0].source == course.setup_cell(url)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    assert tagged[0] is code_cells[1], "the parameters cell must follow the setup cell"
    assert "rules" in _apply_call(nb)  # code cell 2 applies the profile
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "seed_everything" in code_cells[3].source
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
    course.run_course(
        out / "injected",
        profile="quick",
        parameters=INJECTED,
        notebooks_dir=NOTEBOOKS,
        only=[CHEAP.name],
    )
    course.run_course(out / "plain", profile="quick", notebooks_dir=NOTEBOOKS, only=[CHEAP.name])
    return _read(out / "injected" / CHEAP.name), _read(out / "plain" / CHEAP.name)


def test_papermill_injects_parameters_that_take_effect(two_runs):
    injected, plain = two_runs
    tags = [c.metadata.get("tags", []) for c in injected.cells]
    at = tags.index(["parameters"])
    assert "injected-parameters" in tags[at + 1]
    printed = "".join(_text(o) for c in injected.cells for o in c.get("outputs", []))
    assert "profile quick: " in printed
    for name, value in INJECTED.items():  # papermill's values win over the quick profile
        assert f"{name}={value} (set)" in printed
    assert "20 layers, basic units" in printed
    assert "per batch of 4" in printed
    default = "".join(_text(o) for c in plain.cells for o in c.get("outputs", []))
    assert "profile quick: " in default and "(set)" not in default


def test_checked_outputs_are_the_same_in_every_run(two_runs):
    injected, plain = two_runs
    committed = _checked_outputs(_read(CHEAP))  # the full-profile run in the repository
    assert len(committed) >= 4
    assert _checked_outputs(injected) == _checked_outputs(plain) == committed


# ----------------------------------------------------------------------------
# notebooks/README.md, the place to start
# ----------------------------------------------------------------------------
def test_the_start_page_lists_the_lessons_in_order_and_links_what_exists():
    text = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    for link in links:
        assert (NOTEBOOKS / link).exists(), f"notebooks/README.md links a missing {link}"
    lessons = [link for link in links if re.fullmatch(r"\d\d_\w+\.ipynb", link)]
    assert list(dict.fromkeys(lessons)) == [p.name for p in LESSONS]
    for target in ("exercises/", "solutions/", "TEACHING.md", "experiments/train_one.ipynb"):
        assert target in links
    assert "RNPA_PROFILE=quick" in text and 'PROFILE = "quick"' in text
    assert CHECK in text and OLD_MARKER not in text
