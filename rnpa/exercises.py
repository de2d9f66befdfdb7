"""Check functions for the exercise notebooks, and the command that builds them.

Each exercise cell of ``notebooks/solutions/ex*.ipynb`` (and of the learner's
copy in ``notebooks/exercises/``) ends with one of the checks below. A check
builds the learner's answer on known inputs and compares it with rnpa's
reference *on behaviour*: output shapes, the order of the layers on the graph
(walked from the input to the output), parameter counts layer by layer, and the
outputs on the same weights (copied from the reference, layer type by layer
type). It prints ``correct: ...`` or the first difference it found, in words,
and returns ``True`` or ``False``, so an nbgrader test cell can
``assert check_...(answer)``.

A wrong answer never ends in a bare traceback: an answer that raises is
reported as ``your function raised X at line N`` with the learner's line. The
one exception is the stub of an exercise not done yet: its
``NotImplementedError`` (with its hint) is raised again, so that the cell (and
an nbgrader test cell) stops there, as an unanswered exercise should.

``python -m rnpa exercises build`` turns the solution notebooks into the
learner's notebooks with nbgrader's own ``ClearSolutions`` and ``ClearOutput``
preprocessors (``pip install nbgrader``): every ``### BEGIN SOLUTION`` ...
``### END SOLUTION`` region becomes a stub that raises ``NotImplementedError``
with the cell's ``# Hint:`` line.
"""

from __future__ import annotations

import json
import numbers
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnpa._files import write_atomic

# ----------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------


class _Finding(Exception):  # noqa: N818 (a finding about an answer, not an error)
    """The first difference between the learner's answer and the reference."""


def _report(ok: bool, message: str) -> bool:
    print(("correct: " if ok else "not yet: ") + message)
    return ok


def _library_dirs() -> list[str]:
    """Folders whose frames are not the learner's: rnpa, the standard library, site-packages."""
    dirs = {str(Path(__file__).resolve().parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(str(Path(path).resolve()))
    return sorted(dirs)


def _learner_frame(err: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of the traceback that is in the learner's code."""
    dirs = _library_dirs()
    frames = traceback.extract_tb(err.__traceback__)
    own = []
    for frame in frames:
        try:
            where = str(Path(frame.filename).resolve())
        except (OSError, ValueError):
            where = frame.filename
        if not any(where.startswith(d) for d in dirs):
            own.append(frame)
    return own[-1] if own else None


def _describe_error(err: BaseException, what: str) -> str:
    frame = _learner_frame(err)
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = text if len(text) <= 300 else text[:297] + "..."
    where = ""
    if frame is not None:
        where = f" at line {frame.lineno}"
        if frame.line:
            where += f" (`{frame.line.strip()}`)"
    return f"{what} raised {type(err).__name__}{where}" + (f": {text}" if text else "")


def _call(fn: Callable[..., Any], *args: Any, what: str = "your function") -> Any:
    """Call the learner's ``fn``; a stub's NotImplementedError passes, others become _Finding."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 (any error of the learner's code is reported)
        raise _Finding(_describe_error(err, what)) from None


def _check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise TypeError(
            f"{name} must be your function (the name defined by `def`, without calling it), "
            f"got {type(fn).__name__} {fn!r:.80}"
        )


def _run_check(body: Callable[[], str]) -> bool:
    """Run a check's body: its returned text means correct, _Finding means a difference."""
    try:
        message = body()
    except _Finding as wrong:
        return _report(False, str(wrong))
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 (an answer the check cannot take apart)
        return _report(
            False,
            _describe_error(err, "comparing your answer with rnpa's")
            + " (is it built from Keras layers, as the exercise asks?)",
        )
    return _report(True, message)


# ----------------------------------------------------------------------------
# the graph of a functional model, as a sequence of steps
# ----------------------------------------------------------------------------
_ORDINALS = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th")


def _ordinal(i: int, n: int) -> str:
    if i == n - 1 and n > 1:
        return "last"
    return _ORDINALS[i] if i < len(_ORDINALS) else f"{i + 1}th"


def _is_relu(fn: Any) -> bool:
    return getattr(fn, "__name__", "") == "relu"


def _step_kinds(op: Any) -> list[str]:
    """What one operation does, in the words of the lessons (several for a conv + activation)."""
    from keras import layers

    if isinstance(op, layers.InputLayer):
        return []
    if isinstance(op, layers.BatchNormalization):
        return ["BatchNormalization"]
    if isinstance(op, layers.ReLU) or type(op).__name__ == "Relu":
        return ["ReLU"]
    if isinstance(op, layers.Activation):
        if _is_relu(op.activation):
            return ["ReLU"]
        name = getattr(op.activation, "__name__", "")
        return [] if name in ("softmax", "linear") else [f"Activation({name})"]
    if isinstance(op, layers.Conv2D):
        steps = ["Conv2D"]
        act = getattr(op.activation, "__name__", "linear")
        if act == "relu":
            steps.append("ReLU")
        elif act != "linear":
            steps.append(f"Activation({act})")
        return steps
    if isinstance(op, layers.Dense):
        act = getattr(op.activation, "__name__", "linear")
        return ["Dense"] if act in ("softmax", "linear") else ["Dense", f"Activation({act})"]
    if isinstance(op, (layers.AveragePooling2D, layers.GlobalAveragePooling2D)):
        return ["AveragePooling"]
    if isinstance(op, (layers.Flatten, layers.Softmax)):
        return []
    if isinstance(op, layers.Add) or type(op).__name__ == "Add":
        return ["Add"]
    return [type(op).__name__]


class _Node:
    """One call of an operation on the graph: what it is, what it does, what feeds it."""

    def __init__(self, op: Any, inputs: list[_Node], output: Any) -> None:
        self.op = op
        self.inputs = inputs
        self.output = output
        self.kinds = _step_kinds(op)

    @property
    def name(self) -> str:
        return getattr(self.op, "name", type(self.op).__name__)


def _walk(output: Any) -> list[_Node]:
    """The nodes that compute ``output``, input first (a topological order, depth first)."""
    nodes: dict[tuple[int, int], _Node] = {}
    order: list[_Node] = []

    def visit(tensor: Any) -> _Node:
        op, node_index, _ = tensor._keras_history
        key = (id(op), node_index)
        if key in nodes:
            return nodes[key]
        inbound = op._inbound_nodes[node_index]
        parents = [visit(t) for t in inbound.input_tensors]
        node = _Node(op, parents, tensor)
        nodes[key] = node
        order.append(node)
        return node

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        visit(output)
    finally:
        sys.setrecursionlimit(limit)
    return order


def _steps(nodes: list[_Node]) -> list[tuple[str, _Node]]:
    return [(kind, node) for node in nodes for kind in node.kinds]


def _arrow(kinds: Sequence[str]) -> str:
    short = {"BatchNormalization": "BN", "Conv2D": "conv", "AveragePooling": "pool"}
    return " -> ".join(short.get(k, k) for k in kinds)


def _compare_steps(expected: list[str], found: list[str], what: str, hints: dict) -> None:
    """Raise _Finding at the first step where ``found`` differs from ``expected``.

    ``hints`` maps (step index or None, expected kind, found kind) to a message
    for the differences learners typically make; None matches any index.
    """
    for i, exp in enumerate(expected):
        got = found[i] if i < len(found) else None
        if got == exp:
            continue
        for key in ((i, exp, got), (None, exp, got)):
            if key in hints:
                raise _Finding(hints[key])
        if got is None:
            raise _Finding(
                f"{what} stops after {len(found)} steps ({_arrow(found)}); expected it to go on "
                f"with {_arrow(expected[i:])}"
            )
        raise _Finding(
            f"step {i + 1} of {what} is {got}, expected {exp}. Expected order: "
            f"{_arrow(expected)}; yours: {_arrow(found)}"
        )
    if len(found) > len(expected):
        extra = found[len(expected) :]
        key = (None, None, extra[0])
        if key in hints:
            raise _Finding(hints[key])
        raise _Finding(
            f"{what} has {len(extra)} step(s) too many at the end: {_arrow(extra)} "
            f"(expected {_arrow(expected)})"
        )


# ----------------------------------------------------------------------------
# layer by layer: convolutions, dense layers, weights, outputs
# ----------------------------------------------------------------------------
def _of_type(nodes: list[_Node], cls: type) -> list[Any]:
    seen: list[Any] = []
    for node in nodes:
        if isinstance(node.op, cls) and all(node.op is not s for s in seen):
            seen.append(node.op)
    return seen


def _compare_convs(ref_nodes: list[_Node], ans_nodes: list[_Node], what: str) -> None:
    from keras import layers

    refs = _of_type(ref_nodes, layers.Conv2D)
    answers = _of_type(ans_nodes, layers.Conv2D)
    if len(answers) != len(refs):
        raise _Finding(f"{what} has {len(answers)} convolutions, expected {len(refs)}")
    n = len(refs)
    for i, (ref, ans) in enumerate(zip(refs, answers, strict=True)):
        which = f"{_ordinal(i, n)} convolution"
        rk, ak = tuple(ref.kernel_size), tuple(ans.kernel_size)
        if rk != ak:
            raise _Finding(f"the {which} of {what} is {ak[0]}x{ak[1]}, expected {rk[0]}x{rk[1]}")
        label = f"the {_ordinal(i, n)} {rk[0]}x{rk[1]} conv"
        if ref.filters != ans.filters:
            raise _Finding(f"{label} has {ans.filters} filters, expected {ref.filters}")
        if tuple(ref.strides) != tuple(ans.strides):
            raise _Finding(
                f"{label} has strides {tuple(ans.strides)}, expected {tuple(ref.strides)}"
            )
        if rk != (1, 1) and ref.padding != ans.padding:
            raise _Finding(
                f"{label} uses padding={ans.padding!r}, expected {ref.padding!r} (which keeps "
                "the height and width, so that the shortcut can be added)"
            )
        rp, ap = ref.count_params(), ans.count_params()
        if rp != ap:
            hint = ""
            if ref.use_bias and not ans.use_bias:
                hint = ": did you forget the bias?"
            elif ans.use_bias and not ref.use_bias:
                hint = (
                    ": it has a bias it does not need (use_bias=False; "
                    "a BatchNormalization's beta does that job)"
                )
            raise _Finding(f"expected {rp:,} parameters in {label}, found {ap:,}{hint}")


def _compare_dense(ref_nodes: list[_Node], ans_nodes: list[_Node], what: str) -> None:
    from keras import layers

    refs = _of_type(ref_nodes, layers.Dense)
    answers = _of_type(ans_nodes, layers.Dense)
    if len(answers) != len(refs):
        raise _Finding(f"{what} has {len(answers)} dense layers, expected {len(refs)}")
    for ref, ans in zip(refs, answers, strict=True):
        if ref.count_params() != ans.count_params():
            features = int(ans.kernel.shape[0])
            raise _Finding(
                f"the dense layer of {what} has {ans.count_params():,} parameters, expected "
                f"{ref.count_params():,}: it sees {features:,} features, expected "
                f"{int(ref.kernel.shape[0]):,}"
            )


def _randomise(model: Any, seed: int = 0) -> None:
    """Give every weight of ``model`` a random value (BN statistics included), reproducibly."""
    from keras import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = int(layer.gamma.shape[0]) if layer.scale else int(layer.moving_mean.shape[0])
            values = {
                "gamma": rng.uniform(0.5, 1.5, n),
                "beta": rng.normal(0.0, 0.3, n),
                "moving_mean": rng.normal(0.0, 0.3, n),
                "moving_variance": rng.uniform(0.5, 1.5, n),
            }
            for w in layer.weights:
                key = w.path.split("/")[-1] if hasattr(w, "path") else w.name
                w.assign(values.get(key, rng.normal(0, 0.3, tuple(w.shape))).astype("float32"))
        else:
            for w in layer.weights:
                fan_in = int(np.prod(w.shape[:-1])) if len(w.shape) > 1 else 1
                w.assign(rng.normal(0.0, 1.0 / np.sqrt(fan_in), tuple(w.shape)).astype("float32"))


def _copy_weights(ref_nodes: list[_Node], ans_nodes: list[_Node], what: str) -> None:
    """Copy the reference's weights into the answer, layer type by layer type in graph order."""
    from keras import layers

    for cls, name in (
        (layers.Conv2D, "convolution"),
        (layers.BatchNormalization, "BatchNormalization"),
        (layers.Dense, "dense layer"),
    ):
        refs, answers = _of_type(ref_nodes, cls), _of_type(ans_nodes, cls)
        if len(refs) != len(answers):
            raise _Finding(f"{what} has {len(answers)} {name} layers, expected {len(refs)}")
        for i, (ref, ans) in enumerate(zip(refs, answers, strict=True)):
            rw, aw = ref.get_weights(), ans.get_weights()
            if [w.shape for w in rw] != [w.shape for w in aw]:
                raise _Finding(
                    f"the {_ordinal(i, len(refs))} {name} of {what} has weights of shapes "
                    f"{[w.shape for w in aw]}, expected {[w.shape for w in rw]}"
                )
            ans.set_weights(rw)


def _compare_outputs(reference: Any, answer: Any, x: np.ndarray, what: str) -> None:
    ref_out = np.asarray(reference(x, training=False))
    ans_out = np.asarray(answer(x, training=False))
    if ref_out.shape != ans_out.shape:
        raise _Finding(f"{what} returns shape {ans_out.shape[1:]}, expected {ref_out.shape[1:]}")
    diff = float(np.max(np.abs(ref_out - ans_out)))
    scale = float(np.max(np.abs(ref_out))) or 1.0
    if not np.isfinite(diff) or diff > 1e-4 * max(1.0, scale):
        raise _Finding(
            f"{what} has the right layers in the right order, but with the same weights it "
            f"computes something else (largest difference {diff:.3g}): check what each "
            "layer is applied to"
        )


def _model(inputs: Any, output: Any, what: str) -> Any:
    import keras

    if not isinstance(output, keras.KerasTensor):
        raise _Finding(
            f"{what} returned {type(output).__name__}, expected a Keras tensor (the output of "
            "the last layer you applied, e.g. `return h`)"
        )
    try:
        return keras.Model(inputs, output)
    except Exception as err:  # noqa: BLE001
        raise _Finding(
            f"{what}'s output is not computed from its input x alone "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]})"
        ) from None


# ----------------------------------------------------------------------------
# units (exercises 1, 2, 6, 7)
# ----------------------------------------------------------------------------
#: the inputs every unit check builds the answer on: (input shape, filters)
UNIT_CASES: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((16, 16, 128), (32, 32, 128)),
    ((8, 8, 32), (8, 8, 32)),
)


def _check_unit(
    fn: Callable[[Any, Sequence[int]], Any],
    reference: Callable[[Any, Sequence[int]], Any],
    unit_name: str,
    hints: dict,
    shortcut: bool = True,
) -> str:

    for case, (shape, filters) in enumerate(UNIT_CASES):
        try:
            _check_unit_case(fn, reference, hints, shortcut, case, shape, filters)
        except _Finding as wrong:
            if case == 0:
                raise
            first_shape, first_filters = UNIT_CASES[0]
            raise _Finding(
                f"your unit works for filters={list(first_filters)} on a {first_shape} input, "
                f"but not for filters={list(filters)} on a {shape} input (use the arguments, "
                f"not fixed numbers): {wrong}"
            ) from None
    ref = _unit_reference_model(reference, UNIT_CASES[0])
    expected = [k for k, _ in _steps(_walk(ref.output))]
    return (
        f"your {unit_name} matches rnpa's layer by layer ({_arrow(expected)}), with "
        f"{ref.count_params():,} parameters for filters={list(UNIT_CASES[0][1])} and the same "
        "outputs on the same weights"
    )


def _unit_reference_model(reference: Callable[[Any, Sequence[int]], Any], case: tuple) -> Any:
    import keras

    shape, filters = case
    ref_inputs = keras.Input(shape=shape)
    return keras.Model(ref_inputs, reference(ref_inputs, list(filters)))


def _check_unit_case(
    fn: Callable[[Any, Sequence[int]], Any],
    reference: Callable[[Any, Sequence[int]], Any],
    hints: dict,
    shortcut: bool,
    case: int,
    shape: tuple,
    filters: tuple,
) -> None:
    import keras

    what = "your unit"
    inputs = keras.Input(shape=shape)
    out = _call(fn, inputs, list(filters))
    answer = _model(inputs, out, what)
    ref = _unit_reference_model(reference, (shape, filters))
    if tuple(answer.output.shape[1:]) != tuple(ref.output.shape[1:]):
        valid = [
            c
            for c in _of_type(_walk(answer.output), keras.layers.Conv2D)
            if c.padding == "valid" and tuple(c.kernel_size) != (1, 1)
        ]
        raise _Finding(
            f"for an input of shape {shape} and filters={list(filters)}, your unit's output "
            f"has shape {tuple(answer.output.shape[1:])}, expected "
            f"{tuple(ref.output.shape[1:])}"
            + (
                ": your 3x3 convolution has padding='valid', which shrinks the map; "
                "use padding='same'"
                if valid
                else ""
            )
        )
    ans_nodes, ref_nodes = _walk(answer.output), _walk(ref.output)
    expected = [k for k, _ in _steps(ref_nodes)]
    found_steps = _steps(ans_nodes)
    _compare_steps(expected, [k for k, _ in found_steps], what, hints)
    if shortcut:
        adds = [n for k, n in found_steps if k == "Add"]
        x_node = ans_nodes[0]
        for add in adds:
            if all(p is not x_node for p in add.inputs):
                others = " and ".join(
                    f"the output of {(p.kinds or [type(p.op).__name__])[-1]} ({p.name})"
                    for p in add.inputs
                )
                raise _Finding(
                    f"your addition adds {others}, not the unit's input x: the identity "
                    "shortcut must carry x itself, untouched"
                )
    _compare_convs(ref_nodes, ans_nodes, what)
    if answer.count_params() != ref.count_params():
        raise _Finding(
            f"your unit has {answer.count_params():,} parameters, expected {ref.count_params():,}"
        )
    _randomise(ref, seed=case)
    _copy_weights(ref_nodes, ans_nodes, what)
    x = np.random.default_rng(10 + case).normal(size=(2, *shape)).astype("float32")
    _compare_outputs(ref, answer, x, what)


def _preact_reference(x: Any, filters: Sequence[int]) -> Any:
    from rnpa.blocks import residual_block

    return residual_block(x, filters, stage=2)


def _post_reference(x: Any, filters: Sequence[int]) -> Any:
    from rnpa.blocks import residual_unit

    return residual_unit(x, filters, "ref", kind="bottleneck", order="post")


def _relu_before_add_reference(x: Any, filters: Sequence[int]) -> Any:
    from rnpa.blocks import residual_unit

    return residual_unit(x, filters, "ref", kind="bottleneck", order="relu_before_add")


def _plain_reference(x: Any, filters: Sequence[int]) -> Any:
    from rnpa.blocks import residual_block

    return residual_block(x, filters, stage=2, use_shortcuts=False)


_BN, _RELU, _CONV, _ADD = "BatchNormalization", "ReLU", "Conv2D", "Add"

_PREACT_HINTS = {
    (None, _BN, _RELU): "your unit applies ReLU before BatchNormalization: pre-activation is "
    "BN, then ReLU, then the convolution (He et al. 2016, Fig. 4(e))",
    (0, _BN, _CONV): "your unit starts with a convolution: a pre-activation unit starts with "
    "BatchNormalization and ReLU, before its first convolution (He et al. 2016, Fig. 4(e))",
    (None, _RELU, _CONV): "your unit has a BatchNormalization without the ReLU after it, before "
    "a convolution: every convolution is preceded by BN-ReLU",
    (None, _ADD, None): "your unit has no addition: the identity shortcut x + F(x) is missing",
    (None, None, _RELU): "your unit applies a ReLU after the addition: that is the original "
    "unit; a pre-activation unit ends with the addition, nothing after it",
    (None, None, _BN): "your unit applies BatchNormalization after the addition: a "
    "pre-activation unit ends with the addition, nothing after it",
}

_POST_HINTS = {
    (0, _CONV, _BN): "your unit starts with BatchNormalization: that is the pre-activation "
    "order; the original unit starts with a convolution (conv-BN-ReLU, He et al. 2015, Fig. 5)",
    (None, _BN, _RELU): "your unit applies ReLU before BatchNormalization: the original unit "
    "is conv, then BN, then ReLU",
    (8, _ADD, _RELU): "your unit applies a ReLU before the addition, at the end of the branch: "
    "that is 'ReLU before addition' (He et al. 2016, Fig. 4(c)); the original unit adds first "
    "and applies the ReLU after the addition",
    (9, _RELU, None): "your unit ends with the addition: the original unit applies a ReLU "
    "after the addition, x_{l+1} = ReLU(x_l + F(x_l)) (He et al. 2015, Eq. 1 and Fig. 2)",
    (None, _ADD, None): "your unit has no addition: the shortcut x + F(x) is missing",
}

_RELU_BEFORE_ADD_HINTS = {
    (0, _CONV, _BN): "your unit starts with BatchNormalization: 'ReLU before addition' keeps "
    "the original order (conv-BN-ReLU) and only moves the last ReLU (He et al. 2016, Fig. 4(c))",
    (8, _RELU, _ADD): "your unit adds before the last ReLU: in 'ReLU before addition' (He et al. "
    "2016, Fig. 4(c)) the ReLU moves from after the addition to the end of the branch, before "
    "the addition",
    (None, None, _RELU): "your unit applies a ReLU after the addition as well: in 'ReLU before "
    "addition' the only ReLU near the addition is the one before it, on the branch",
    (None, _BN, _RELU): "your unit applies ReLU before BatchNormalization: each convolution is "
    "followed by BN, then ReLU",
    (None, _ADD, None): "your unit has no addition: the shortcut x + F(x) is missing",
}

_PLAIN_HINTS = {
    (None, None, _ADD): "your unit still adds the shortcut: a plain unit is the same layers "
    "without the addition",
    (None, _BN, _RELU): "your unit applies ReLU before BatchNormalization: keep the "
    "pre-activation order BN-ReLU-conv",
    (0, _BN, _CONV): "your unit starts with a convolution: keep the pre-activation order, "
    "BN-ReLU before every convolution",
}


def check_preact_unit(fn: Callable[[Any, Sequence[int]], Any]) -> bool:
    """Exercise 1: ``fn(x, filters)`` is the course's pre-activation bottleneck unit.

    The reference is :func:`rnpa.residual_block` for a unit after the first one:
    BN-ReLU-1x1 conv, BN-ReLU-3x3 conv, BN-ReLU-1x1 conv (with bias, as in the 2017
    network), then the addition of the input ``x``. Checked on a 16x16x128 input
    with filters [32, 32, 128] and on an 8x8x32 input with [8, 8, 32].

    Returns
    -------
    bool
        True when the answer matches (a line saying so is printed either way).
    """
    _check_callable(fn, "fn")
    return _run_check(
        lambda: _check_unit(fn, _preact_reference, "pre-activation unit", _PREACT_HINTS)
    )


def check_original_unit(fn: Callable[[Any, Sequence[int]], Any]) -> bool:
    """Exercise 2: ``fn(x, filters)`` is the original (post-activation) bottleneck unit.

    1x1 conv-BN-ReLU, 3x3 conv-BN-ReLU, 1x1 conv-BN, add ``x``, ReLU (He et al.
    2015, Fig. 5 right); convolutions without bias; reference
    ``rnpa.residual_unit(..., order="post")``.
    """
    _check_callable(fn, "fn")
    return _run_check(lambda: _check_unit(fn, _post_reference, "original unit", _POST_HINTS))


def check_relu_before_add_unit(fn: Callable[[Any, Sequence[int]], Any]) -> bool:
    """Exercise 6: ``fn(x, filters)`` is the "ReLU before addition" bottleneck unit.

    conv-BN-ReLU three times, then add ``x``, nothing after (He et al. 2016,
    Fig. 4(c)); convolutions without bias; reference
    ``rnpa.residual_unit(..., order="relu_before_add")``.
    """
    _check_callable(fn, "fn")
    return _run_check(
        lambda: _check_unit(
            fn, _relu_before_add_reference, "'ReLU before addition' unit", _RELU_BEFORE_ADD_HINTS
        )
    )


def check_plain_unit(fn: Callable[[Any, Sequence[int]], Any]) -> bool:
    """Exercise 7: ``fn(x, filters)`` is the pre-activation unit without its shortcut.

    The layers of :func:`check_preact_unit`'s unit, no addition; reference
    ``rnpa.residual_block(..., use_shortcuts=False)``.
    """
    _check_callable(fn, "fn")
    return _run_check(
        lambda: _check_unit(fn, _plain_reference, "plain unit", _PLAIN_HINTS, shortcut=False)
    )


# ----------------------------------------------------------------------------
# counting (exercise 3)
# ----------------------------------------------------------------------------
#: (c_in, c_mid, c_out, height, width): the course's unit, the ImageNet unit of
#: He et al. 2015 (Fig. 5 right, conv2_x at 56x56), and a small one
COUNT_CASES: tuple[tuple[int, int, int, int, int], ...] = (
    (128, 32, 128, 16, 16),
    (256, 64, 256, 56, 56),
    (64, 16, 64, 8, 8),
)


def _conv_weights(c_in: int, c_mid: int, c_out: int) -> int:
    return c_in * c_mid + 9 * c_mid * c_mid + c_mid * c_out


def _reference_unit_params(c_in: int, c_mid: int, c_out: int) -> int:
    """Parameters of rnpa.preact_bottleneck, counted by Keras on a built unit."""
    import keras

    from rnpa.blocks import preact_bottleneck

    x = keras.Input(shape=(8, 8, c_in))
    return keras.Model(x, preact_bottleneck(x, [c_mid, c_mid, c_out], "ref")).count_params()


def _as_count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _Finding(f"{what} returned {type(value).__name__} {value!r:.60}, expected a number")
    if float(value) != int(value):
        raise _Finding(f"{what} returned {value!r}, expected a whole number")
    return int(value)


def check_unit_params(fn: Callable[[int, int, int], int]) -> bool:
    """Exercise 3a: ``fn(c_in, c_mid, c_out)`` counts a pre-activation bottleneck unit's parameters.

    The unit of ``rnpa.preact_bottleneck`` (BN-ReLU-conv three times, convolutions
    without bias, identity shortcut): the weights of the three convolutions plus 4
    numbers per channel of each of the three BatchNormalization layers (gamma,
    beta, moving mean, moving variance; Keras counts all four). The reference is
    Keras' count on a built unit.
    """
    _check_callable(fn, "fn")

    def body() -> str:
        for c_in, c_mid, c_out, _, _ in COUNT_CASES:
            what = f"your function for c_in={c_in}, c_mid={c_mid}, c_out={c_out}"
            got = _as_count(_call(fn, c_in, c_mid, c_out), what)
            expected = _reference_unit_params(c_in, c_mid, c_out)
            if got == expected:
                continue
            conv = _conv_weights(c_in, c_mid, c_out)
            bn_channels = c_in + 2 * c_mid
            candidates = {
                conv: "you counted the convolutions only: add the three BatchNormalization "
                "layers, 4 numbers per channel (gamma, beta, moving mean, moving variance) on "
                f"{c_in} + {c_mid} + {c_mid} channels",
                conv + 2 * bn_channels: "you counted 2 numbers per BatchNormalization channel "
                "(gamma, beta); Keras also counts the moving mean and variance, not trained: 4",
                expected - 8 * c_mid * c_mid: "you counted the 3x3 convolution like a 1x1: it has "
                "3 x 3 = 9 weights for every pair of input and output channels",
                expected + 2 * c_mid + c_out: "you counted a bias in every convolution: this "
                "unit's convolutions have none (BN follows them, or, for the last one, the "
                "addition; rnpa.preact_bottleneck has no bias)",
                conv + 4 * (2 * c_mid + c_out): "you put the BatchNormalization layers after the "
                "convolutions (on c_mid, c_mid, c_out channels): in a pre-activation unit they "
                "come before them, on c_in, c_mid, c_mid channels",
            }
            hint = candidates.get(got, "")
            raise _Finding(
                f"for c_in={c_in}, c_mid={c_mid}, c_out={c_out} expected {expected:,} "
                f"parameters, found {got:,}" + (f": {hint}" if hint else "")
            )
        c_in, c_mid, c_out = COUNT_CASES[1][:3]
        return (
            f"e.g. {_reference_unit_params(*COUNT_CASES[0][:3]):,} parameters for 128-32-32-128 "
            f"and {_reference_unit_params(c_in, c_mid, c_out):,} for the ImageNet unit "
            f"256-64-64-256 ({_conv_weights(c_in, c_mid, c_out):,} of them in its convolutions)"
        )

    return _run_check(body)


def check_unit_macs(fn: Callable[[int, int, int, int, int], int]) -> bool:
    """Exercise 3b: ``fn(c_in, c_mid, c_out, height, width)`` counts a unit's multiply-adds.

    The multiply-adds of the three convolutions of a bottleneck unit for one image
    with ``height`` x ``width`` feature maps (stride 1, "same" padding): each
    weight is used once at every output position. BN, ReLU and the addition are
    not counted. The ResNet papers call this number FLOPs (He et al. 2015, Sec. 3.3:
    "3.6 billion FLOPs (multiply-adds)"). The reference is
    :func:`rnpa.analysis.unit_costs` on a built unit.
    """
    _check_callable(fn, "fn")

    def reference(c_in: int, c_mid: int, c_out: int, h: int, w: int) -> int:
        import keras

        from rnpa.analysis import unit_costs
        from rnpa.blocks import preact_bottleneck

        x = keras.Input(shape=(h, w, c_in))
        model = keras.Model(x, preact_bottleneck(x, [c_mid, c_mid, c_out], 7))
        return sum(c.macs for c in unit_costs(model).values())

    def body() -> str:
        for c_in, c_mid, c_out, h, w in COUNT_CASES:
            what = f"your function for c_in={c_in}, c_mid={c_mid}, c_out={c_out}, {h}x{w}"
            got = _as_count(_call(fn, c_in, c_mid, c_out, h, w), what)
            expected = reference(c_in, c_mid, c_out, h, w)
            if got == expected:
                continue
            weights = _conv_weights(c_in, c_mid, c_out)
            candidates = {
                2 * expected: "that is twice the multiply-adds: you counted the multiplication "
                "and the addition separately; the ResNet papers count one multiply-add as one "
                "FLOP (He et al. 2015, Sec. 3.3: '3.6 billion FLOPs (multiply-adds)')",
                weights: "that is the number of weights: every weight is used once at each of "
                f"the {h} x {w} output positions",
                h * w * (c_in * c_mid + c_mid * c_mid + c_mid * c_out): "you counted the 3x3 "
                "convolution like a 1x1: it does 9 multiply-adds per pair of channels at each "
                "position",
                expected + h * w * (2 * c_mid + c_out): "you counted the biases too: these "
                "convolutions have none",
            }
            hint = candidates.get(got, "")
            raise _Finding(
                f"for c_in={c_in}, c_mid={c_mid}, c_out={c_out} on {h}x{w} maps expected "
                f"{expected:,} multiply-adds, found {got:,}" + (f": {hint}" if hint else "")
            )
        c_in, c_mid, c_out, h, w = COUNT_CASES[1]
        return (
            f"e.g. the ImageNet unit 256-64-64-256 on 56x56 maps does "
            f"{reference(c_in, c_mid, c_out, h, w):,} multiply-adds per image "
            f"({_conv_weights(c_in, c_mid, c_out):,} weights x {h * w:,} positions)"
        )

    return _run_check(body)


# ----------------------------------------------------------------------------
# the network (exercises 4 and 5)
# ----------------------------------------------------------------------------
def _network_hints(ref_nodes: list[_Node]) -> dict:
    """Messages keyed on the position of the reference's named layers."""
    steps = _steps(ref_nodes)
    where = {node.name: i for i, (_, node) in enumerate(steps)}
    hints: dict = {}
    if "conv1a" in where:
        hints[(where["conv1a"], _CONV, _BN)] = (
            "your unit 1 starts with its own BN-ReLU: in the 2017 network it has none, the stem's "
            "bn0-relu0 is its pre-activation (He et al. 2016, Sec. 4.1; rnpa.residual_block "
            "with stage=1 leaves it out)"
        )
    if "bnF" in where:
        hints[(where["bnF"], _BN, "AveragePooling")] = (
            "your network pools right after the last unit: the last unit ends with an addition, "
            "so the head needs BN-ReLU (bnF, reluF) before the pooling (He et al. 2016, Sec. 4.1)"
        )
        hints[(where["bnF"], _BN, _RELU)] = (
            "your head applies ReLU without BatchNormalization before it (bnF then reluF)"
        )
    if "bn0" in where:
        hints[(where["bn0"], _BN, _CONV)] = (
            "your stem has no BN-ReLU after conv0: the stem is conv0-bn0-relu0"
        )
    return hints


def _check_network_case(
    fn: Callable[..., Any], args: tuple, reference: Any, what: str, seed: int
) -> None:
    import keras

    model = _call(fn, *args)
    if not isinstance(model, keras.Model):
        raise _Finding(f"{what} returned {type(model).__name__}, expected a keras.Model")
    ref_in = tuple(reference.input.shape[1:])
    try:
        ans_in = tuple(model.input.shape[1:])
    except (AttributeError, ValueError):
        raise _Finding(f"{what} returned a model without one input") from None
    if ans_in != ref_in:
        raise _Finding(f"{what} returned a model for inputs of shape {ans_in}, expected {ref_in}")
    ans_out, ref_out = tuple(model.output.shape[1:]), tuple(reference.output.shape[1:])
    if ans_out != ref_out:
        raise _Finding(
            f"{what} returned a model with outputs of shape {ans_out}, expected {ref_out} "
            f"({ref_out[-1]} classes)"
        )
    ans_nodes, ref_nodes = _walk(model.output), _walk(reference.output)
    expected = [k for k, _ in _steps(ref_nodes)]
    found = [k for k, _ in _steps(ans_nodes)]
    n_units = expected.count(_ADD)
    if n_units and not found.count(_ADD):
        raise _Finding(f"{what} has no additions: are the shortcuts missing?")
    if found.count(_ADD) != n_units:
        raise _Finding(f"{what} has {found.count(_ADD)} units (additions), expected {n_units}")
    _compare_steps(expected, found, what, _network_hints(ref_nodes))
    pools = _of_type(ans_nodes, keras.layers.AveragePooling2D)
    for pool in pools:
        shape = tuple(pool.output.shape[1:3])
        if shape != (1, 1):
            raise _Finding(
                f"for {ref_in[0]}x{ref_in[1]} inputs the pooling of {what} leaves a "
                f"{shape[0]}x{shape[1]} map: pool over the whole feature map (its size is "
                "x.shape[1:3], or use GlobalAveragePooling2D)"
            )
    _compare_convs(ref_nodes, ans_nodes, what)
    stem = _of_type(ans_nodes, keras.layers.Conv2D)[0]
    ref_stem = _of_type(ref_nodes, keras.layers.Conv2D)[0]
    if tuple(stem.output.shape[1:]) != tuple(ref_stem.output.shape[1:]):
        raise _Finding(
            f"the stem of {what} gives {tuple(stem.output.shape[1:])}, expected "
            f"{tuple(ref_stem.output.shape[1:])}"
        )
    _compare_dense(ref_nodes, ans_nodes, what)
    if model.count_params() != reference.count_params():
        diff = model.count_params() - reference.count_params()
        raise _Finding(
            f"{what} has {model.count_params():,} parameters, expected "
            f"{reference.count_params():,} ({abs(diff):,} {'more' if diff > 0 else 'fewer'})"
        )
    _randomise(reference, seed=seed)
    _copy_weights(ref_nodes, ans_nodes, what)
    x = np.random.default_rng(seed).normal(size=(2, *ref_in)).astype("float32")
    _compare_outputs(reference, model, x, what)


def check_network(fn: Callable[[], Any]) -> bool:
    """Exercise 4: ``fn()`` returns the 2017 network, ``rnpa.ResNetPreAct()``.

    32x32x3 inputs, 5 classes, 5 units; 96,133 parameters. Compared with the
    reference step by step (stem, units, head), convolution by convolution, and on
    the same weights.
    """
    _check_callable(fn, "fn")

    def body() -> str:
        from rnpa.models import ResNetPreAct

        reference = ResNetPreAct()
        _check_network_case(fn, (), reference, "your network", seed=0)
        return (
            f"your network is rnpa.ResNetPreAct(): {reference.count_params():,} parameters, "
            "the same layers in the same order and the same predictions on the same weights"
        )

    return _run_check(body)


#: (input_shape, num_classes, num_stages) the flexible network is built for
NETWORK_CASES: tuple[tuple[tuple[int, int, int], int, int], ...] = (
    ((64, 64, 3), 10, 6),
    ((32, 32, 3), 5, 5),
    ((40, 48, 1), 3, 2),
)


def check_flexible_network(fn: Callable[[tuple, int, int], Any]) -> bool:
    """Exercise 5a: ``fn(input_shape, num_classes, num_stages)`` builds the 2017 network for them.

    Compared with ``rnpa.ResNetPreAct(input_shape, nb_classes=num_classes,
    num_stages=num_stages)`` for 64x64x3 / 10 classes / 6 units, the defaults, and
    40x48x1 / 3 classes / 2 units.
    """
    _check_callable(fn, "fn")

    def body() -> str:
        from rnpa.models import ResNetPreAct

        for i, (shape, classes, stages) in enumerate(NETWORK_CASES):
            reference = ResNetPreAct(input_shape=shape, nb_classes=classes, num_stages=stages)
            what = (
                f"your network for input_shape={shape}, num_classes={classes}, num_stages={stages}"
            )
            _check_network_case(fn, (shape, classes, stages), reference, what, seed=i)
        return (
            "your network matches rnpa.ResNetPreAct for every size, number of classes and "
            "number of units tried ("
            + "; ".join(
                f"{s[0]}x{s[1]}x{s[2]}, {c} classes, {n} units" for s, c, n in NETWORK_CASES
            )
            + ")"
        )

    return _run_check(body)


def check_params_by_hand(fn: Callable[[int], int]) -> bool:
    """Exercise 5b: ``fn(num_stages)`` counts ``rnpa.ResNetPreAct(num_stages=...)``'s parameters.

    For 1 to 8 units; the reference is Keras' count of each built network.
    """
    _check_callable(fn, "fn")

    def body() -> str:
        from rnpa.models import ResNetPreAct

        counts = {n: ResNetPreAct(num_stages=n).count_params() for n in range(1, 9)}
        answers = {n: _as_count(_call(fn, n), f"your function for num_stages={n}") for n in counts}
        wrong = [n for n in counts if answers[n] != counts[n]]
        if wrong:
            n = wrong[0]
            per_unit = counts[2] - counts[1]
            steps = {answers[k] - answers[k - 1] for k in range(2, 9)}
            hint = ""
            if len(steps) == 1 and per_unit not in steps:
                hint = (
                    f": each unit after the first adds {per_unit:,} parameters, your count "
                    f"adds {steps.pop():,}"
                )
            elif wrong == [1] and answers[1] - counts[1] == 512:
                hint = (
                    ": unit 1 has 512 fewer parameters than the others (it has no bn1a, "
                    "whose 128 channels hold 4 numbers each)"
                )
            raise _Finding(
                f"for num_stages={n} expected {counts[n]:,} parameters, found {answers[n]:,}" + hint
            )
        return (
            f"e.g. num_stages=6 has {counts[6]:,} parameters, "
            f"{counts[6] - counts[5]:,} more than the default 5"
        )

    return _run_check(body)


# ----------------------------------------------------------------------------
# experiments (exercises 6 and 8)
# ----------------------------------------------------------------------------
def stack_units(
    unit: Callable[[Any, Sequence[int]], Any],
    num_units: int,
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 5,
) -> Any:
    """The 2017 network with ``num_units`` of ``unit`` in place of its units.

    conv0-bn0-relu0 (128 filters, 3x3, stride 2), ``unit(x, [32, 32, 128])``
    ``num_units`` times, then bnF-reluF, global average pooling and a softmax
    layer: the frame of ``rnpa.ResNetPreAct`` around any unit, for the
    experiments of the exercise notebooks. (Every unit, the first one included,
    is ``unit``: the frame does not know whether it pre-activates.)
    """
    import keras
    from keras import layers

    from rnpa.blocks import check_positive_int
    from rnpa.layers import BatchNormalization
    from rnpa.models import check_input_shape

    if not callable(unit):
        raise TypeError(f"unit must be a function unit(x, filters), got {unit!r}")
    num_units = check_positive_int(num_units, "num_units", minimum=0)
    input_shape = check_input_shape(input_shape)
    num_classes = check_positive_int(num_classes, "num_classes", minimum=2)
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(128, 3, strides=2, padding="same", use_bias=False, name="conv0")(inputs)
    x = layers.Activation("relu", name="relu0")(BatchNormalization(name="bn0")(x))
    for _ in range(num_units):
        x = unit(x, [32, 32, 128])
    x = layers.Activation("relu", name="reluF")(BatchNormalization(name="bnF")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"stack{num_units}")


_RECIPE_RESULTS: dict[tuple, dict] = {}


def train_recipe(
    recipe: Any, epochs: int, steps_per_epoch: int | None = None, seed: int = 0, num_stages: int = 5
) -> dict:
    """Train ``rnpa.ResNetPreAct(reg=recipe.reg, num_stages=...)`` on flowers32; cached.

    Returns ``{"val_accuracy": [...], "best": float, "seconds": float}``. The same
    arguments give the cached result without training again (the exercise cell
    and its nbgrader test cell both ask).
    """
    import time

    import keras

    from rnpa.models import ResNetPreAct
    from rnpa.train import fit

    key = (repr(recipe), epochs, steps_per_epoch, seed, num_stages)
    if key not in _RECIPE_RESULTS:
        start = time.perf_counter()
        keras.backend.clear_session()
        model = ResNetPreAct(reg=recipe.reg, num_stages=num_stages)
        history = fit(
            model,
            "flowers32",
            recipe,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            seed=seed,
            verbose=0,
        )
        val = [float(v) for v in history.history["val_accuracy"]]
        _RECIPE_RESULTS[key] = {
            "val_accuracy": val,
            "best": max(val),
            "seconds": time.perf_counter() - start,
        }
    return _RECIPE_RESULTS[key]


def check_recipe(
    fn: Callable[[], Any],
    epochs: int,
    target: float,
    steps_per_epoch: int | None = None,
    seed: int = 0,
    num_stages: int = 5,
) -> bool:
    """Exercise 8: the recipe ``fn()`` reaches ``target`` validation accuracy within ``epochs``.

    Trains ``rnpa.ResNetPreAct(reg=recipe.reg, num_stages=num_stages)`` on
    flowers32 for the recipe's epochs (at most ``epochs``; of ``steps_per_epoch``
    batches each, default a pass over the training split) and compares the best
    validation accuracy of the epochs with ``target`` (a fraction, e.g. 0.6). The
    quick profile of the exercise uses tiny settings (``num_stages=1``, a few
    steps) and a lower target.
    """
    from rnpa.blocks import check_positive_int
    from rnpa.train import RECIPES, Recipe

    _check_callable(fn, "fn")
    epochs = check_positive_int(epochs, "epochs")
    if steps_per_epoch is not None:
        steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
    num_stages = check_positive_int(num_stages, "num_stages")
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < target < 1:
        raise ValueError(f"target must be an accuracy between 0 and 1 (e.g. 0.6), got {target!r}")

    def body() -> str:
        recipe = _call(fn)
        if isinstance(recipe, str):
            if recipe not in RECIPES:
                raise _Finding(
                    f"your function returned {recipe!r}, which is not a recipe name "
                    f"({', '.join(RECIPES)}); return rnpa.get_recipe(...)"
                )
            recipe = RECIPES[recipe]
        if not isinstance(recipe, Recipe):
            raise _Finding(
                f"your function returned {type(recipe).__name__}, expected a recipe: "
                "return rnpa.get_recipe('original', ...) with your changes"
            )
        if recipe.epochs > epochs:
            raise _Finding(
                f"your recipe trains {recipe.epochs} epochs; the budget is {epochs}: set "
                f"epochs={epochs} or fewer"
            )
        if recipe.replace(epochs=RECIPES["original"].epochs) == RECIPES["original"]:
            raise _Finding(
                "that is the `original` recipe unchanged (but for its length): it does not reach "
                f"{target:.0%} in {epochs} epochs; change how it trains"
            )
        result = train_recipe(recipe, recipe.epochs, steps_per_epoch, seed, num_stages)
        curve = ", ".join(f"{v:.1%}" for v in result["val_accuracy"])
        if result["best"] < target:
            raise _Finding(
                f"your recipe reached {result['best']:.1%} validation accuracy at best in "
                f"{recipe.epochs} epochs (per epoch: {curve}), below the target {target:.0%}. "
                "Which change lets the network learn faster: the optimizer, the learning rate, "
                "the schedule, the batch size?"
            )
        return (
            f"your recipe reached {result['best']:.1%} validation accuracy within "
            f"{recipe.epochs} epochs (target {target:.0%}; per epoch: {curve}; "
            f"{result['seconds']:.0f} s)"
        )

    return _run_check(body)


# ----------------------------------------------------------------------------
# building the learner's notebooks: python -m rnpa exercises build
# ----------------------------------------------------------------------------
#: the stub of a solution region; {hint} is the cell's "# Hint:" line
STUB = '# YOUR CODE HERE\nraise NotImplementedError("{hint}")'
DEFAULT_HINT = "write your answer here (replace this line), then run the cell"
SOLUTIONS_DIR = Path("notebooks") / "solutions"
EXERCISES_DIR = Path("notebooks") / "exercises"


def _hint(source: str) -> str:
    for line in source.splitlines():
        text = line.strip()
        if text.lower().startswith("# hint:"):
            hint = text[len("# hint:") :].strip()
            return hint.replace("\\", "\\\\").replace('"', '\\"') or DEFAULT_HINT
    return DEFAULT_HINT


def _nbgrader_preprocessors() -> tuple[Any, Any]:
    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions
    except ImportError as err:
        raise RuntimeError(
            "python -m rnpa exercises build needs nbgrader (its ClearSolutions preprocessor "
            "turns the solutions into stubs): pip install nbgrader, or pip install -e '.[teach]'"
        ) from err
    return ClearSolutions, ClearOutput


def exercise_notebook(solution: dict) -> dict:
    """The learner's notebook made from a solution notebook (a dict in nbformat 4).

    Each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes
    ``raise NotImplementedError("<hint>")`` (nbgrader's ``ClearSolutions``, its
    ``code_stub`` set from the cell's ``# Hint:`` line), written answers become
    "YOUR ANSWER HERE", outputs and execution counts are cleared (nbgrader's
    ``ClearOutput``) and the Colab badge points to ``notebooks/exercises/``.
    """
    import nbformat

    clear_solutions, clear_output = _nbgrader_preprocessors()
    nb = nbformat.from_dict(json.loads(json.dumps(solution)))
    for cell in nb.cells:
        if isinstance(cell.source, list):
            cell.source = "".join(cell.source)
    resources: dict[str, Any] = {"language": "python"}
    for i, cell in enumerate(nb.cells):
        stub = STUB.format(hint=_hint(cell.source))
        pre = clear_solutions(code_stub={"python": stub})
        nb.cells[i], _ = pre.preprocess_cell(cell, resources, i)
    nb, _ = clear_output().preprocess(nb, {})
    nb.metadata.pop("celltoolbar", None)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = nb.cells[0].source.replace(
            "/notebooks/solutions/", "/notebooks/exercises/"
        )
    return nb


def build(
    solutions_dir: str | os.PathLike = SOLUTIONS_DIR,
    out_dir: str | os.PathLike = EXERCISES_DIR,
    check: bool = False,
) -> list[Path]:
    """Write (or, with ``check``, compare) the learner's notebook of every solution notebook.

    Parameters
    ----------
    solutions_dir : path
        Folder of the solution notebooks ``ex*.ipynb``.
    out_dir : path
        Folder of the learner's notebooks (created).
    check : bool
        Write nothing; return the notebooks that are missing or out of date.

    Returns
    -------
    list of Path
        The notebooks written (or, with ``check``, those out of date).
    """
    src = Path(solutions_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"solutions_dir {str(src)!r} is not a folder")
    solutions = sorted(src.glob("ex*.ipynb"))
    if not solutions:
        raise FileNotFoundError(f"no solution notebooks (ex*.ipynb) in {str(src)!r}")
    out = Path(out_dir)
    texts = {}
    for path in solutions:
        nb = exercise_notebook(json.loads(path.read_text(encoding="utf-8")))
        texts[out / path.name] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if check:
        return [
            p for p, t in texts.items() if not p.is_file() or p.read_text(encoding="utf-8") != t
        ]
    out.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        write_atomic(path, text)
    return list(texts)


__all__ = [
    "check_flexible_network",
    "check_network",
    "check_original_unit",
    "check_params_by_hand",
    "check_plain_unit",
    "check_preact_unit",
    "check_recipe",
    "check_relu_before_add_unit",
    "check_unit_macs",
    "check_unit_params",
    "stack_units",
    "train_recipe",
    "exercise_notebook",
    "build",
]
