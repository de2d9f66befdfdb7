"""Packaging and the README: what a fresh install and a reader of the README get."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the `test` extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
#: Python minor versions that anyone might try, far beyond what TensorFlow supports
CANDIDATE_PYTHONS = [f"3.{minor}" for minor in range(6, 20)]


def _pythons(spec: str) -> list[str]:
    """The candidate Python versions (``3.x``) that a specifier such as ``>=3.10,<3.14`` allows."""
    allowed = SpecifierSet(spec)
    return [v for v in CANDIDATE_PYTHONS if allowed.contains(f"{v}.0")]


def _requirements(names: list[str]) -> dict[str, Requirement]:
    reqs = (Requirement(r) for r in names)
    return {canonicalize_name(r.name): r for r in reqs}


def _lower_bound(req: Requirement) -> Version:
    (low,) = [Version(s.version) for s in req.specifier if s.operator in (">=", "==")]
    return low


def _version_file() -> str:
    """``__version__`` of rnpa/_version.py, read without importing rnpa (or TensorFlow)."""
    tree = ast.parse((ROOT / "rnpa/_version.py").read_text(encoding="utf-8"))
    (value,) = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]
    ]
    return value


def _readme_command(marker_free_text: str, word: str) -> str:
    commands = re.findall(r"```bash\n(.+?)\n```", marker_free_text, re.S)
    (command,) = [c.strip() for c in commands if word in c and "venv" in c]
    return command


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # without isolation, offline: the setuptools of the `test` extra builds it
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--quiet", "-w", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True)
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
    assert "pytest" in command and '".[test]"' in command
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


# --- the bounds: pyproject.toml, requirements.txt, environment.yml and the README agree ---


def test_python_range_agrees_in_pyproject_environment_readme_and_classifiers():
    pythons = _pythons(PROJECT["requires-python"])
    # TensorFlow has no wheel for 3.14 (2.21.0: cp310-cp313); rnpa's code is 3.10+
    assert pythons == ["3.10", "3.11", "3.12", "3.13"]

    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    (conda_python,) = [d for d in env["dependencies"] if isinstance(d, str) and
                       d.startswith("python")]  # fmt: skip
    assert _pythons(conda_python.removeprefix("python")) == pythons

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    low, high = re.search(r"You need Python (3\.\d+) to (3\.\d+)", readme).groups()
    assert [low, high] == [pythons[0], pythons[-1]]

    classified = [
        c.rsplit(" :: ", 1)[1]
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert classified == pythons


def test_readme_states_the_library_bounds_of_pyproject():
    deps = _requirements(PROJECT["dependencies"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"TensorFlow ([\d.]+) or newer and Keras ([\d.]+) or newer", readme)
    tf, keras = stated.groups()
    assert Version(tf) == _lower_bound(deps["tensorflow"])
    assert Version(keras) == _lower_bound(deps["keras"])


def test_requirements_txt_is_the_course_extra_with_no_bounds_of_its_own():
    # requirements.txt (read by environment.yml, Binder, habit) installs rnpa[course]:
    # the bounds live in pyproject.toml only, so the two files cannot disagree
    lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    ]
    assert [line for line in lines if line] == ["-e .[course]"]
    deps = _requirements(PROJECT["dependencies"])
    for name in ("tensorflow", "keras", "numpy", "matplotlib"):
        assert _lower_bound(deps[name])  # a lower bound for each, in one place

    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == ["-r requirements.txt"]


def test_keras_bound_covers_the_keras_features_rnpa_uses():
    # (feature as it appears in rnpa's source, the first Keras with it), read from the
    # keras wheels on PyPI: RandomShear is in 3.8.0, not 3.7.0; BatchNormalization has a
    # `renorm` attribute from 3.14.0 on (not in 3.13.0)
    needs = {
        r"\bRandomShear\b": Version("3.8"),
        r"self\.renorm\b": Version("3.14"),
    }
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "rnpa").glob("*.py")))
    keras_low = _lower_bound(_requirements(PROJECT["dependencies"])["keras"])
    assert re.search(r"\bRandomShear\b", source)  # the `original` augmentation
    for pattern, first in needs.items():
        if re.search(pattern, source):
            assert keras_low >= first, f"rnpa uses {pattern!r}, new in Keras {first}"


# --- the extras: a learner's install is not a developer's ---


def _extra(name: str) -> dict[str, Requirement]:
    return _requirements(EXTRAS[name])


def test_extras_hold_what_each_user_needs():
    assert {"jupyterlab", "ipykernel", "papermill", "tensorboard"} <= set(_extra("course"))
    assert "nbgrader" in _extra("teach")
    test = _extra("test")
    assert {"pytest", "nbval", "papermill", "nbgrader", "setuptools", "jax"} <= set(test)
    assert "cpu" in test["jax"].extras  # jax's CPU wheels, from the package registries
    # the learner does not get the test or developer tools
    learner = set(_extra("course")) | set(_requirements(PROJECT["dependencies"]))
    assert not learner & {"pytest", "nbval", "nbgrader", "ruff", "pre-commit", "jax"}
    # the packaging test builds the wheel without isolation: the test extra's setuptools
    # must be one that build-system accepts
    (build_setuptools,) = _requirements(PYPROJECT["build-system"]["requires"]).values()
    assert _lower_bound(test["setuptools"]) >= _lower_bound(build_setuptools)
    dev = _extra("dev")
    assert "test" in dev["rnpa"].extras and "ruff" in dev and "pre-commit" in dev


def test_readme_commands_install_the_course_and_the_test_extra():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    learner = _readme_command(quick, "jupyter lab")
    assert 'pip install -e ".[course]"' in learner and "pytest" not in learner
    tests = _readme_command(quick, "pytest")
    assert 'pip install -e ".[test]"' in tests


def _imported_modules(path: Path) -> set[str]:
    """Top-level names a Python file imports, ``pytest.importorskip`` included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "importorskip"
              and node.args and isinstance(node.args[0], ast.Constant)):  # fmt: skip
            names.add(node.args[0].value.split(".")[0])
    return names


def _notebook_modules(path: Path) -> set[str]:
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return {m for c in code for m in re.findall(r"^\s*(?:import|from)\s+(\w+)", c, re.M)}


def _closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution that installing ``requirements`` brings, from installed metadata."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        if name == "rnpa":  # the project itself: its requirements from pyproject.toml
            reqs = [Requirement(r) for r in PROJECT["dependencies"]]
            reqs += [Requirement(r) for extra in extras for r in EXTRAS[extra]]
        else:
            try:
                reqs = [Requirement(r) for r in md.distribution(name).requires or []]
            except md.PackageNotFoundError:
                continue
            reqs = [r for r in reqs if r.marker is None or any(
                r.marker.evaluate({"extra": e}) for e in (extras or {""}))]  # fmt: skip
        for r in reqs:
            if r.marker is not None and name == "rnpa" and not r.marker.evaluate({"extra": ""}):
                continue
            todo.append((r, frozenset(r.extras)))
    return {k.split("[")[0] for k in seen}


def _providers() -> dict[str, list[str]]:
    """Top-level module name -> the installed distributions that provide it.

    ``importlib.metadata.packages_distributions`` of Python 3.10 reads only
    ``top_level.txt``, which wheels such as numpy's lack: read the files too.
    """
    providers: dict[str, list[str]] = {}
    for dist in md.distributions():
        tops = set((dist.read_text("top_level.txt") or "").split())
        for file in dist.files or []:
            top = file.parts[0]
            if len(file.parts) > 1 and not top.endswith((".dist-info", ".egg-info", ".data")):
                tops.add(top)
            elif file.suffix == ".py" and len(file.parts) == 1:
                tops.add(file.stem)
        for top in tops:
            providers.setdefault(top, []).append(dist.metadata["Name"])
    return providers


#: backends the tests use where they are installed, on purpose not in the `test` extra
OPTIONAL_IN_TESTS = {"torch"}


def test_the_test_extra_installs_everything_the_tests_import():
    # what `pip install -e ".[test]"` brings (walked through the installed metadata)
    # against what tests/, conftest.py, rnpa/ and the notebooks import
    installed = _closure([Requirement("rnpa[test]")])
    files = [*(ROOT / "tests").glob("*.py"), ROOT / "conftest.py", *(ROOT / "rnpa").glob("*.py")]
    modules = set().union(*map(_imported_modules, files))
    notebooks = [p for p in (ROOT / "notebooks").rglob("*.ipynb") if "runs" not in p.parts]
    modules |= set().union(*map(_notebook_modules, notebooks))
    modules -= set(sys.stdlib_module_names) | {"rnpa"} | OPTIONAL_IN_TESTS
    # this file imports tomllib (the standard library's from 3.11) or else tomli
    modules -= {"tomllib"} if sys.version_info < (3, 11) else {"tomli"}
    providers = _providers()
    missing = {}
    for module in sorted(modules):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & installed:
            missing[module] = sorted(dists) or "not installed here"
    assert not missing, f"imported by the tests but not installed by rnpa[test]: {missing}"
    # pytest plugins that are not imported: nbval (addopts) and the JAX backend's jax
    assert {"nbval", "jax", "jaxlib", "setuptools"} <= installed


def test_closure_sees_what_an_extra_brings():
    # the walk above is not vacuous: the learner's install lacks pytest, the test one has it
    assert "pytest" not in _closure([Requirement("rnpa[course]")])
    assert {"pytest", "nbformat", "tensorflow"} <= _closure([Requirement("rnpa[test]")])
    assert Marker("python_version < '3.11'").evaluate() == (sys.version_info < (3, 11))


# --- the version, the console command, the license: what the built wheel says ---


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if re.fullmatch(rf"rnpa-[^/]+\.dist-info/{name}", n)]
    return wheel.read(path).decode("utf-8")


def test_wheel_has_the_one_version_and_the_rnpa_command(wheel):
    version = _version_file()
    assert Version(version)  # a valid version string
    meta = Parser().parsestr(_dist_info(wheel, "METADATA"))
    assert meta["Version"] == version
    assert Path(wheel.filename).name.startswith(f"rnpa-{version}-")
    entry_points = _dist_info(wheel, "entry_points.txt")
    assert re.search(r"\[console_scripts\]\s*\nrnpa = rnpa\.cli:main\b", entry_points)
    assert PROJECT["scripts"] == {"rnpa": "rnpa.cli:main"}
    assert "version" in PROJECT["dynamic"] and "version" not in PROJECT
    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(PROJECT["requires-python"])


def test_console_command_target_exists():
    # rnpa = "rnpa.cli:main": rnpa/cli.py defines main (read, not imported)
    tree = ast.parse((ROOT / "rnpa/cli.py").read_text(encoding="utf-8"))
    assert "main" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_wheel_states_its_license_as_pep_639_says(wheel):
    meta = Parser().parsestr(_dist_info(wheel, "METADATA"))
    assert Version(meta["Metadata-Version"]) >= Version("2.4")
    # the code is MIT, and the wheel ships the flower photos, each CC BY 2.0
    assert meta["License-Expression"] == "MIT AND CC-BY-2.0"
    photos = (ROOT / "rnpa/assets/LICENSE.txt").read_text(encoding="utf-8")
    assert "https://creativecommons.org/licenses/by/2.0/" in photos.splitlines()[:3]
    assert meta.get_all("License-File") == ["LICENSE", "rnpa/assets/LICENSE.txt"]
    names = set(wheel.namelist())
    for license_file in ("LICENSE", "rnpa/assets/LICENSE.txt"):
        assert any(n.endswith(f".dist-info/licenses/{license_file}") for n in names)
    # PEP 639: no License :: classifier beside a license expression
    assert not [c for c in meta.get_all("Classifier") if c.startswith("License ::")]


def test_classifiers_are_real_trove_classifiers():
    from trove_classifiers import classifiers

    assert set(PROJECT["classifiers"]) <= classifiers
    assert {"Intended Audience :: Education", "Intended Audience :: Science/Research",
            "Topic :: Scientific/Engineering :: Artificial Intelligence",
            "Framework :: Jupyter"} <= set(PROJECT["classifiers"])  # fmt: skip


# --- CITATION.cff and pre-commit ---


def test_citation_names_the_course_and_the_two_papers():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["message"] and cff["title"] and cff["authors"]
    assert cff["version"] == _version_file()
    assert cff["repository-code"] == PROJECT["urls"]["Repository"]
    assert cff["license"] in PROJECT["license"].split(" AND ")
    papers = {ref["title"]: ref for ref in cff["references"]}
    assert set(papers) == {
        "Deep Residual Learning for Image Recognition",
        "Identity Mappings in Deep Residual Networks",
    }
    for title, arxiv, venue in [
        ("Deep Residual Learning for Image Recognition", "1512.03385", "CVPR"),
        ("Identity Mappings in Deep Residual Networks", "1603.05027", "ECCV"),
    ]:
        ref = papers[title]
        assert ref["type"] == "conference-paper" and ref["year"] == 2016
        names = [(a["given-names"], a["family-names"]) for a in ref["authors"]]
        assert names == [("Kaiming", "He"), ("Xiangyu", "Zhang"), ("Shaoqing", "Ren"),
                         ("Jian", "Sun")]  # fmt: skip
        assert [i["value"] for i in ref["identifiers"]] == [f"arXiv:{arxiv}"]
        assert ref["url"] == f"https://arxiv.org/abs/{arxiv}"
        assert venue in ref["conference"]["name"]


def test_pre_commit_runs_ruff_check_and_format_at_the_pinned_ruff():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = config["repos"]
    assert repo["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    assert [h["id"] for h in repo["hooks"]] == ["ruff-check", "ruff-format"]
    (pin,) = [s for s in _extra("dev")["ruff"].specifier if s.operator == "=="]
    assert repo["rev"] == f"v{pin.version}"
    assert "format" in PYPROJECT["tool"]["ruff"]
