"""What a lesson calls at its top: the setup cell and the cell that applies the profile.

Every notebook of the course starts with the same two calls (see notebooks/README.md):

* :func:`setup_notebook` (setup cell): checks the Keras version, quiets TensorFlow,
  prints one line of versions and the device, and returns a :class:`NotebookInfo`.
* :func:`notebook_parameters` (the cell after the ``parameters`` cell): applies the
  profile (``quick`` values, GPU values) to the parameters that nobody set, checks
  every parameter against its rule, and returns a :class:`NotebookParameters`.

The ``parameters`` cell itself holds literal assignments only, so that papermill
reads every parameter (``papermill --help-notebook``, ``papermill.inspect_notebook``).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import math
import numbers
import os
import platform
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rnpa.course import profile as _environment_profile

#: the values of a notebook's ``PROFILE`` parameter: ``auto`` (its literal default)
#: takes the profile from ``RNPA_PROFILE`` (``full`` when unset)
PROFILE_CHOICES = ("auto", "full", "quick")

#: the first line of the cell that papermill injects after the parameters cell
#: (papermill's ``Translator.codify(parameters, comment="Parameters")``)
PAPERMILL_COMMENT = "# Parameters"

#: the Keras release the course needs when the installed rnpa names none
_KERAS_FALLBACK = (3, 0)


# ----------------------------------------------------------------------------
# the setup cell
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NotebookInfo:
    """Versions and device of the running kernel, as :func:`setup_notebook` found them.

    Attributes
    ----------
    python, tensorflow, keras, backend, rnpa : str
        Versions (``tensorflow`` is ``"not installed"`` without TensorFlow) and the
        Keras backend (``"tensorflow"``, ``"jax"``, ``"torch"``).
    gpus : int
        GPUs that TensorFlow finds.
    """

    python: str
    tensorflow: str
    keras: str
    backend: str
    rnpa: str
    gpus: int

    @property
    def gpu(self) -> bool:
        """True when at least one GPU was found."""
        return self.gpus > 0

    @property
    def device(self) -> str:
        """``"1 GPU"``, ``"2 GPUs"`` or ``"CPU (no GPU found)"``."""
        if not self.gpus:
            return "CPU (no GPU found)"
        return f"{self.gpus} GPU" + ("s" if self.gpus > 1 else "")

    def __str__(self) -> str:
        return (
            f"Python {self.python} | TensorFlow {self.tensorflow} | Keras {self.keras} "
            f"(backend {self.backend}) | rnpa {self.rnpa} | device: {self.device}"
        )


def _installed_version(dist: str) -> str | None:
    """The installed version of a distribution, without importing it; None if not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    """``"3.15.1"`` -> ``(3, 15, 1)``; stops at the first part that is not a number."""
    parts = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        parts.append(int(match.group()))
        if match.group() != part:
            break
    return tuple(parts)


def required_keras() -> tuple[int, ...]:
    """The lowest Keras release rnpa declares (``keras>=X`` of its metadata), e.g. ``(3, 0)``."""
    try:
        requirements = importlib.metadata.requires("rnpa") or []
    except importlib.metadata.PackageNotFoundError:
        return _KERAS_FALLBACK
    for requirement in requirements:
        match = re.match(r"^keras\s*(?:\[[^\]]*\])?\s*>=\s*([\d.]+)", requirement.split(";")[0])
        if match and "extra ==" not in requirement:
            return _release(match.group(1))
    return _KERAS_FALLBACK


def check_keras(version: str | None = None) -> str:
    """Return the installed Keras version, or raise RuntimeError if it is older than rnpa needs.

    Parameters
    ----------
    version : str, optional
        The version to check; default the installed one (read without importing Keras).

    Raises
    ------
    RuntimeError
        Keras is missing or older than ``keras>=`` of rnpa's requirements (at least 3):
        one line with the pip command that fixes it.
    """
    version = _installed_version("keras") if version is None else version
    needed = max(required_keras(), (3,))
    wanted = ".".join(map(str, needed))
    fix = f"pip install -U 'tensorflow>=2.16' 'keras>={wanted}'"
    if version is None:
        raise RuntimeError(
            f"This course needs Keras {wanted} or newer, and Keras is not "
            f"installed; install it with: {fix}"
        )
    if _release(version) < needed:
        raise RuntimeError(
            f"This course needs Keras {wanted} or newer, found Keras {version}; "
            f"install it with: {fix} (then restart the kernel)"
        )
    return version


def _quiet_tensorflow() -> str:
    """Quiet TensorFlow's Python loggers (tf, absl); its version, or ``"not installed"``."""
    try:
        import tensorflow as tf
    except ImportError:
        return "not installed"
    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; nothing to quiet without it
        pass
    return tf.__version__


@functools.lru_cache(maxsize=1)
def _gpu_count() -> int:
    """GPUs that TensorFlow finds (0 without TensorFlow); asked once per kernel."""
    try:
        import tensorflow as tf
    except ImportError:
        return 0
    return len(tf.config.list_physical_devices("GPU"))


def setup_notebook(*, show: bool = True) -> NotebookInfo:
    """Prepare a notebook's kernel: check Keras, quiet TensorFlow, print versions and device.

    The one call of every setup cell. It sets ``TF_CPP_MIN_LOG_LEVEL=2`` (unless
    set) before TensorFlow is imported, so its C++ INFO and WARNING lines stay out
    of the outputs (this works when ``import rnpa`` has not imported TensorFlow
    yet), checks Keras before importing it, sets TensorFlow's and absl's Python
    loggers to ERROR, and prints one line (:class:`NotebookInfo`)::

        Python 3.11.7 | TensorFlow 2.21.0 | Keras 3.15.1 (backend tensorflow) | rnpa 0.2.0 |
        device: CPU (no GPU found)

    Calling it again does no harm.

    Parameters
    ----------
    show : bool
        Print the line.

    Returns
    -------
    NotebookInfo
        Versions and device; ``.gpu`` is True when TensorFlow finds a GPU.

    Raises
    ------
    RuntimeError
        Keras is missing or older than 3 (or than rnpa's ``keras>=`` bound), with
        the pip command that fixes it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras_version = check_keras()
    tf_version = _quiet_tensorflow()
    import keras

    import rnpa

    info = NotebookInfo(
        python=platform.python_version(),
        tensorflow=tf_version,
        keras=keras_version,
        backend=keras.backend.backend(),
        rnpa=rnpa.__version__,
        gpus=_gpu_count(),
    )
    if show:
        print(info)
    return info


# ----------------------------------------------------------------------------
# rules: what values a parameter may take
# ----------------------------------------------------------------------------
class Rule(NamedTuple):
    """A rule of one's own: ``check(value)`` is True for allowed values; ``allowed`` says which.

    ``allowed`` completes "NAME must be ...", e.g. ``Rule(lambda v: v % 2 == 0, "an even
    int")``. ``check`` may also raise TypeError or ValueError for a value it rejects.
    """

    check: Callable[[Any], bool]
    allowed: str


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
_BOUND_RE = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)")
_DEPTH_RE = re.compile(r"^depth\s+(\d+)n\+2$")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _bounded(kind: str, test: Callable[[Any], bool], text: str, word: str) -> Rule:
    """``int >= 1 < 10`` and the like: the type test, then each bound."""
    rest = text[len(kind) :].strip()
    bounds = []
    while rest:
        match = _BOUND_RE.match(rest)
        if not match:
            raise ValueError(f"unknown rule {text!r}: after {kind!r} come bounds such as '>= 1'")
        bounds.append((match.group(1), float(match.group(2)), match.group(2)))
        rest = rest[match.end() :].strip()

    def check(value: Any) -> bool:
        return test(value) and all(_OPS[op](value, bound) for op, bound, _ in bounds)

    allowed = word + "".join(
        (" " if i == 0 else " and ") + f"{op} {shown}" for i, (op, _, shown) in enumerate(bounds)
    )
    return Rule(check, allowed)


def _depth(per_unit: int) -> Rule:
    examples = ", ".join(str(per_unit * n + 2) for n in (1, 2, 3, 4))

    def check(value: Any) -> bool:
        return _is_int(value) and value >= per_unit + 2 and (value - 2) % per_unit == 0

    return Rule(check, f"a depth {per_unit}n+2 with n >= 1 ({examples}, ...)")


def _alternative(text: str) -> Rule:
    if text == "None":
        return Rule(lambda v: v is None, "None")
    if text == "bool":
        return Rule(lambda v: isinstance(v, bool), "True or False")
    if text == "str":
        return Rule(lambda v: isinstance(v, str), "a str")
    if text.startswith("list of "):
        item = _alternative(text[len("list of ") :].strip())

        def check(value: Any) -> bool:
            return (
                isinstance(value, (list, tuple))
                and len(value) > 0
                and all(_passes(item, v) for v in value)
            )

        return Rule(check, f"a non-empty list, each item {item.allowed}")
    depth = _DEPTH_RE.match(text)
    if depth:
        return _depth(int(depth.group(1)))
    if text == "int" or text.startswith("int "):
        return _bounded("int", _is_int, text, "an int")
    if text == "number" or text.startswith("number "):
        return _bounded("number", _is_number, text, "a number")
    raise ValueError(
        f"unknown rule {text!r}: use None, bool, str, int, number (each number kind with "
        f"bounds such as 'int >= 1'), 'depth 6n+2', 'list of <rule>', joined by ' or '"
    )


def make_rule(rule: Any) -> Rule:
    """The :class:`Rule` that a rule written in a notebook stands for.

    Parameters
    ----------
    rule : str, list, tuple or Rule
        * a string of alternatives joined by ``" or "``, each one of ``"None"``,
          ``"bool"``, ``"str"``, ``"int"`` or ``"number"`` followed by bounds
          (``"int >= 1"``, ``"number > 0 <= 1"``), ``"depth 6n+2"`` or ``"depth 9n+2"``
          (a residual network's weighted layers), ``"list of <alternative>"``
          (a non-empty list); e.g. ``"None or int >= 16"``;
        * a list or tuple of values: one of them (``["pre", "post"]``);
        * a :class:`Rule`.

    Returns
    -------
    Rule

    Raises
    ------
    ValueError
        An unknown rule.
    """
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, str):
        alternatives = [_alternative(part.strip()) for part in rule.split(" or ")]
        if len(alternatives) == 1:
            return alternatives[0]
        return Rule(
            lambda v: any(_passes(a, v) for a in alternatives),
            " or ".join(a.allowed for a in alternatives),
        )
    if isinstance(rule, (list, tuple)) and rule:
        choices = list(rule)
        return Rule(
            lambda v: any(v == c and type(v) is type(c) for c in choices),
            "one of " + ", ".join(map(repr, choices)),
        )
    raise ValueError(
        f"a rule must be a str such as 'int >= 1', a non-empty list of allowed "
        f"values, or rnpa.notebook.Rule(check, allowed); got {rule!r}"
    )


def _passes(rule: Rule, value: Any) -> bool:
    try:
        return bool(rule.check(value))
    except (TypeError, ValueError):
        return False


def check_parameter(name: str, value: Any, rule: Any) -> Any:
    """Return ``value`` if it follows ``rule`` (see :func:`make_rule`), else raise one line.

    Raises
    ------
    ValueError
        ``"<name> must be <what the rule allows>, got <value>"``.
    """
    rule = make_rule(rule)
    if not _passes(rule, value):
        raise ValueError(f"{name} must be {rule.allowed}, got {value!r}")
    return value


# ----------------------------------------------------------------------------
# the cell after the parameters cell
# ----------------------------------------------------------------------------
@dataclass
class NotebookParameters:
    """The parameters a notebook runs with, after :func:`notebook_parameters`.

    Attributes
    ----------
    profile : str
        ``"full"`` or ``"quick"``.
    gpu : bool
        Whether a GPU was found (the ``gpu`` values apply then).
    values : dict
        Every parameter's value, in the order of ``rules``.
    explicit : frozenset of str
        The names set by papermill or changed in the parameters cell: no profile changed them.
    changed : dict of str to str
        Name -> ``"quick"`` or ``"GPU"``: the names a profile changed.
    """

    profile: str
    gpu: bool
    values: dict[str, Any] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()
    changed: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __str__(self) -> str:
        shown = []
        for name, value in self.values.items():
            note = f" ({self.changed[name]})" if name in self.changed else ""
            note = " (set)" if name in self.explicit else note
            shown.append(f"{name}={value!r}{note}")
        where = ", GPU" if self.gpu else ""
        return f"profile {self.profile}{where}: " + ", ".join(shown)


def injected_names(history: Iterable[str] | None) -> set[str]:
    """The names that papermill's injected cell assigns, found in IPython's input history.

    papermill injects, right after the ``parameters`` cell, a cell tagged
    ``injected-parameters`` whose source starts with the line ``# Parameters``
    (``Translator.codify(parameters, comment="Parameters")`` in papermill's
    translators.py). A kernel does not see cell tags, but IPython keeps the source
    of every executed cell in ``In``; the latest such cell is the injected one.

    Parameters
    ----------
    history : list of str, optional
        ``In`` (or ``_ih``) of an IPython kernel; None outside IPython.

    Returns
    -------
    set of str
        The assigned names; empty when no cell was injected.
    """
    for source in reversed(list(history or [])):
        if not isinstance(source, str):
            continue
        lines = source.lstrip("\n").splitlines()
        if lines and lines[0].strip() == PAPERMILL_COMMENT:
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return set()
            return {
                target.id
                for node in tree.body
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
    return set()


def _resolve_profile(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in PROFILE_CHOICES:
        raise ValueError(
            f"PROFILE must be one of {', '.join(map(repr, PROFILE_CHOICES))} ('auto': "
            f"RNPA_PROFILE, else 'full'), got {value!r}"
        )
    value = value.strip().lower()
    return _environment_profile() if value == "auto" else value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{what} must be a dict of parameter names to values, got {value!r}")
    return dict(value)


def notebook_parameters(
    namespace: MutableMapping[str, Any],
    *,
    rules: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    quick: Mapping[str, Any] | None = None,
    gpu: Mapping[str, Any] | None = None,
    show: bool = True,
) -> NotebookParameters:
    """Apply the profile to the parameters nobody set, check them all, and return them.

    Called in the cell right after the ``parameters`` cell, as
    ``P = rnpa.notebook_parameters(globals(), rules=..., defaults=..., quick=..., gpu=...)``;
    it writes the final values back into ``namespace`` (so the lesson uses
    ``EPOCHS``, not ``P["EPOCHS"]``) and prints one line (``profile quick:
    EPOCHS=1 (quick), ...``).

    **The profile.** ``PROFILE`` (a parameter whose literal default is ``"auto"``)
    picks it: ``"auto"`` takes ``RNPA_PROFILE`` (CI, nbval and a quick classroom
    check set ``RNPA_PROFILE=quick``), ``"full"`` when that is unset. A notebook
    without ``PROFILE`` takes ``RNPA_PROFILE``. ``PROFILE`` is written back
    resolved (``"full"`` or ``"quick"``).

    **An explicitly set parameter always wins.** A name is *explicit* when

    1. papermill injected it (``papermill -p``, ``python -m rnpa course run -p``,
       :func:`rnpa.course.run_sweep`): papermill puts the values in a cell after
       the parameters cell whose first line is ``# Parameters``, and the kernel's
       input history ``In`` holds that cell's source (:func:`injected_names`); or
    2. its value is no longer its default in ``defaults``: a learner edited the
       parameters cell by hand.

    A kernel cannot tell an edited cell from the shipped one by any other means
    (it sees values, not the notebook file), so ``defaults`` repeats the literal
    defaults of the names that a profile changes, and the tests check that they
    equal the parameters cell. A value typed by hand that equals its default is not
    told apart from it: to keep the default in the quick profile, set ``PROFILE``.
    The ``quick`` values apply in the quick profile, then the ``gpu`` values when
    TensorFlow finds a GPU (both profiles; a ``gpu`` value wins over a ``quick``
    one), each only to names that are not explicit.

    Parameters
    ----------
    namespace : dict
        ``globals()`` of the notebook.
    rules : dict of str to rule
        Every parameter of the parameters cell except ``PROFILE`` (which is always
        checked) -> what values it may take (:func:`make_rule`: ``"int >= 1"``,
        ``"None or int >= 16"``, ``"depth 6n+2"``, ``["pre", "post"]``,
        ``Rule(check, allowed)``). Their order is the printed order.
    defaults : dict, optional
        The parameters cell's literal value of every name in ``quick`` and ``gpu``.
    quick : dict, optional
        Values of the quick profile.
    gpu : dict, optional
        Values to use when a GPU is found.
    show : bool
        Print the line.

    Returns
    -------
    NotebookParameters

    Raises
    ------
    ValueError
        A parameter's value breaks its rule or ``PROFILE`` is unknown: one line that
        names the parameter and what is allowed (before the lesson runs anything).
        Also a name of ``quick``, ``gpu`` or ``defaults`` without a rule, a name of
        ``quick`` or ``gpu`` without a default, or a parameter missing from ``namespace``.
    TypeError
        ``namespace`` or the dicts are not dicts.
    """
    if not isinstance(namespace, MutableMapping):
        raise TypeError(
            f"namespace must be the notebook's globals() (a dict), got {type(namespace).__name__}"
        )
    rules = _mapping(rules, "rules")
    defaults, quick, on_gpu = (
        _mapping(defaults, "defaults"),
        _mapping(quick, "quick"),
        _mapping(gpu, "gpu"),
    )
    if "PROFILE" in rules:
        raise ValueError(
            "rules must not name PROFILE: it is always checked ('auto', 'full' or 'quick')"
        )
    checks = {name: make_rule(rule) for name, rule in rules.items()}
    for what, names in (("defaults", defaults), ("quick", quick), ("gpu", on_gpu)):
        unknown = [n for n in names if n not in checks]
        if unknown:
            raise ValueError(
                f"{what} names {', '.join(unknown)}, which rules does not name "
                f"(rules: {', '.join(checks)})"
            )
    undefaulted = [n for n in [*quick, *on_gpu] if n not in defaults]
    if undefaulted:
        raise ValueError(
            f"defaults must give the parameters cell's value of "
            f"{', '.join(dict.fromkeys(undefaulted))} (a profile changes them)"
        )
    missing = [n for n in checks if n not in namespace]
    if missing:
        raise ValueError(
            f"{', '.join(missing)} not defined: the parameters cell must assign every name of rules"
        )

    history = namespace.get("In", namespace.get("_ih"))
    injected = injected_names(history if isinstance(history, list) else None)
    explicit = {n for n in checks if n in injected}
    explicit |= {n for n in defaults if not _same(namespace[n], defaults[n])}

    if "PROFILE" in namespace:
        chosen = _resolve_profile(namespace["PROFILE"])
    else:
        chosen = _environment_profile()
    found_gpu = _gpu_count() > 0

    values = {n: namespace[n] for n in checks}
    changed: dict[str, str] = {}
    layers = ([("quick", quick)] if chosen == "quick" else []) + (
        [("GPU", on_gpu)] if found_gpu else []
    )
    for label, overrides in layers:
        for name, value in overrides.items():
            if name not in explicit:
                values[name] = value
                changed[name] = label
    for name, value in values.items():
        if not _passes(checks[name], value):
            where = f" (the {changed[name]} value)" if name in changed else ""
            raise ValueError(f"{name} must be {checks[name].allowed}, got {value!r}{where}")

    namespace.update(values)
    if "PROFILE" in namespace:
        namespace["PROFILE"] = chosen
    result = NotebookParameters(
        profile=chosen, gpu=found_gpu, values=values, explicit=frozenset(explicit), changed=changed
    )
    if show:
        print(result)
    return result


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (``True == 1`` and ``1 == 1.0`` are not the same here)."""
    return type(a) is type(b) and a == b


__all__ = [
    "PAPERMILL_COMMENT",
    "PROFILE_CHOICES",
    "NotebookInfo",
    "NotebookParameters",
    "Rule",
    "check_keras",
    "check_parameter",
    "injected_names",
    "make_rule",
    "notebook_parameters",
    "required_keras",
    "setup_notebook",
]
