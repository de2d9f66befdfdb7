"""Test accuracy on flowers32 against training wall time, per recipe and seed.

For each recipe and seed: seed everything, build the seed network
(``ResNetPreAct(reg=recipe.reg)``), train it with ``rnpa.train.fit`` and, after
every epoch, measure the test accuracy (with flipped copies when the recipe says
so). The clock counts training only (the test evaluation is paused out).

    python bench/time_to_accuracy.py                          # original + default, seeds 0 1 2
    python bench/time_to_accuracy.py --recipes default --seeds 0 --csv out.csv
    python bench/time_to_accuracy.py --recipes default --epochs 80 --model resnet14

With ``--model`` another network of ``rnpa.models.build_model`` replaces the seed
network (for comparisons: the course's network is the seed network); its runs
are labelled ``<model>/<recipe>``.

A recipe may carry changes, ``LABEL=NAME{JSON}``: the run uses
``rnpa.train.get_recipe(NAME, **JSON)`` and is labelled ``LABEL``. The runs go
seed by seed (every recipe for seed 0, then for seed 1, ...), so a change in a
shared machine's load hits every recipe alike. ``--json`` keeps every run's
per-epoch accuracies (added to the file after each run); ``--summary FILE``
prints the table of a kept file without training:

    python bench/time_to_accuracy.py --recipes original 'fast=default{"epochs": 20}' \
        --seeds 0 1 2 --json bench/results/tta.json
    python bench/time_to_accuracy.py --summary bench/results/tta.json

The table gives, per recipe, medians over the seeds: the final test accuracy
and training time; the time (and epoch) at which test accuracy first reaches
the ``--reference`` recipe's median final accuracy; and the time to
``--hold`` (75%) test accuracy, first reached and *holding*: the first epoch
at or above it after which no epoch falls more than ``--slack`` (1 point)
below it. A seed that never gets there counts as infinitely late (``-`` when most never do).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa import train as rtrain  # noqa: E402
from rnpa._files import write_atomic  # noqa: E402
from rnpa.cli import MODEL_NAMES  # noqa: E402
from rnpa.evaluate import evaluate  # noqa: E402
from rnpa.models import build_model  # noqa: E402


class TestAccuracyClock(keras.callbacks.Callback):
    """Record (epoch, training seconds, test accuracy) after every epoch."""

    def __init__(self, data: rdata.Data, tta: bool):
        super().__init__()
        self.data, self.tta = data, tta
        self.rows: list[tuple[int, float, float]] = []
        self.elapsed = 0.0
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed += time.perf_counter() - self._t0
        acc = evaluate(self.model, self.data, "test", tta_flip=self.tta).accuracy
        self.rows.append((epoch + 1, self.elapsed, acc))
        print(f"  epoch {epoch + 1}: {self.elapsed:6.1f} s  test {acc:.2%}", flush=True)


def run(
    recipe_name: str,
    seed: int,
    epochs: int | None,
    out_dir: str | None = None,
    model_name: str = "resnetpreact",
    changes: dict | None = None,
) -> list[tuple[int, float, float]]:
    recipe = rtrain.get_recipe(recipe_name, **{"epochs": epochs, **(changes or {})})
    rnpa.seed_everything(seed)
    data = rdata.load("flowers32", batch_size=recipe.batch_size, augment=recipe.augment, seed=seed)
    model = build_model(
        model_name, input_shape=data.image_shape, num_classes=data.num_classes, reg=recipe.reg
    )
    clock = TestAccuracyClock(data, recipe.tta_flip)
    label = recipe_name if model_name == "resnetpreact" else f"{model_name}-{recipe_name}"
    out = os.path.join(out_dir, f"{label}-seed{seed}") if out_dir else None
    rtrain.fit(model, data, recipe, out, callbacks=[clock], verbose=0)
    return clock.rows


def parse_recipe(spec: str) -> tuple[str, str, dict]:
    """``NAME`` or ``LABEL=NAME{JSON}`` -> (label, recipe name, changes)."""
    if "=" not in spec:
        return spec, spec, {}
    label, rest = spec.split("=", 1)
    name, brace, tail = rest.partition("{")
    try:
        changes = json.loads(brace + tail) if brace else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"recipe {spec!r}: the changes are not JSON ({e})") from None
    if not isinstance(changes, dict) or not label or not name:
        raise ValueError(f"recipe must be NAME or LABEL=NAME{{JSON}}, got {spec!r}")
    rtrain.get_recipe(name, **changes)  # unknown names and fields fail before any run
    return label, name, changes


def first_time(rows: list, target: float) -> tuple[int, float] | None:
    """(epoch, seconds) of the first epoch with test accuracy >= ``target``, or None."""
    return next(((e, t) for e, t, a in rows if a >= target), None)


def holding_time(rows: list, target: float, slack: float) -> tuple[int, float] | None:
    """(epoch, seconds) of the first epoch with test accuracy >= ``target`` after which no
    epoch's accuracy is below ``target - slack``, or None."""
    for i, (e, t, a) in enumerate(rows):
        if a >= target and all(r[2] >= target - slack for r in rows[i + 1 :]):
            return e, t
    return None


def _median_hit(hits: list) -> str:
    """'seconds s (epoch e)' medians over seeds; a seed that never gets there counts as
    infinitely late."""
    if not hits:
        return "-"
    secs = statistics.median([h[1] if h else math.inf for h in hits])
    epochs = statistics.median([h[0] if h else math.inf for h in hits])
    reached = sum(h is not None for h in hits)
    if math.isinf(secs):
        return f"- ({reached}/{len(hits)})"
    note = f", {reached}/{len(hits)} seeds" if reached < len(hits) else ""
    return f"{secs:.0f} s (ep {epochs:g}{note})"


def summarize(records: list[dict], reference: str, hold: float, slack: float) -> str:
    """The Markdown table of ``records`` (runs kept by ``--json``), medians over seeds."""
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["label"], []).append(r)
    ref = by.get(reference)
    target = statistics.median([r["rows"][-1][2] for r in ref]) if ref else None
    ref_col = f"to {reference}'s {target:.1%}" if target else f"to {reference}'s final"
    head = f"| recipe | seeds | final test accuracy (per seed) | training time | {ref_col} |"
    lines = [head + f" first {hold:.0%} | {hold:.0%} holding (-{slack * 100:g}) | load |",
             "|---|---:|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for label, runs in by.items():
        rows = [r["rows"] for r in runs]
        accs = [r[-1][2] for r in rows]
        per = ", ".join(f"{a * 100:.1f}" for a in accs)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        to_ref = _median_hit([first_time(r, target) for r in rows]) if target else "-"
        loads = [x for r in runs for x in (r.get("load_start"), r.get("load_end")) if x is not None]
        load = f"{min(loads):.0f}-{max(loads):.0f}" if loads else "?"
        lines.append(
            f"| {label} | {len(rows)} | {statistics.mean(accs):.1%} +- {sd:.1%} ({per}) | "
            f"{statistics.median(r[-1][1] for r in rows):.0f} s ({len(rows[0])} ep) | {to_ref} | "
            f"{_median_hit([first_time(r, hold) for r in rows])} | "
            f"{_median_hit([holding_time(r, hold, slack) for r in rows])} | {load} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", nargs="+", default=["original", "default"],
                   help="recipe names, or LABEL=NAME{JSON} with recipe changes")  # fmt: skip
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs")
    p.add_argument("--model", default="resnetpreact",
                   help=f"the network ({MODEL_NAMES})")  # fmt: skip
    p.add_argument("--csv", default=None, help="also write every epoch's figures to this CSV")
    p.add_argument("--json", default=None, help="add every run's per-epoch figures to this JSON")
    p.add_argument("--summary", nargs="+", default=None, metavar="JSON",
                   help="print the table of kept runs (--json files) and stop")  # fmt: skip
    p.add_argument("--reference", default="original",
                   help="the label whose median final accuracy is the target")  # fmt: skip
    p.add_argument("--hold", type=float, default=0.75, help="the accuracy to reach and hold")
    p.add_argument("--slack", type=float, default=0.01, help="how far below --hold counts as held")
    p.add_argument(
        "--out",
        default=None,
        help="keep each run's checkpoints and log in OUT/<recipe>-seed<seed>/",
    )
    args = p.parse_args(argv)
    if args.summary:
        records = []
        for path in args.summary:
            with open(path) as f:
                records += json.load(f)
        print(summarize(records, args.reference, args.hold, args.slack))
        return 0
    try:  # a bad --model or recipe fails before any run
        build_model(args.model, input_shape=(32, 32, 3), num_classes=5)
        specs = [parse_recipe(s) for s in args.recipes]
    except (ValueError, TypeError) as e:
        p.error(str(e))
    print(f"load average at start {os.getloadavg()[0]:.1f}; cores {os.cpu_count()}", flush=True)
    kept: list[dict] = []
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            kept = json.load(f)
    results: list[dict] = []
    for seed in args.seeds:
        for label, recipe, changes in specs:
            name = label if args.model == "resnetpreact" else f"{args.model}/{label}"
            print(f"recipe {name} ({recipe} {changes or ''}), seed {seed}", flush=True)
            load_start, started = os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M:%S")
            rows = run(recipe, seed, args.epochs, args.out, args.model, changes)
            record = {"label": name, "recipe": recipe, "changes": changes, "seed": seed,
                      "epochs_override": args.epochs, "started": started,
                      "load_start": load_start, "load_end": os.getloadavg()[0],
                      "cpu_count": os.cpu_count(), "rows": [list(r) for r in rows]}  # fmt: skip
            results.append(record)
            if args.json:
                kept.append(record)
                write_atomic(args.json, json.dumps(kept, indent=None) + "\n")
            if args.csv:
                new = not os.path.exists(args.csv)
                with open(args.csv, "a", newline="") as f:
                    w = csv.writer(f)
                    if new:
                        w.writerow(["recipe", "seed", "epoch", "train_seconds", "test_accuracy"])
                    w.writerows([name, seed, *r] for r in rows)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    print(summarize(results, args.reference, args.hold, args.slack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
