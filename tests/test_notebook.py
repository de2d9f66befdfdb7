"""Tests of rnpa.notebook: the setup cell, the rules, applying the profile, the Colab branch."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
import types
from pathlib import Path

import pytest

import rnpa
from rnpa import course, notebook
from rnpa.notebook import Rule, check_parameter, make_rule, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------
# setup_notebook and the Keras check
# ----------------------------------------------------------------------------
def test_setup_notebook_prints_versions_and_device(capsys, monkeypatch):
    import keras
    import tensorflow as tf

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    info = rnpa.setup_notebook()
    (line,) = capsys.readouterr().out.splitlines()
    gpus = len(tf.config.list_physical_devices("GPU"))
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert line.startswith(f"Python {platform.python_version()} | TensorFlow {tf.__version__} | ")
    assert f"Keras {keras.__version__} (backend {keras.backend.backend()})" in line
    assert f"rnpa {rnpa.__version__}" in line
    assert line.endswith(
        "device: CPU (no GPU found)"
        if not gpus
        else f"device: {gpus} GPU" + ("s" if gpus > 1 else "")
    )
    assert info.gpus == gpus and info.gpu is (gpus > 0)
    assert tf.get_logger().level == 40  # logging.ERROR
    from absl import logging as absl_logging

    assert absl_logging.get_verbosity() == absl_logging.ERROR
    assert rnpa.setup_notebook(show=False) == info  # twice does no harm
    assert capsys.readouterr().out == ""


def test_notebook_info_names_the_gpus():
    info = notebook.NotebookInfo("3.11", "2.21", "3.15", "jax", "0.2", gpus=2)
    assert info.gpu and str(info).endswith("| device: 2 GPUs")
    assert "Keras 3.15 (backend jax)" in str(info)


@pytest.mark.parametrize("version", ["2.15.0", "2.13.1rc0", "1.0"])
def test_old_keras_stops_with_the_pip_command(version):
    with pytest.raises(RuntimeError) as err:
        notebook.check_keras(version)
    message = str(err.value)
    assert "\n" not in message
    assert f"found Keras {version}" in message
    assert "pip install -U 'tensorflow>=2.16' 'keras>=3" in message


def test_missing_keras_stops_with_the_pip_command(monkeypatch):
    monkeypatch.setattr(notebook, "_installed_version", lambda dist: None)
    with pytest.raises(RuntimeError, match="Keras is not installed.*pip install"):
        rnpa.setup_notebook()


def test_keras_bound_comes_from_rnpa_requirements(monkeypatch):
    monkeypatch.setattr(
        notebook.importlib.metadata,
        "requires",
        lambda dist: ["numpy>=1.26", "keras>=3.8", "pytest; extra == 'test'"],
    )
    assert notebook.required_keras() == (3, 8)
    assert notebook.check_keras("3.8.0") == "3.8.0"
    assert notebook.check_keras("3.15.1") == "3.15.1"
    with pytest.raises(RuntimeError, match=r"needs Keras 3\.8 or newer, found Keras 3\.5\.1"):
        notebook.check_keras("3.5.1")


def test_keras_bound_is_at_least_3(monkeypatch):
    monkeypatch.setattr(notebook.importlib.metadata, "requires", lambda dist: ["keras>=2.4"])
    with pytest.raises(RuntimeError, match="Keras 3 or newer"):
        notebook.check_keras("2.15.0")
    installed = importlib.metadata.version("keras")
    assert notebook.check_keras() == installed


# ----------------------------------------------------------------------------
# rules
# ----------------------------------------------------------------------------
RULES = [
    # rule, allowed values, refused values, what the message says is allowed
    ("int >= 1", [1, 7, 10**6], [0, -1, 1.0, True, "3", None], "an int >= 1"),
    ("int", [0, -3], [0.5, False], "an int"),
    ("int >= 8 <= 64", [8, 64], [7, 65], "an int >= 8 and <= 64"),
    ("number > 0", [0.1, 3], [0, -0.5, float("nan"), float("inf"), "0.1", True], "a number > 0"),
    ("number >= 0 < 1", [0, 0.99], [1, -0.01], "a number >= 0 and < 1"),
    ("None or int >= 16", [None, 16, 1000], [15, "all", 16.0], "None or an int >= 16"),
    ("bool", [True, False], [0, 1, "True", None], "True or False"),
    ("str", ["", "runs/05"], [5, None], "a str"),
    (
        "depth 6n+2",
        [8, 14, 20, 110],
        [2, 7, 9, 21, -1, 20.0],
        "a depth 6n+2 with n >= 1 (8, 14, 20, 26, ...)",
    ),
    ("depth 9n+2", [11, 20, 164], [8, 14, 2], "a depth 9n+2 with n >= 1 (11, 20, 29, 38, ...)"),
    (
        "list of int >= 0",
        [[0], [0, 1, 2], (3,)],
        [[], [-1], 0, [0, "1"]],
        "a non-empty list, each item an int >= 0",
    ),
    (
        "list of depth 6n+2",
        [[8, 14]],
        [[8, 15]],
        "a non-empty list, each item a depth 6n+2 with n >= 1 (8, 14, 20, 26, ...)",
    ),
    (["pre", "post"], ["pre", "post"], ["Pre", "", None], "one of 'pre', 'post'"),
    ([1, 2], [1, 2], [1.0, True, 3], "one of 1, 2"),
    (Rule(lambda v: v % 2 == 0, "an even int"), [2, 0], [3, "x"], "an even int"),
]


@pytest.mark.parametrize("rule, good, bad, allowed", RULES, ids=lambda r: str(r)[:20])
def test_rules_accept_and_refuse(rule, good, bad, allowed):
    assert make_rule(rule).allowed == allowed
    for value in good:
        assert check_parameter("X", value, rule) is value
    for value in bad:
        with pytest.raises(ValueError) as err:
            check_parameter("X", value, rule)
        assert str(err.value) == f"X must be {allowed}, got {value!r}"


@pytest.mark.parametrize(
    "rule", ["integer", "int >= one", "int => 1", "list of", "", 5, [], "depth 6n"]
)
def test_unknown_rules_are_refused(rule):
    with pytest.raises(ValueError, match="rule"):
        make_rule(rule)


# ----------------------------------------------------------------------------
# notebook_parameters: profiles, explicit names, GPU values, bad values
# ----------------------------------------------------------------------------
SPEC = dict(
    rules=dict(
        SEED="int >= 0",
        EPOCHS="int >= 1",
        LIMIT="None or int >= 16",
        DEPTH="depth 6n+2",
        IMAGE_SIZE="int >= 8",
    ),
    defaults=dict(EPOCHS=10, LIMIT=None, DEPTH=20, IMAGE_SIZE=16),
    quick=dict(EPOCHS=1, LIMIT=128, DEPTH=8),
    gpu=dict(IMAGE_SIZE=32),
)


def _cell(**changes):
    """The globals right after the parameters cell ran (its literal defaults), with changes."""
    namespace = {
        "PROFILE": "auto",
        "SEED": 0,
        "EPOCHS": 10,
        "LIMIT": None,
        "DEPTH": 20,
        "IMAGE_SIZE": 16,
        "other": "not a parameter",
    }
    namespace.update(changes)
    return namespace


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.setattr(notebook, "_gpu_count", lambda: 0)
    monkeypatch.delenv("RNPA_PROFILE", raising=False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(notebook, "_gpu_count", lambda: 1)
    monkeypatch.delenv("RNPA_PROFILE", raising=False)


def test_full_profile_keeps_the_literal_defaults(cpu, capsys):
    g = _cell()
    p = notebook_parameters(g, **SPEC)
    assert capsys.readouterr().out == (
        "profile full: SEED=0, EPOCHS=10, LIMIT=None, DEPTH=20, IMAGE_SIZE=16\n"
    )
    assert (p.profile, p.gpu, p.changed, p.explicit) == ("full", False, {}, frozenset())
    assert g["PROFILE"] == "full" and g["other"] == "not a parameter"
    assert p.values == {"SEED": 0, "EPOCHS": 10, "LIMIT": None, "DEPTH": 20, "IMAGE_SIZE": 16}
    assert p["EPOCHS"] == 10


def test_rnpa_profile_quick_applies_the_quick_values(cpu, monkeypatch, capsys):
    monkeypatch.setenv("RNPA_PROFILE", "quick")
    g = _cell()
    p = notebook_parameters(g, **SPEC)
    assert (g["EPOCHS"], g["LIMIT"], g["DEPTH"], g["IMAGE_SIZE"]) == (1, 128, 8, 16)
    assert g["PROFILE"] == "quick" and p.profile == "quick"
    assert p.changed == {"EPOCHS": "quick", "LIMIT": "quick", "DEPTH": "quick"}
    assert capsys.readouterr().out == (
        "profile quick: SEED=0, EPOCHS=1 (quick), LIMIT=128 "
        "(quick), DEPTH=8 (quick), IMAGE_SIZE=16\n"
    )


def test_profile_written_in_the_cell_wins_over_rnpa_profile(cpu, monkeypatch):
    monkeypatch.setenv("RNPA_PROFILE", "quick")
    g = _cell(PROFILE="full")
    assert notebook_parameters(g, show=False, **SPEC).profile == "full"
    assert g["EPOCHS"] == 10
    monkeypatch.setenv("RNPA_PROFILE", "full")
    g = _cell(PROFILE="quick")
    assert notebook_parameters(g, show=False, **SPEC).profile == "quick"
    assert g["EPOCHS"] == 1


def test_a_value_edited_by_hand_wins_over_the_quick_profile(cpu):
    g = _cell(PROFILE="quick", EPOCHS=3, LIMIT=None)
    p = notebook_parameters(g, show=False, **SPEC)
    assert (g["EPOCHS"], g["LIMIT"], g["DEPTH"]) == (3, 128, 8)
    assert p.explicit == {"EPOCHS"}  # LIMIT=None is its default: not told apart from it
    assert "EPOCHS=3 (set)" in str(p)


def test_papermill_injected_names_win_even_at_their_default(cpu, monkeypatch):
    monkeypatch.setenv("RNPA_PROFILE", "quick")
    history = [
        "",
        "import sys\n...",
        "PROFILE = 'auto'\nEPOCHS = 10\n",
        "# Parameters\nEPOCHS = 10\nLIMIT = 64\n",
        "P = rnpa.notebook_parameters(...)",
    ]
    g = _cell(LIMIT=64, In=history)
    p = notebook_parameters(g, show=False, **SPEC)
    assert (g["EPOCHS"], g["LIMIT"], g["DEPTH"]) == (10, 64, 8)
    assert p.explicit == {"EPOCHS", "LIMIT"}
    assert p.changed == {"DEPTH": "quick"}


def test_injected_profile_wins_over_rnpa_profile(cpu, monkeypatch):
    monkeypatch.setenv("RNPA_PROFILE", "quick")
    g = _cell(PROFILE="full", _ih=["", '# Parameters\nPROFILE = "full"\n', ""])
    assert notebook_parameters(g, show=False, **SPEC).profile == "full"
    assert g["EPOCHS"] == 10


def test_injected_names_are_read_from_papermill_s_own_cell():
    from papermill.translators import PythonTranslator

    injected = PythonTranslator.codify({"EPOCHS": 3, "ORDERS": ["pre"], "PROFILE": "quick"})
    assert notebook.injected_names(["x = 1", injected, "y = 2"]) == {"EPOCHS", "ORDERS", "PROFILE"}
    assert notebook.injected_names(["x = 1", "# Parameters of the lesson\nX = 1"]) == set()
    assert notebook.injected_names(None) == set()


def test_gpu_values_apply_when_a_gpu_is_found(one_gpu, monkeypatch):
    g = _cell()
    p = notebook_parameters(g, show=False, **SPEC)
    assert p.gpu and g["IMAGE_SIZE"] == 32 and p.changed == {"IMAGE_SIZE": "GPU"}
    assert str(p).startswith("profile full, GPU: ")
    g = _cell(IMAGE_SIZE=24)
    notebook_parameters(g, show=False, **SPEC)
    assert g["IMAGE_SIZE"] == 24
    monkeypatch.setenv("RNPA_PROFILE", "quick")
    spec = dict(SPEC, quick=dict(SPEC["quick"], IMAGE_SIZE=8))
    g = _cell()
    notebook_parameters(g, show=False, **spec)
    assert g["IMAGE_SIZE"] == 32 and g["EPOCHS"] == 1  # a GPU value wins over a quick one


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"EPOCHS": -1}, "EPOCHS must be an int >= 1, got -1"),
        ({"EPOCHS": "abc"}, "EPOCHS must be an int >= 1, got 'abc'"),
        ({"DEPTH": -1}, "DEPTH must be a depth 6n+2 with n >= 1 (8, 14, 20, 26, ...), got -1"),
        ({"LIMIT": 8}, "LIMIT must be None or an int >= 16, got 8"),
        (
            {"PROFILE": "fast"},
            "PROFILE must be one of 'auto', 'full', 'quick' ('auto': RNPA_PROFILE, "
            "else 'full'), got 'fast'",
        ),
    ],
)
def test_bad_values_fail_with_one_line(cpu, changes, message):
    g = _cell(**changes)
    with pytest.raises(ValueError) as err:
        notebook_parameters(g, show=False, **SPEC)
    assert str(err.value) == message
    assert g["PROFILE"] == changes.get("PROFILE", "auto")  # nothing written back


def test_bad_rnpa_profile_fails(cpu, monkeypatch):
    monkeypatch.setenv("RNPA_PROFILE", "fast")
    with pytest.raises(ValueError, match="RNPA_PROFILE.*'fast'"):
        notebook_parameters(_cell(), show=False, **SPEC)


def test_bad_quick_value_is_named(cpu):
    spec = dict(SPEC, quick=dict(EPOCHS=0))
    with pytest.raises(ValueError, match=r"EPOCHS must be an int >= 1, got 0 \(the quick value\)"):
        notebook_parameters(_cell(PROFILE="quick"), show=False, **spec)


def test_notebook_without_profile_takes_rnpa_profile(cpu, monkeypatch):
    monkeypatch.setenv("RNPA_PROFILE", "quick")
    g = _cell()
    del g["PROFILE"]
    assert notebook_parameters(g, show=False, **SPEC).profile == "quick"
    assert "PROFILE" not in g


@pytest.mark.parametrize(
    "spec, message",
    [
        (dict(rules=dict(SEED="int", PROFILE=["full"])), "rules must not name PROFILE"),
        (
            dict(rules=dict(SEED="int"), quick=dict(EPOCHS=1)),
            "quick names EPOCHS, which rules does not name",
        ),
        (
            dict(rules=dict(EPOCHS="int"), quick=dict(EPOCHS=1)),
            "defaults must give the parameters cell's value of EPOCHS",
        ),
        (dict(rules=dict(EPOCHS="int", MISSING="int")), "MISSING not defined"),
        (dict(rules=dict(EPOCHS="integer")), "unknown rule 'integer'"),
    ],
)
def test_misuse_is_refused(cpu, spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        notebook_parameters(_cell(), show=False, **spec)


def test_namespace_must_be_a_dict(cpu):
    with pytest.raises(TypeError, match="namespace"):
        notebook_parameters([("EPOCHS", 1)], rules={})
    with pytest.raises(TypeError, match="quick"):
        notebook_parameters(_cell(), rules={}, quick=[("EPOCHS", 1)])


# ----------------------------------------------------------------------------
# the Colab branch of the setup cell
# ----------------------------------------------------------------------------
def _repository() -> str:
    """pyproject's [project.urls] Repository, read from the file (tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    urls = text.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^Repository\s*=\s*"([^"]+)"', urls, re.MULTILINE).group(1).rstrip("/")


def _version() -> str:
    text = (ROOT / "rnpa" / "_version.py").read_text(encoding="utf-8")
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def run_setup_cell(source: str, monkeypatch, colab: bool) -> list[tuple[str, str]]:
    """Execute a setup cell as IPython would (magics transformed), pip stubbed.

    Returns the line magics it called, as (name, line).
    """
    from IPython.core.inputtransformer2 import TransformerManager

    calls: list[tuple[str, str]] = []
    shell = types.SimpleNamespace(
        run_line_magic=lambda name, line: calls.append((name, line)),
        system=lambda cmd: calls.append(("!", cmd)),
    )
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(notebook, "setup_notebook", lambda **kw: "stubbed")
    monkeypatch.setattr(rnpa, "setup_notebook", lambda **kw: "stubbed")
    code = TransformerManager().transform_cell(source)
    namespace = {"get_ipython": lambda: shell}
    exec(compile(code, "<setup cell>", "exec"), namespace)
    assert namespace["SETUP"] == "stubbed"
    return calls


def test_colab_branch_installs_the_pinned_release(monkeypatch):
    url = _repository()
    calls = run_setup_cell(course.setup_cell(), monkeypatch, colab=True)
    assert calls == [("pip", f'install -q "rnpa @ git+{url}@v{_version()}"')]


def test_outside_colab_nothing_is_installed(monkeypatch):
    assert run_setup_cell(course.setup_cell(), monkeypatch, colab=False) == []


def test_setup_cell_is_short_and_takes_the_fork_and_ref():
    source = course.setup_cell("https://github.com/someone/fork", ref="0123abc")
    assert len(source.splitlines()) == 5
    assert '%pip install -q "rnpa @ git+https://github.com/someone/fork@0123abc"' in source
    assert source.endswith(
        "SETUP = rnpa.setup_notebook()  # checks Keras >= 3, quiets "
        "TensorFlow, prints versions and device"
    )
