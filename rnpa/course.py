"""Running the course: the notebooks' profile, their Colab badges, and running them all.

* :func:`profile`: ``full`` (learners, the committed outputs) or ``quick`` (CI, a
  fast classroom check), from ``RNPA_PROFILE``; each notebook's ``parameters``
  cell takes its defaults from it.
* :func:`repository_url`: the public repository, read from the installed package's
  metadata (pyproject's ``[project.urls] Repository``, the one place that names it).
* :func:`update_badges`: rewrite every notebook's "Open in Colab" badge and Colab
  install line from :func:`repository_url` (``python -m rnpa course badges``).
* :func:`run_course`: execute every notebook in order through papermill
  (``python -m rnpa course run``); ``inplace=True`` regenerates the committed
  outputs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
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
#: the Colab install line of a setup cell: ``RNPA_SOURCE = "rnpa @ git+<url>"``
_INSTALL_RE = re.compile(r'^(\s*RNPA_SOURCE\s*=\s*)"[^"\n]*"', re.MULTILINE)
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


def pip_source(repo_url: str) -> str:
    """The pip requirement that installs rnpa from the repository: ``rnpa @ git+<url>``."""
    owner, repo = _github_parts(repo_url)
    return f"rnpa @ git+https://github.com/{owner}/{repo}"


def _lessons(notebooks_dir: str | os.PathLike) -> list[Path]:
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks_dir {str(folder)!r} is not a folder")
    return sorted(folder.glob(LESSON_GLOB))


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def update_badges(
    notebooks_dir: str | os.PathLike = "notebooks", repo_url: str | None = None
) -> list[Path]:
    """Rewrite each lesson's Colab badge (first cell) and Colab install line (setup cell).

    The badge is ``[![Open In Colab](...colab-badge.svg)](<colab url>)`` in the
    first cell; the install line is ``RNPA_SOURCE = "rnpa @ git+<url>"`` in the
    first code cell. Running it twice changes nothing the second time; a
    notebook is written (atomically) only when it changes.

    Parameters
    ----------
    notebooks_dir : str or path
        Folder with the lessons ``NN_*.ipynb``.
    repo_url : str, optional
        Repository address; default :func:`repository_url`.

    Returns
    -------
    list of Path
        The notebooks that were changed.

    Raises
    ------
    ValueError
        If a lesson has no badge in its first cell or no ``RNPA_SOURCE`` line in
        its first code cell (nothing is written then).
    """
    repo_url = repository_url() if repo_url is None else repo_url
    source = pip_source(repo_url)
    pending: list[tuple[Path, str]] = []
    for path in _lessons(notebooks_dir):
        raw = path.read_text(encoding="utf-8")
        nb = json.loads(raw)
        cells = nb.get("cells", [])
        if not cells or not _BADGE_RE.search(_cell_source(cells[0])):
            raise ValueError(f"{path.name}: the first cell has no 'Open In Colab' badge to update")
        code_cells = [c for c in cells if c.get("cell_type") == "code"]
        if not code_cells or not _INSTALL_RE.search(_cell_source(code_cells[0])):
            raise ValueError(
                f'{path.name}: the setup cell (first code cell) has no RNPA_SOURCE = "..." line'
            )
        badge = colab_badge(repo_url, path.name)
        _set_source(cells[0], _BADGE_RE.sub(lambda _m, b=badge: b, _cell_source(cells[0])))
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


def run_course(
    out_dir: str | os.PathLike | None,
    profile: str = "full",
    parameters: Mapping[str, Any] | None = None,
    notebooks_dir: str | os.PathLike = "notebooks",
    inplace: bool = False,
    only: list[str] | None = None,
    kernel_name: str = "python3",
) -> dict[str, float]:
    """Execute every lesson in order through papermill.

    Parameters
    ----------
    out_dir : str or path or None
        Folder for the executed notebooks (created); ``None`` only with ``inplace``.
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
        (``["01", "03_bottleneck"]``).
    kernel_name : str
        Jupyter kernel.

    Returns
    -------
    dict of str to float
        Seconds each notebook took, by file name, in the order they ran.
    """
    import papermill

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a dict {{name: value}}, got {parameters!r}")
    if out_dir is None and not inplace:
        raise ValueError("out_dir must be a folder unless inplace=True")
    lessons = _lessons(notebooks_dir)
    if only:
        lessons = [p for p in lessons if any(p.name.startswith(o) for o in only)]
        if not lessons:
            raise ValueError(f"only={only!r} matches no lesson in {str(notebooks_dir)!r}")
    if not lessons:
        raise FileNotFoundError(f"no lessons ({LESSON_GLOB}) in {str(notebooks_dir)!r}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    saved = {k: os.environ.get(k) for k in ("RNPA_PROFILE", "TF_CPP_MIN_LOG_LEVEL")}
    os.environ["RNPA_PROFILE"] = profile
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    seconds: dict[str, float] = {}
    try:
        for path in lessons:
            with tempfile.TemporaryDirectory() as tmp:
                executed = Path(tmp) / path.name
                start = time.perf_counter()
                papermill.execute_notebook(
                    str(path),
                    str(executed),
                    parameters=dict(parameters) if parameters else None,
                    kernel_name=kernel_name,
                    cwd=str(path.parent),
                    progress_bar=False,
                )
                seconds[path.name] = time.perf_counter() - start
                nb = clean_notebook(json.loads(executed.read_text(encoding="utf-8")))
                text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
                if out is not None:
                    write_atomic(out / path.name, text)
                if inplace:
                    write_atomic(path, text)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return seconds


# ----------------------------------------------------------------------------
# the command line: python -m rnpa course badges|run
# ----------------------------------------------------------------------------
def _cmd_badges(args: argparse.Namespace) -> int:
    changed = update_badges(args.notebooks, repo_url=args.url)
    url = args.url or repository_url()
    print(f"badges and install lines point at {url}; {len(changed)} notebook(s) changed")
    for path in changed:
        print(f"  {path}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    parameters: dict[str, Any] = {}
    for item in args.param or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"-p must be NAME=VALUE with a Python name, got {item!r}")
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value
    if args.out is None and not args.inplace:
        raise ValueError("give an output folder (--out DIR) or --inplace")
    seconds = run_course(
        args.out, profile=args.profile, parameters=parameters or None,
        notebooks_dir=args.notebooks, inplace=args.inplace, only=args.only,
    )
    for name, s in seconds.items():
        print(f"{name}: {s:.0f} s")
    print(f"total: {sum(seconds.values()):.0f} s ({args.profile} profile)")
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``course badges`` and ``course run`` to ``python -m rnpa``."""
    course = subparsers.add_parser(
        "course", help="run the lessons, update their Colab badges",
        description="Run the course's notebooks, or update their Colab badges.",
    )
    sub = course.add_subparsers(dest="course_command", metavar="SUBCOMMAND")
    sub.required = True

    badges = sub.add_parser(
        "badges", help="rewrite the Colab badges and install lines from pyproject's Repository URL"
    )
    badges.add_argument("--notebooks", default="notebooks", help="folder of the lessons")
    badges.add_argument("--url", default=None, help="repository URL (default: the installed one)")
    badges.set_defaults(func=_cmd_badges)

    run = sub.add_parser("run", help="execute every lesson in order through papermill")
    run.add_argument("--out", default=None, help="folder for the executed notebooks")
    run.add_argument("--profile", choices=PROFILES, default="full")
    run.add_argument("--inplace", action="store_true",
                     help="write the outputs back into the notebooks (the committed ones)")
    run.add_argument("--notebooks", default="notebooks", help="folder of the lessons")
    run.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                     help="run only lessons whose names start with these (e.g. 01 03)")
    run.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                     help="inject a parameter into every lesson (the value is parsed as JSON "
                     "where it can be)")
    run.set_defaults(func=_cmd_run)


__all__ = [
    "PROFILES",
    "clean_notebook",
    "colab_badge",
    "colab_url",
    "pip_source",
    "profile",
    "register_cli",
    "repository_url",
    "run_course",
    "update_badges",
]
