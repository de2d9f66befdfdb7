"""Running the course: the notebooks' profile, their Colab badges, running them, the site, sweeps.

* :func:`profile`: ``full`` (learners, the committed outputs) or ``quick`` (CI, a
  fast classroom check), from ``RNPA_PROFILE``; each notebook's ``parameters``
  cell takes its defaults from it.
* :func:`repository_url`: the public repository, read from the installed package's
  metadata (pyproject's ``[project.urls] Repository``, the one place that names it).
* :func:`update_badges`: rewrite every notebook's "Open in Colab" badge and Colab
  install line from :func:`repository_url` (``python -m rnpa course badges``); the
  install line pins a release (:func:`release_ref`, ``v<rnpa version>``) and is the
  one line of :func:`setup_cell` that differs between forks.
* :func:`check_overrides`: refuse a ``-p NAME=VALUE`` that no lesson has (papermill's
  own :func:`papermill.inspect_notebook` reads the lessons' parameters).
* :func:`run_course`: execute every lesson in order through papermill and write
  the course as a website: each executed lesson as an HTML page and an
  ``index.html`` (``python -m rnpa course run``); ``inplace=True`` regenerates
  the committed outputs.
* :func:`run_sweep`: run a parameterised experiment notebook once per
  (variant, seed) as papermill jobs, with a cache, and summarise the metrics
  (mean and standard deviation over seeds); job notebooks report their metrics
  with :func:`write_result`.
"""

from __future__ import annotations

import contextlib
import html
import importlib.metadata
import json
import math
import numbers
import os
import re
import statistics
import string
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnpa._files import write_atomic

#: the profiles a notebook knows: ``full`` for learners, ``quick`` for CI and a
#: fast classroom check
PROFILES = ("full", "quick")

#: the lessons are the notebooks whose names start with two digits, run in name order
LESSON_GLOB = "[0-9][0-9]_*.ipynb"

COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE_RE = re.compile(
    r"\[!\[Open In Colab\]\(" + re.escape(COLAB_BADGE_IMAGE) + r"\)\]\([^)\s]*\)",
    re.IGNORECASE,
)
#: the Colab install line of a setup cell: ``%pip install -q "rnpa @ git+<url>@<ref>"``
#: (and the older ``RNPA_SOURCE = "rnpa @ git+<url>"`` form, rewritten the same way)
_INSTALL_RE = re.compile(
    r'^(\s*%pip install -q |\s*RNPA_SOURCE\s*=\s*)"rnpa @ git\+[^"\n]*"', re.MULTILINE
)
_GITHUB_RE = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$")


def profile() -> str:
    """Return the notebook profile: ``RNPA_PROFILE`` from the environment, default ``full``.

    Raises
    ------
    ValueError
        If ``RNPA_PROFILE`` is set to something other than ``full`` or ``quick``.
    """
    value = os.environ.get("RNPA_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise ValueError(
            f"RNPA_PROFILE must be one of {', '.join(PROFILES)}, got {os.environ['RNPA_PROFILE']!r}"
        )
    return value


# ----------------------------------------------------------------------------
# the repository address and the Colab badges
# ----------------------------------------------------------------------------
def repository_url() -> str:
    """The public repository's address, from the installed package's metadata.

    pyproject.toml's ``[project.urls] Repository`` becomes a ``Project-URL:
    Repository, <url>`` line of the installed metadata; after editing it,
    reinstall (``pip install -e .``) and run ``python -m rnpa course badges``.

    Returns
    -------
    str
        For example ``"https://github.com/rnpa-course/rnpa"`` (no trailing slash
        or ``.git``).

    Raises
    ------
    RuntimeError
        If rnpa is not installed or its metadata has no ``Repository`` URL.
    """
    try:
        entries = importlib.metadata.metadata("rnpa").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError as err:
        raise RuntimeError(
            "rnpa is not installed, so its repository URL is unknown; run `pip install -e .` "
            "in the repository root"
        ) from err
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository" and url.strip():
            url = url.strip().rstrip("/")
            return url[: -len(".git")] if url.endswith(".git") else url
    raise RuntimeError(
        "the installed rnpa metadata has no Repository URL; add it under [project.urls] "
        "in pyproject.toml and reinstall (pip install -e .)"
    )


def _github_parts(repo_url: str) -> tuple[str, str]:
    if not isinstance(repo_url, str):
        raise TypeError(f"repo_url must be a str, got {repo_url!r}")
    match = _GITHUB_RE.match(repo_url.strip())
    if not match:
        raise ValueError(
            "repo_url must be a GitHub repository address https://github.com/<owner>/<repo> "
            f"(Colab opens notebooks from GitHub), got {repo_url!r}"
        )
    return match["owner"], match["repo"]


def colab_url(repo_url: str, notebook: str, branch: str = "main") -> str:
    """The address that opens ``notebooks/<notebook>`` of ``repo_url`` in Colab.

    Parameters
    ----------
    repo_url : str
        ``https://github.com/<owner>/<repo>``.
    notebook : str
        File name of the notebook inside ``notebooks/``.
    branch : str
        Git branch.

    Returns
    -------
    str
        ``https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/notebooks/<notebook>``
    """
    owner, repo = _github_parts(repo_url)
    return (
        f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/"
        f"notebooks/{Path(notebook).name}"
    )


def colab_badge(repo_url: str, notebook: str) -> str:
    """The Markdown "Open in Colab" badge of a notebook."""
    return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(repo_url, notebook)})"


_REF_RE = re.compile(r"^[\w][\w.+-]*$")


def release_ref() -> str:
    """The git tag of this version of rnpa, ``v<version>`` (``"v0.2.0"``): what Colab installs."""
    from rnpa._version import __version__

    return f"v{__version__}"


def pip_source(repo_url: str, ref: str | None = None) -> str:
    """The pip requirement that installs rnpa from the repository at a tag or commit.

    Parameters
    ----------
    repo_url : str
        ``https://github.com/<owner>/<repo>``.
    ref : str, optional
        A tag or commit; default :func:`release_ref` (``v<version>``), so that a
        notebook installs a release, not whatever the default branch holds.

    Returns
    -------
    str
        ``rnpa @ git+https://github.com/<owner>/<repo>@<ref>``
    """
    owner, repo = _github_parts(repo_url)
    ref = release_ref() if ref is None else ref
    if not isinstance(ref, str) or not _REF_RE.match(ref):
        raise ValueError(f"ref must be a git tag or commit such as 'v0.2.0', got {ref!r}")
    return f"rnpa @ git+https://github.com/{owner}/{repo}@{ref}"


def install_line(repo_url: str, ref: str | None = None) -> str:
    """The Colab install line of the setup cell: ``%pip install -q "<pip_source>"``.

    ``%pip`` (IPython's magic) installs into the kernel's own environment.
    """
    return f'%pip install -q "{pip_source(repo_url, ref)}"'


def setup_cell(repo_url: str | None = None, ref: str | None = None) -> str:
    """The source of every notebook's setup cell (its first code cell), exactly.

    Install rnpa on Colab only (a pinned release), then :func:`rnpa.setup_notebook`
    (Keras check, TensorFlow quieted, versions and device printed). ``repo_url``
    defaults to :func:`repository_url`, ``ref`` to :func:`release_ref`.
    """
    repo_url = repository_url() if repo_url is None else repo_url
    return (
        "import sys\n"
        'if "google.colab" in sys.modules:  # Colab only: install rnpa, a pinned release\n'
        f"    {install_line(repo_url, ref)}\n"
        "import rnpa\n"
        "SETUP = rnpa.setup_notebook()  # checks Keras >= 3, quiets TensorFlow, prints versions "
        "and device"
    )


def _lessons(notebooks_dir: str | os.PathLike) -> list[Path]:
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks_dir {str(folder)!r} is not a folder")
    return sorted(folder.glob(LESSON_GLOB))


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def update_badges(
    notebooks_dir: str | os.PathLike = "notebooks",
    repo_url: str | None = None,
    ref: str | None = None,
) -> list[Path]:
    """Rewrite the notebooks' Colab badges (first cell) and Colab install lines (setup cell).

    The badge is ``[![Open In Colab](...colab-badge.svg)](<colab url>)`` in the
    first cell; the install line is ``%pip install -q "rnpa @ git+<url>@<ref>"``
    (:func:`install_line`) in the first code cell. Every lesson ``NN_*.ipynb``
    must have both; the notebooks of ``solutions/`` and ``experiments/`` get
    whichever of the two they have (``python -m rnpa exercises build`` then carries
    the solutions' lines into ``exercises/``). Running it twice changes nothing the
    second time; a notebook is written (atomically) only when it changes.

    Parameters
    ----------
    notebooks_dir : str or path
        Folder with the lessons ``NN_*.ipynb``.
    repo_url : str, optional
        Repository address; default :func:`repository_url`.
    ref : str, optional
        The tag or commit Colab installs; default :func:`release_ref` (``v<version>``).

    Returns
    -------
    list of Path
        The notebooks that were changed.

    Raises
    ------
    ValueError
        If a lesson has no badge in its first cell or no install line in its first
        code cell (nothing is written then).
    """
    repo_url = repository_url() if repo_url is None else repo_url
    source = pip_source(repo_url, ref)
    folder = Path(notebooks_dir)
    lessons = _lessons(folder)
    others = sorted(
        p for sub in ("solutions", "experiments") for p in (folder / sub).glob("*.ipynb")
    )
    pending: list[tuple[Path, str]] = []
    for path in lessons + others:
        strict = path in lessons
        raw = path.read_text(encoding="utf-8")
        nb = json.loads(raw)
        cells = nb.get("cells", [])
        code_cells = [c for c in cells if c.get("cell_type") == "code"]
        has_badge = bool(cells) and bool(_BADGE_RE.search(_cell_source(cells[0])))
        has_line = bool(code_cells) and bool(_INSTALL_RE.search(_cell_source(code_cells[0])))
        if strict and not has_badge:
            raise ValueError(f"{path.name}: the first cell has no 'Open In Colab' badge to update")
        if strict and not has_line:
            raise ValueError(
                f"{path.name}: the setup cell (first code cell) has no install line "
                f'(%pip install -q "rnpa @ git+...")'
            )
        if has_badge:
            rel = path.relative_to(folder).as_posix()
            badge = f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({_colab_url_of(repo_url, rel)})"
            _set_source(cells[0], _BADGE_RE.sub(lambda _m, b=badge: b, _cell_source(cells[0])))
        if has_line:
            _set_source(
                code_cells[0],
                _INSTALL_RE.sub(lambda m: f'{m.group(1)}"{source}"', _cell_source(code_cells[0])),
            )
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if text != raw:
            pending.append((path, text))
    for path, text in pending:
        write_atomic(path, text)
    return [path for path, _ in pending]


def _colab_url_of(repo_url: str, rel: str, branch: str = "main") -> str:
    """:func:`colab_url` of a notebook at ``notebooks/<rel>`` (``rel`` may name a sub-folder)."""
    owner, repo = _github_parts(repo_url)
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{rel}"


def _set_source(cell: dict, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines if isinstance(cell.get("source"), list) else text


# ----------------------------------------------------------------------------
# running the course
# ----------------------------------------------------------------------------
def clean_notebook(nb: dict) -> dict:
    """Remove execution noise from an executed notebook, in place, and return it.

    Drops stderr streams (TensorFlow's import-time log lines), joins consecutive
    stdout chunks of a cell into one output, drops papermill's and
    nbclient's per-cell metadata (timings, status) and the notebook-level
    ``papermill`` metadata, so committed notebooks differ only where outputs do.
    """
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("papermill", None)
        meta.pop("execution", None)
        if cell.get("cell_type") == "code":
            outputs: list[dict] = []
            for o in cell.get("outputs", []):
                if o.get("output_type") == "stream":
                    if o.get("name") == "stderr":
                        continue
                    prev = outputs[-1] if outputs else None
                    if prev and prev.get("output_type") == "stream" and prev["name"] == o["name"]:
                        prev["text"] = _text(prev["text"]) + _text(o["text"])
                        continue
                outputs.append(o)
            cell["outputs"] = outputs
    return nb


def _text(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


@contextlib.contextmanager
def _kernel_environment(profile: str) -> Iterator[None]:
    """Set ``RNPA_PROFILE`` (and quiet TensorFlow) for the kernels started inside; restore after."""
    saved = {k: os.environ.get(k) for k in ("RNPA_PROFILE", "TF_CPP_MIN_LOG_LEVEL")}
    os.environ["RNPA_PROFILE"] = profile
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class _Failure:
    """Where an executed notebook stopped: the cell (index in the source notebook) and the error."""

    cell: int | None
    line: str
    error: str


def _execute(
    path: Path, out_path: Path, parameters: Mapping[str, Any] | None, kernel_name: str
) -> tuple[dict | None, _Failure | None]:
    """Run ``path`` through papermill into a temporary file; write it, cleaned, to ``out_path``.

    Returns the cleaned notebook (None if papermill wrote nothing) and the failure
    (None when every cell ran). A lesson error, a dead kernel or a cell timeout
    is a failure; anything else (a missing kernel, a bad notebook) is raised.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    cell_error, failure = None, None
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / path.name
        try:
            papermill.execute_notebook(
                str(path),
                str(executed),
                parameters=dict(parameters) if parameters else None,
                kernel_name=kernel_name,
                cwd=str(path.parent),
                progress_bar=False,
            )
        except papermill.PapermillExecutionError as err:
            cell_error = err
            failure = _Failure(None, "", err.ename)
        except (DeadKernelError, CellTimeoutError) as err:
            failure = _Failure(None, "", f"{type(err).__name__}: {_first_line(str(err))}")
        if not executed.exists():  # papermill writes it before the first cell runs
            return None, failure
        nb = json.loads(executed.read_text(encoding="utf-8"))
    if cell_error is not None:
        failure = _failure_of(cell_error, nb)
    clean_notebook(nb)
    write_atomic(out_path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return nb, failure


def _failure_of(err: Any, nb: dict) -> _Failure:
    """A papermill error as a failure whose cell index counts the source notebook's cells.

    papermill counts the cells of the executed notebook, which holds its injected
    parameters cell; the error marker cells it adds after the error are left out.
    """
    cells = [c for c in nb["cells"] if "papermill-error-cell-tag" not in _tags(c)]
    injected = sum("injected-parameters" in _tags(c) for c in cells[: err.cell_index])
    return _Failure(
        cell=err.cell_index - injected,
        line=_first_line(_text(err.source)),
        error=f"{err.ename}: {_first_line(str(err.evalue))}" if err.evalue else err.ename,
    )


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _first_line(text: str, width: int = 80) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


# ----------------------------------------------------------------------------
# what a lesson says about itself: its first cell
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LessonInfo:
    """What a lesson's first markdown cell says about it (the course site's index shows it).

    Attributes
    ----------
    name : str
        File name, ``"01_residual_learning.ipynb"``.
    title : str
        The first ``# `` heading (default: the file name without ``.ipynb``).
    learn : tuple of str
        The bullets under "What you learn", or else the first paragraph of prose.
    time_needed : str
        The first sentence of the "Time needed" paragraph, without its label ("" if none).
    """

    name: str
    title: str
    learn: tuple[str, ...]
    time_needed: str


def lesson_info(path: str | os.PathLike) -> LessonInfo:
    """Read a lesson's title, what it teaches and the time it needs from its first markdown cell."""
    path = Path(path)
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    text = next((_cell_source(c) for c in cells if c.get("cell_type") == "markdown"), "")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    title = next(
        (line[2:].strip() for line in text.splitlines() if line.startswith("# ")), path.stem
    )
    return LessonInfo(path.name, title, _learn(paragraphs), _time_needed(paragraphs))


def _learn(paragraphs: list[str]) -> tuple[str, ...]:
    for i, par in enumerate(paragraphs):
        label, _, rest = par.partition("\n")
        if "what you learn" in label.lower():
            block = rest if rest.strip() else "".join(paragraphs[i + 1 : i + 2])
            items = re.split(r"^\s*[-*] ", block, flags=re.MULTILINE)[1:]
            if items:
                return tuple(" ".join(item.split()) for item in items)
    prose = [p for p in paragraphs if not p.startswith(("#", "[![", "|", "<"))]
    return (" ".join(prose[0].split()),) if prose else ()


def _time_needed(paragraphs: list[str]) -> str:
    par = next((p for p in paragraphs if "time needed" in p.lower()[:20]), "")
    par = " ".join(re.sub(r"^\W*time needed\W*", "", par, flags=re.IGNORECASE).split())
    return re.split(r"(?<=\.)\s+(?=[A-Z])", par, maxsplit=1)[0] if par else ""


# ----------------------------------------------------------------------------
# running the lessons
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LessonRun:
    """How one lesson went in :func:`run_course`.

    Attributes
    ----------
    name : str
        File name of the lesson.
    status : {"ok", "failed", "not run"}
        ``"not run"``: the lesson was left out by ``only``.
    seconds : float or None
        Wall time of the execution (kernel start included); None if not run.
    cell, cell_line, error : int or None, str, str
        Where a failed lesson stopped: the cell's index in the lesson file
        (counting from 0, as ``nb.cells[cell]``; None if the kernel died), its
        first source line, and ``"ValueError: message"``.
    notebook, html : Path or None
        The executed notebook (kept also when the lesson failed) and its page.
    """

    name: str
    status: str
    seconds: float | None = None
    cell: int | None = None
    cell_line: str = ""
    error: str = ""
    notebook: Path | None = None
    html: Path | None = None

    @property
    def ok(self) -> bool:
        """True if every cell ran."""
        return self.status == "ok"

    def describe(self) -> str:
        """``"ok"``, ``"failed at cell N"`` (``"failed"`` if the kernel died) or ``"not run"``."""
        if self.status == "failed" and self.cell is not None:
            return f"failed at cell {self.cell}"
        return self.status

    def failure_message(self) -> str:
        """One line: the lesson, the failing cell and its first line, the error, the kept file."""
        where = f" at cell {self.cell} ({self.cell_line!r})" if self.cell is not None else ""
        kept = f"; the partly executed notebook is {self.notebook}" if self.notebook else ""
        return f"{self.name} failed{where}: {self.error}{kept}"


class CourseRunError(RuntimeError):
    """Raised by :func:`run_course` (with ``check=True``) after all lessons ran, if one failed.

    ``runs`` holds every lesson's :class:`LessonRun`, as ``run_course`` returns them.
    """

    def __init__(self, runs: dict[str, LessonRun]):
        self.runs = runs
        failed = [r.failure_message() for r in runs.values() if r.status == "failed"]
        super().__init__(f"{len(failed)} lesson(s) failed: " + " | ".join(failed))


def run_course(
    out_dir: str | os.PathLike | None,
    profile: str = "full",
    parameters: Mapping[str, Any] | None = None,
    notebooks_dir: str | os.PathLike = "notebooks",
    inplace: bool = False,
    only: list[str] | None = None,
    kernel_name: str = "python3",
    html: bool = True,
    check: bool = True,
) -> dict[str, LessonRun]:
    """Execute every lesson in order through papermill; write the course site into ``out_dir``.

    Every lesson runs, also after one fails, so that the table and the site show
    all of them. A failed lesson's partly executed notebook (with papermill's
    note at the top and above the failing cell) is kept in ``out_dir``, and its
    page is written too; with ``inplace`` a failed lesson is never written back.

    Parameters
    ----------
    out_dir : str or path or None
        Folder for the executed notebooks ``NAME.ipynb``, their pages ``NAME.html``
        and ``index.html`` (created); ``None`` only with ``inplace`` (no site then).
    profile : {"full", "quick"}
        ``RNPA_PROFILE`` for the kernels: the parameters cells' defaults.
    parameters : dict, optional
        Values papermill injects after each notebook's ``parameters`` cell, for
        every notebook (e.g. ``{"SEED": 1}``).
    notebooks_dir : str or path
        Folder with the lessons ``NN_*.ipynb``.
    inplace : bool
        Write each executed (and cleaned) notebook back over its source: this
        regenerates the committed outputs.
    only : list of str, optional
        Run only the lessons whose file names start with one of these
        (``["01", "03_bottleneck"]``); the index lists the others as not run.
        A name of ``parameters`` that none of the lessons run has is refused
        before anything runs (:func:`check_overrides`).
    kernel_name : str
        Jupyter kernel.
    html : bool
        Write the pages and ``index.html`` (see :func:`write_site`).
    check : bool
        Raise :class:`CourseRunError` at the end if a lesson failed (after writing
        everything); with ``False`` look at the returned statuses instead.

    Returns
    -------
    dict of str to LessonRun
        The lessons that ran, by file name, in the order they ran.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a dict {{name: value}}, got {parameters!r}")
    if out_dir is None and not inplace:
        raise ValueError("out_dir must be a folder unless inplace=True")
    lessons = all_lessons = _lessons(notebooks_dir)
    if only:
        lessons = [p for p in lessons if any(p.name.startswith(o) for o in only)]
        if not lessons:
            raise ValueError(f"only={only!r} matches no lesson in {str(notebooks_dir)!r}")
    if not lessons:
        raise FileNotFoundError(f"no lessons ({LESSON_GLOB}) in {str(notebooks_dir)!r}")
    if parameters:
        check_overrides(lessons, parameters)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    runs: dict[str, LessonRun] = {}
    with _kernel_environment(profile), tempfile.TemporaryDirectory() as scratch:
        for path in lessons:
            runs[path.name] = _run_lesson(
                path, out, Path(scratch), parameters, kernel_name, inplace, html=html
            )
    if html and out is not None:
        write_site(out, [lesson_info(p) for p in all_lessons], runs, profile=profile)
    if check and any(r.status == "failed" for r in runs.values()):
        raise CourseRunError(runs)
    return runs


def lesson_parameters(path: str | os.PathLike) -> list[str]:
    """The parameters of a notebook's ``parameters`` cell, as papermill reads them.

    Uses :func:`papermill.inspect_notebook` (what ``papermill --help-notebook``
    prints), so a name is a parameter exactly when papermill sees it as one.
    """
    import papermill

    return list(papermill.inspect_notebook(str(path)))


def check_overrides(
    lessons: Iterable[str | os.PathLike], overrides: Mapping[str, Any] | Iterable[str]
) -> None:
    """Refuse parameter names that none of ``lessons`` has, before anything runs.

    ``python -m rnpa course run -p NAME=VALUE`` injects ``NAME`` into every lesson
    it runs; papermill itself only warns about a name a notebook lacks, and the
    lesson then runs its defaults. A name that at least one of the lessons has is
    allowed (the others ignore it).

    Parameters
    ----------
    lessons : list of paths
        The notebooks to be run.
    overrides : dict or list of str
        The names to inject (a dict's keys).

    Raises
    ------
    ValueError
        One line: the unknown names, and each lesson's parameters.
    """
    paths = [Path(p) for p in lessons]
    known = {p.name: lesson_parameters(p) for p in paths}
    every = {name for names in known.values() for name in names}
    unknown = [name for name in overrides if name not in every]
    if unknown:
        listing = "; ".join(
            f"{name}: {', '.join(names) or '(none)'}" for name, names in known.items()
        )
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(
            f"unknown parameter{plural} {', '.join(unknown)}: no lesson run has "
            f"{'them' if plural else 'it'}; the lessons' parameters are {listing}"
        )


def _run_lesson(
    path: Path,
    out: Path | None,
    scratch: Path,
    parameters: Mapping[str, Any] | None,
    kernel_name: str,
    inplace: bool,
    html: bool,
) -> LessonRun:
    """Execute one lesson into ``out`` (or ``scratch`` when there is no site folder)."""
    executed = (out or scratch) / path.name
    start = time.perf_counter()
    nb, failure = _execute(path, executed, parameters, kernel_name)
    seconds = time.perf_counter() - start
    if nb is not None and failure is None and inplace:
        write_atomic(path, executed.read_text(encoding="utf-8"))
    kept = executed if nb is not None and out is not None else None
    page = None
    if kept is not None and html:
        page = export_html(nb, out / (path.stem + ".html"), lesson_info(path).title)
    if failure is None:
        return LessonRun(path.name, "ok", seconds, notebook=kept, html=page)
    return LessonRun(
        path.name,
        "failed",
        seconds,
        failure.cell,
        failure.line,
        failure.error,
        notebook=kept,
        html=page,
    )


def format_runs(runs: Mapping[str, LessonRun], profile: str | None = None) -> str:
    """A plain-text table of the lessons' times and statuses, with a total line."""
    width = max([len("lesson")] + [len(n) for n in runs])
    lines = [f"{'lesson':<{width}}  {'seconds':>7}  status"]
    for name, run in runs.items():
        secs = f"{run.seconds:7.0f}" if run.seconds is not None else f"{'-':>7}"
        lines.append(f"{name:<{width}}  {secs}  {run.describe()}")
    total = sum(r.seconds or 0.0 for r in runs.values())
    failed = sum(r.status == "failed" for r in runs.values())
    ran = sum(r.seconds is not None for r in runs.values())
    tail = f"{failed} of {ran} failed" if failed else f"{ran} ok"
    lines.append(
        f"{'total':<{width}}  {total:7.0f}  {tail}" + (f" ({profile} profile)" if profile else "")
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# the course site: one HTML page per lesson and an index
# ----------------------------------------------------------------------------
#: a link to another lesson in a markdown cell, ``](02_pre_activation.ipynb)``
_LESSON_LINK_RE = re.compile(r"\]\((\d\d_[\w.-]*?)\.ipynb(#[^)\s]*)?\)")


def export_html(nb: Mapping[str, Any], path: str | os.PathLike, title: str) -> Path:
    """Write an executed notebook as a web page (nbconvert's ``lab`` template) and return its path.

    The lab template loads MathJax, so the lessons' math renders on a hosted
    site. The page gets a link back to ``index.html`` at the top, and links to
    other lessons (``NN_name.ipynb``) in markdown cells point at their pages.
    """
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.reads(json.dumps(nb), as_version=4)  # a copy, with sources joined
    for cell in node.cells:
        if cell.cell_type == "markdown":
            cell.source = _LESSON_LINK_RE.sub(r"](\1.html\2)", _text(cell.source))
    node.cells.insert(0, nbformat.v4.new_markdown_cell("[← all lessons](index.html)"))
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(
        node, resources={"metadata": {"name": title}}
    )
    path = Path(path)
    write_atomic(path, body)
    return path


_INDEX_TEMPLATE = string.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${title}</title>
<style>${css}</style>
<script type="text/x-mathjax-config">${mathjax_config}</script>
<script src="${mathjax_url}"></script>
</head>
<body>
<h1>${title}</h1>
<p>${summary}</p>
<ol class="lessons">
${lessons}
</ol>
</body>
</html>
""")

_INDEX_CSS = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
ol.lessons { padding-left: 1.2rem; }
ol.lessons > li { margin-bottom: 1.5rem; }
.status { font-weight: bold; }
.status.ok { color: #1a7f37; } .status.failed { color: #cf222e; } .status.not-run { color: #777; }
.time { color: #555; }
"""

_MATHJAX_CONFIG = (
    "MathJax.Hub.Config({tex2jax: {inlineMath: [['$','$'], ['\\\\(','\\\\)']], "
    "processEscapes: true}});"
)

#: the course's name on the index page
SITE_TITLE = "Pre-activation and bottleneck residual networks: the course"


def write_site(
    out_dir: str | os.PathLike,
    lessons: list[LessonInfo],
    runs: Mapping[str, LessonRun],
    profile: str | None = None,
) -> Path:
    """Write ``out_dir/index.html``: every lesson in order, what it teaches, its time and status.

    nbconvert converts one notebook at a time and has no page that lists several;
    Jupyter Book or Sphinx would build one but are heavy new dependencies for one
    page, so this is a small template of our own. Every text is escaped with
    :func:`html.escape`; ``**bold**``, ``*italic*`` and ```code``` in the
    lessons' bullets are kept, and MathJax (the URL nbconvert's pages use)
    renders their ``$math$``. An empty ``.nojekyll`` next to it tells GitHub
    Pages to serve the folder as it is.

    Parameters
    ----------
    out_dir : str or path
        The site's folder, holding the lessons' pages ``NAME.html``.
    lessons : list of LessonInfo
        All lessons, in order (see :func:`lesson_info`).
    runs : dict of str to LessonRun
        This run's lessons, by file name; the others are shown as not run.
    profile : str, optional
        The profile the lessons ran with, named on the page.

    Returns
    -------
    Path
        ``out_dir/index.html``.
    """
    from nbconvert import HTMLExporter

    ran = [r for r in runs.values() if r.seconds is not None]
    failed = sum(r.status == "failed" for r in ran)
    summary = (
        f"Executed {len(ran)} of {len(lessons)} lessons"
        + (f" with the {profile} profile" if profile else "")
        + f" on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on a machine with "
        f"{os.cpu_count()} CPU cores: {len(ran) - failed} ok, {failed} failed, "
        f"{sum(r.seconds for r in ran):.0f} s in all."
    )
    items = [_index_item(info, runs.get(info.name)) for info in lessons]
    page = _INDEX_TEMPLATE.substitute(
        title=html.escape(SITE_TITLE),
        css=_INDEX_CSS,
        mathjax_config=_MATHJAX_CONFIG,
        mathjax_url=html.escape(HTMLExporter.mathjax_url.default_value),
        summary=html.escape(summary),
        lessons="\n".join(items),
    )
    path = Path(out_dir) / "index.html"
    write_atomic(path, page)
    write_atomic(path.with_name(".nojekyll"), "")  # GitHub Pages: serve the files as they are
    return path


def _index_item(info: LessonInfo, run: LessonRun | None) -> str:
    run = run or LessonRun(info.name, "not run")
    title = html.escape(info.title)
    if run.html is not None:
        title = f'<a href="{html.escape(run.html.name)}">{title}</a>'
    links = ""
    if run.notebook is not None:
        links = f' &middot; <a href="{html.escape(run.notebook.name)}">notebook</a>'
    learn = "".join(f"<li>{_inline_markdown(b)}</li>" for b in info.learn)
    measured = f"This run: {_duration(run.seconds)}." if run.seconds is not None else ""
    needed = _inline_markdown(info.time_needed) if info.time_needed else ""
    needed = f"Time needed (the lesson says): {needed}" if needed else ""
    time_line = " ".join(t for t in (measured, needed) if t)
    status_class = run.status.replace(" ", "-")
    status = html.escape(run.describe())
    if run.status == "failed":
        status += html.escape(f": {run.error}")
    return (
        f'<li id="{html.escape(Path(info.name).stem)}"><h2>{title}</h2>\n'
        f'<p><span class="status {status_class}">{status}</span>{links}</p>\n'
        f"<ul>{learn}</ul>\n" + (f'<p class="time">{time_line}</p>' if time_line else "") + "</li>"
    )


def _inline_markdown(text: str) -> str:
    """Escape ``text``, then turn its ```code```, ``**bold**`` and ``*italic*`` into tags."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*$\\])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s"


# ----------------------------------------------------------------------------
# experiment sweeps: one papermill job per (variant, seed)
# ----------------------------------------------------------------------------
#: keys of a result file that are not metrics
_RESULT_KEYS = ("history", "parameters", "profile")
#: parameters run_sweep sets for every job itself
_JOB_PARAMETERS = ("SEED", "RESULT_FILE")
_VARIANT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def write_result(
    path: str | os.PathLike | None,
    metrics: Mapping[str, Any],
    history: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write an experiment job's metrics (and curves) as JSON, atomically; job notebooks call it.

    Parameters
    ----------
    path : str or path or None
        The job's ``RESULT_FILE``; ``None`` or ``""`` (a job notebook run by hand)
        checks and returns the record without writing it.
    metrics : dict of str to number
        Finite numbers (Python, NumPy or anything ``float()`` takes, not bool),
        e.g. ``{"val_accuracy": 0.71, "seconds": 41.0}``. Names may not be
        ``history``, ``parameters`` or ``profile``.
    history : dict of str to list of numbers, optional
        Per-epoch curves, e.g. Keras' ``History.history``.

    Returns
    -------
    dict
        The record written: the metrics as floats, plus ``"history"`` if given.

    Raises
    ------
    TypeError, ValueError
        If a metric or a curve value is not a finite number, or a name is wrong
        (nothing is written then).
    """
    record = _checked_metrics(metrics)
    if history is not None:
        record["history"] = _checked_history(history)
    if path is not None and str(path) != "":
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(record, indent=1) + "\n")
    return record


def _checked_metrics(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, Mapping) or not metrics:
        raise TypeError(f"metrics must be a non-empty dict {{name: number}}, got {metrics!r}")
    out = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name or name in _RESULT_KEYS:
            raise ValueError(
                f"metric names must be non-empty strings other than {', '.join(_RESULT_KEYS)}, "
                f"got {name!r}"
            )
        out[name] = _finite(value, f"metric {name!r}")
    return out


def _checked_history(history: Any) -> dict[str, list[float]]:
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a dict {{name: list of numbers}}, got {history!r}")
    out = {}
    for name, values in history.items():
        if not isinstance(name, str) or isinstance(values, (str, bytes, Mapping)):
            raise TypeError(f"history must map names to lists of numbers, got {name!r}: {values!r}")
        out[name] = [_finite(v, f"history {name!r}") for v in values]
    return out


def _finite(value: Any, what: str) -> float:
    if isinstance(value, (bool, str, bytes)) or type(value).__name__ == "bool_":
        raise TypeError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a number, got {value!r}") from err
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


@dataclass
class SweepResult:
    """The results of :func:`run_sweep`: one row per job, per-epoch curves, summaries.

    Attributes
    ----------
    rows : list of dict
        One per job, in run order (variant-major): ``{"variant", "seed", <metrics>}``.
    histories : dict of (str, int) to dict
        The curves each job wrote, by ``(variant, seed)`` (jobs without curves are absent).
    variants : tuple of str
        The variants' names in the order given.
    notebooks : dict of (str, int) to Path
        The executed job notebooks.
    """

    rows: list[dict[str, Any]]
    histories: dict[tuple[str, int], dict[str, list[float]]] = field(default_factory=dict)
    variants: tuple[str, ...] = ()
    notebooks: dict[tuple[str, int], Path] = field(default_factory=dict)

    def metric_names(self) -> list[str]:
        """The metrics every row has, in the first row's order."""
        if not self.rows:
            return []
        names = [k for k in self.rows[0] if k not in ("variant", "seed")]
        return [n for n in names if all(n in row for row in self.rows)]

    def _metrics(self, metrics: str | Iterable[str] | None) -> list[str]:
        known = self.metric_names()
        if metrics is None:
            chosen = known
        else:
            chosen = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in chosen if m not in known]
        if unknown or not chosen:
            raise ValueError(f"metrics must be some of {known}, got {metrics!r}")
        return chosen

    def summary(self, metrics: str | Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Per variant, in the variants' order: ``<m>_mean``, ``<m>_std`` of each metric and ``n``.

        ``<m>_std`` is the sample standard deviation (ddof=1) over the seeds, 0.0
        with one seed.
        """
        chosen = self._metrics(metrics)
        order = list(self.variants) or list(dict.fromkeys(r["variant"] for r in self.rows))
        out = []
        for variant in order:
            rows = [r for r in self.rows if r["variant"] == variant]
            entry: dict[str, Any] = {"variant": variant}
            for m in chosen:
                values = [float(r[m]) for r in rows]
                entry[f"{m}_mean"] = statistics.fmean(values)
                entry[f"{m}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            entry["n"] = len(rows)
            out.append(entry)
        return out

    def format_table(
        self, metrics: str | Iterable[str] | None = None, percent: Iterable[str] = ()
    ) -> str:
        """A plain-text table: one line per variant, ``mean ± std`` of each metric, and ``n``.

        Metrics named in ``percent`` are shown multiplied by 100, with ``(%)`` in
        their heading.
        """
        chosen = self._metrics(metrics)
        percent = [percent] if isinstance(percent, str) else list(percent)
        if any(p not in chosen for p in percent):
            raise ValueError(f"percent must be some of the metrics {chosen}, got {percent!r}")
        header = ["variant"] + [f"{m} (%)" if m in percent else m for m in chosen] + ["n"]
        body = []
        for entry in self.summary(chosen):
            cells = [entry["variant"]]
            for m in chosen:
                scale = 100.0 if m in percent else 1.0
                mean, std = entry[f"{m}_mean"] * scale, entry[f"{m}_std"] * scale
                cells.append(f"{_number(mean)} ± {_number(std)}")
            body.append(cells + [str(entry["n"])])
        rows = [header] + body
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join(
            "  ".join(
                [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, len(row))]
            )
            for row in rows
        )


def _number(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def run_sweep(
    notebook: str | os.PathLike,
    variants: Mapping[str, Mapping[str, Any]],
    seeds: Iterable[int],
    out_dir: str | os.PathLike,
    *,
    common: Mapping[str, Any] | None = None,
    profile: str | None = None,
    kernel_name: str = "python3",
    progress: bool = True,
) -> SweepResult:
    """Run a parameterised notebook once per (variant, seed) through papermill; collect metrics.

    Each job gets the parameters ``{**common, **variants[name], "SEED": seed,
    "RESULT_FILE": "<out_dir>/<name>-seed<seed>.json"}`` (relative to the notebook's
    folder, where the job runs); it must
    call :func:`write_result` ``(RESULT_FILE, metrics, history)``. Jobs run in
    order, variant-major; each executed notebook is kept, cleaned, as
    ``out_dir/<name>-seed<seed>.ipynb``.

    **Cache**: after a job, its result file also records the job's parameters
    (without ``RESULT_FILE``) and the profile. A job whose result file records
    the same parameters and profile is not run again, so re-running a lesson or
    resuming an interrupted sweep retrains nothing; change a parameter and that
    job runs again. Editing the job notebook does not invalidate the cache:
    delete ``out_dir`` (or its files) then.

    Parameters
    ----------
    notebook : str or path
        The job notebook (a ``parameters`` cell with ``SEED`` and ``RESULT_FILE``).
    variants : dict of str to dict
        Name (a short identifier: letters, digits, ``_`` and ``-``, starting with
        a letter, e.g. ``"pre"``, ``"post-noshortcut"``) -> the parameters that
        make the variant. May not set ``SEED`` or ``RESULT_FILE``.
    seeds : list of int
        Distinct seeds; every variant runs once with each.
    out_dir : str or path
        Folder for the executed jobs and their result files (created).
    common : dict, optional
        Parameters of every job (a variant's own value wins).
    profile : {"full", "quick"}, optional
        ``RNPA_PROFILE`` of the job kernels; default :func:`profile`.
    kernel_name : str
        Jupyter kernel.
    progress : bool
        Print one line per job: variant, seed, seconds or ``cached``.

    Returns
    -------
    SweepResult

    Raises
    ------
    TypeError, ValueError
        Bad arguments, before any job runs.
    RuntimeError
        A job failed (one line: variant, seed, cell, error, the kept notebook),
        or wrote no result.
    """
    jobs, profile = _sweep_jobs(notebook, variants, seeds, common, profile)
    notebook = Path(notebook).resolve()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = SweepResult(rows=[], variants=tuple(variants))
    with _kernel_environment(profile):
        for number, (name, seed, params) in enumerate(jobs, start=1):
            record, note = _sweep_job(notebook, out, name, seed, params, profile, kernel_name)
            if progress:
                print(f"[{number}/{len(jobs)}] {name} seed {seed}: {note}", flush=True)
            result.rows.append({"variant": name, "seed": seed, **_metrics_of(record)})
            if "history" in record:
                result.histories[(name, seed)] = record["history"]
            result.notebooks[(name, seed)] = out / f"{name}-seed{seed}.ipynb"
    return result


def _sweep_jobs(
    notebook: Any, variants: Any, seeds: Any, common: Any, profile: str | None
) -> tuple[list[tuple[str, int, dict[str, Any]]], str]:
    """Check run_sweep's arguments; the jobs (variant, seed, parameters) and the profile."""
    path = Path(notebook)
    if path.suffix != ".ipynb" or not path.is_file():
        raise FileNotFoundError(f"notebook must be an existing .ipynb file, got {str(path)!r}")
    profile = _environment_profile() if profile is None else profile
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    common = _checked_parameters(common or {}, "common")
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError(
            f"variants must be a non-empty dict {{name: parameters}}, got {variants!r}"
        )
    for name, params in variants.items():
        if not isinstance(name, str) or not _VARIANT_RE.match(name):
            raise ValueError(
                f"variant names must be short identifiers (letters, digits, _ and -, starting "
                f"with a letter), got {name!r}"
            )
        _checked_parameters(params, f"variants[{name!r}]")
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a list of ints, got {seeds!r}")
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in seeds):
        raise TypeError(f"seeds must be a non-empty list of ints, got {seeds!r}")
    seeds = [int(s) for s in seeds]
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    jobs = [
        (name, seed, {**common, **variants[name], "SEED": seed})
        for name in variants
        for seed in seeds
    ]
    return jobs, profile


def _environment_profile() -> str:
    """:func:`profile`, under a name that the ``profile`` arguments do not shadow."""
    return profile()


def _checked_parameters(params: Any, what: str) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise TypeError(f"{what} must be a dict {{name: value}}, got {params!r}")
    for key in params:
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{what}: parameter names must be Python names, got {key!r}")
        if key in _JOB_PARAMETERS:
            raise ValueError(f"{what} may not set {key}: run_sweep sets it for each job")
    try:
        json.dumps(dict(params), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{what} must hold JSON values (numbers, strings, lists, dicts): {err}"
        ) from err
    return dict(params)


def _sweep_job(
    notebook: Path,
    out: Path,
    name: str,
    seed: int,
    params: dict[str, Any],
    profile: str,
    kernel_name: str,
) -> tuple[dict[str, Any], str]:
    """Run one job unless its result is cached; its record and the progress note."""
    result_file = out / f"{name}-seed{seed}.json"
    identity = {"parameters": json.loads(json.dumps(params)), "profile": profile}
    cached = _cached_record(result_file, identity)
    if cached is not None:
        return cached, "cached"
    result_file.unlink(missing_ok=True)
    executed = out / f"{name}-seed{seed}.ipynb"
    try:  # the job runs in its notebook's folder: a relative path keeps the kept notebook portable
        result_param = Path(os.path.relpath(result_file, notebook.parent)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        result_param = str(result_file)
    start = time.perf_counter()
    nb, failure = _execute(notebook, executed, {**params, "RESULT_FILE": result_param}, kernel_name)
    seconds = time.perf_counter() - start
    if failure is not None or nb is None:
        failure = failure or _Failure(None, "", "papermill wrote no notebook")
        where = f" at cell {failure.cell} ({failure.line!r})" if failure.cell is not None else ""
        error = failure.error
        raise RuntimeError(
            f"sweep job {name!r} seed {seed} failed{where}: {error}; the executed notebook is "
            f"{executed}"
        )
    if not result_file.exists():
        raise RuntimeError(
            f"sweep job {name!r} seed {seed} ran but wrote no {result_file.name}: the notebook "
            f"must call rnpa.course.write_result(RESULT_FILE, metrics); see {executed}"
        )
    record = json.loads(result_file.read_text(encoding="utf-8"))
    record = {**write_result(None, _metrics_of(record), record.get("history")), **identity}
    write_atomic(result_file, json.dumps(record, indent=1) + "\n")
    return record, f"{seconds:.0f} s"


def _cached_record(result_file: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The job's recorded result if it was run with the same parameters and profile, else None."""
    try:
        record = json.loads(result_file.read_text(encoding="utf-8"))
        write_result(None, _metrics_of(record), record.get("history"))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    same = all(record.get(k) == v for k, v in identity.items())
    return record if same else None


def _metrics_of(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _RESULT_KEYS}


__all__ = [
    "PROFILES",
    "CourseRunError",
    "LessonInfo",
    "LessonRun",
    "SweepResult",
    "clean_notebook",
    "colab_badge",
    "colab_url",
    "export_html",
    "format_runs",
    "lesson_info",
    "check_overrides",
    "install_line",
    "lesson_parameters",
    "pip_source",
    "profile",
    "release_ref",
    "repository_url",
    "run_course",
    "run_sweep",
    "setup_cell",
    "update_badges",
    "write_result",
    "write_site",
]
