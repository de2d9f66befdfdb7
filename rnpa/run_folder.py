"""A training run's folder: what run it holds, and whether to start, resume, extend or stop.

:func:`rnpa.train.fit` writes a run into ``out_dir``. Before it trains, it calls
:func:`prepare` with the run's *identity*, everything that defines the run
(:func:`identity`: the network, the data, every recipe field but the number of
epochs, the seed, the steps per epoch). ``recipe.json`` records it, and whether
the run is complete:

* an empty (or new) folder: a **new** run;
* the same run, interrupted (``backup/`` holds its last finished epoch): **resume**;
* the same run, complete, asked for the same number of epochs: **complete**,
  nothing is trained or written;
* the same run, complete, asked for more epochs: **extend** it from its final
  weights (the optimizer's state starts afresh, the schedule is the longer run's);
* another run: refused with one line naming the folder and the first difference,
  and nothing in the folder changes, unless ``overwrite=True`` (the old run's
  files are removed first).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

#: the file that records the run (its identity, recipe, normalisation, completeness)
RECORD = "recipe.json"
#: the files and folders a run writes; ``overwrite`` removes these and nothing else
RUN_FILES = ("best.keras", "final.keras", "log.csv", RECORD, "backup", "tensorboard")


def _architecture(model: keras.Model) -> str:
    """A digest of the layers' kinds, configurations (names left out) and weight shapes."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        shapes = [list(w.shape) for w in layer.weights]
        layers.append([type(layer).__name__, config, shapes])
    text = json.dumps(layers, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity(
    model: keras.Model, data: Any, recipe: Any, seed: int | None, steps_per_epoch: int | None
) -> dict[str, Any]:
    """What defines a run: two calls of ``fit`` with equal identities train the same run."""
    fields = recipe.to_dict()
    fields.pop("epochs")
    return {
        "model": {"name": model.name, "parameters": int(model.count_params()),
                  "architecture": _architecture(model)},
        "data": {"name": data.name, "sizes": dict(data.sizes), "batch_size": data.batch_size,
                 "augment": data.augment, "image_shape": list(data.image_shape),
                 "class_names": list(data.class_names)},
        "recipe": fields,
        "seed": seed,
        "steps_per_epoch": steps_per_epoch,
    }  # fmt: skip


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for key, value in d.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """``"recipe.learning_rate: 0.1 in the folder, 0.05 now"`` or None if equal."""
    a, b = _flat(old), _flat(new)
    for key in list(a) + [k for k in b if k not in a]:
        if a.get(key, "(none)") != b.get(key, "(none)"):
            return f"{key}: {a.get(key, '(none)')!r} in the folder, {b.get(key, '(none)')!r} now"
    return None


def logged_epochs(folder: Path) -> int:
    """How many epochs ``log.csv`` records (0 without one)."""
    log = folder / "log.csv"
    if not log.is_file():
        return 0
    with open(log, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


@dataclass(frozen=True)
class Plan:
    """What :func:`prepare` decided: ``action`` and the epochs already done."""

    action: str  # "new", "resume", "complete", "extend"
    done: int = 0
    message: str = ""


def _record(folder: Path) -> dict[str, Any] | None:
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{str(path)!r} cannot be read ({err}); pass overwrite=True "
            "(--overwrite) to start a new run there, or use another folder"
        ) from None
    return record if isinstance(record, dict) else None


def prepare(
    folder: Path, ident: dict[str, Any], epochs: int, *, resume: bool, overwrite: bool
) -> Plan:
    """Decide what to do with ``folder`` for the run ``ident`` of ``epochs`` epochs.

    Raises ``ValueError`` (one line, naming the folder and the difference) for a
    folder that holds another run, before anything in it changes.
    """
    record = _record(folder) if not overwrite else None
    present = [name for name in RUN_FILES if (folder / name).exists()]
    if overwrite:
        for name in present:
            target = folder / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        return Plan("new")
    if record is None or "identity" not in record:
        if present:
            raise ValueError(
                f"out_dir {str(folder)!r} holds files of a run that recorded no identity "
                f"({', '.join(present)}; an older rnpa?): use another out_dir, or overwrite=True "
                "(--overwrite) to replace it"
            )
        return Plan("new")
    difference = first_difference(record["identity"], ident)
    if difference is not None:
        raise ValueError(
            f"out_dir {str(folder)!r} holds another run ({difference}): use another out_dir "
            "(--out), or overwrite=True (--overwrite) to replace it"
        )
    done = logged_epochs(folder)
    if not resume:  # the same run, started over
        for name in present:
            target = folder / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        return Plan("new")
    if not record.get("complete"):
        return Plan("resume", done)
    recorded = int(record.get("epochs", done))
    if epochs <= recorded:
        return Plan(
            "complete",
            recorded,
            (
                f"the run in {folder} is complete ({recorded} epochs): nothing to train. To train "
                f"it longer, ask for more epochs (epochs= / --epochs); for a new run, use another "
                "out_dir or overwrite=True (--overwrite)"
            ),
        )
    return Plan("extend", recorded)


def write_record(
    folder: Path, ident: dict[str, Any], epochs: int, complete: bool, extra: dict[str, Any]
) -> None:
    """Write ``recipe.json`` atomically: identity, epochs, completeness and ``extra``."""
    from rnpa._files import write_atomic

    record = {**extra, "identity": ident, "epochs": epochs, "complete": complete}
    write_atomic(folder / RECORD, json.dumps(record, indent=2, default=str))


def history_from_log(folder: Path) -> keras.callbacks.History:
    """A Keras ``History`` rebuilt from ``log.csv`` (for a complete run that trains nothing)."""
    history = keras.callbacks.History()
    history.history, history.epoch = {}, []
    log = folder / "log.csv"
    if log.is_file():
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                history.epoch.append(int(row.pop("epoch")))
                for key, value in row.items():
                    history.history.setdefault(key, []).append(float(value))
    return history


# the callback that keeps the run's backup lives with the other callbacks
from rnpa.callbacks import SafeBackupAndRestore  # noqa: E402,F401

__all__ = [
    "Plan",
    "RECORD",
    "RUN_FILES",
    "SafeBackupAndRestore",
    "first_difference",
    "history_from_log",
    "identity",
    "logged_epochs",
    "prepare",
    "write_record",
]
