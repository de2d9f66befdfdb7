"""Every command of ``rnpa`` (and ``python -m rnpa``): train, evaluate, diagrams, course, exercises.

Each command is a ``_cmd_*`` function that takes the parsed arguments and returns
the exit status, and imports what it needs when it runs: building the parser
imports no TensorFlow, so ``--help`` and ``--version`` answer at once. TensorFlow's
C++ logging is turned down before anything imports it (the notebooks do the same
in ``rnpa.setup_notebook``). Bad arguments end with one line and exit status 2.

To add a command: write ``_cmd_name(args) -> int`` and its parser in a
``_add_name(subparsers)`` function, and call it from :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnpa._version import __version__

PROG = "rnpa"
#: the networks ``--model`` takes: ``rnpa.models.list_models()``, written out here because
#: importing the models imports TensorFlow, and ``--help`` should not wait for it (a test
#: checks that the two agree)
MODEL_NAMES = (
    "resnetpreact, preact_resnet<depth>, resnet<depth>, resnet_original<depth>, "
    "plain<depth>, cifar_resnet<depth>"
)


#: lines TensorFlow's C++ code writes to the process's stderr whatever TF_CPP_MIN_LOG_LEVEL
#: says: absl's preamble, then glog-style lines (``I0000 00:00:... port.cc:153] oneDNN ...``,
#: ``cudart_stub.cc``, ``cuda_platform.cc ... failed call to cuInit`` on a machine without GPU)
_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} [\d:.]+\s+\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard"
    r"|cpu_allocator_impl)\.cc:\d+\])"
)


def _quiet_tensorflow() -> None:
    """Turn TensorFlow's C++ logging down to errors, before TensorFlow is imported."""
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"


@contextlib.contextmanager
def _without_tensorflow_noise() -> Iterator[None]:
    """Pass the process's stderr (file descriptor 2) through a filter that drops TensorFlow's
    C++ start-up lines (:data:`_TF_NOISE`); every other line reaches stderr unchanged.

    No environment variable silences those lines (the notebooks keep them out of their outputs
    because a kernel's stderr goes to its terminal); a command prints them to the learner.
    """
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured by a test runner)
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not _TF_NOISE.match(line.decode(errors="replace")):
                    os.write(real, line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the thread reads to the end
        thread.join(timeout=5)
        os.close(real)


# ----------------------------------------------------------------------------
# argument types
# ----------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _parser(sub: Any, name: str, help: str, description: str, example: str) -> Any:
    """A sub-command parser with a description and one example, as every command has."""
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# ----------------------------------------------------------------------------
# train and evaluate
# ----------------------------------------------------------------------------
def _add_data_args(p: argparse.ArgumentParser) -> None:
    from rnpa.datasets import DATASETS

    p.add_argument(
        "--data",
        default="flowers32",
        metavar="NAME",
        help=f"dataset: {', '.join(DATASETS)} (default: %(default)s)",
    )
    p.add_argument(
        "--dir",
        default=None,
        metavar="FOLDER",
        help="with --data folder: a folder with one sub-folder of images per class",
    )
    p.add_argument(
        "--image-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="resize images to NxN (default: 32 for flowers/folder, stored size else)",
    )
    p.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        metavar="N",
        help="use at most N images per split (a quick check)",
    )


def _load_data(args: argparse.Namespace, batch_size: int, augment: str, seed: int) -> Any:
    from rnpa.data import load

    return load(
        args.data,
        batch_size=batch_size,
        image_size=args.image_size,
        augment=augment,
        directory=args.dir,
        seed=seed,
        limit=args.limit,
    )


def _default_out(args: argparse.Namespace, recipe: Any) -> str:
    """``runs/<data>-<model>-<recipe>``, plus every option that makes another run.

    The number of epochs is left out: more epochs extend the run in the folder.
    """
    parts = [args.data, args.model]
    if args.num_stages is not None:
        parts.append(f"stages{args.num_stages}")
    parts.append(recipe.name)
    for flag, value in (
        ("b", args.batch_size),
        ("lr", args.lr),
        ("img", args.image_size),
        ("limit", args.limit),
        ("steps", args.steps_per_epoch),
    ):
        if value is not None:
            parts.append(f"{flag}{value:g}" if isinstance(value, float) else f"{flag}{value}")
    if args.seed:
        parts.append(f"seed{args.seed}")
    if args.dir is not None:
        parts.append(Path(args.dir).name)
    return "runs/" + "-".join(parts)


def _recipe(args: argparse.Namespace) -> Any:
    from rnpa.recipes import get_recipe

    return get_recipe(
        args.recipe, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr
    )


def _cmd_train(args: argparse.Namespace) -> int:
    recipe = _recipe(args)
    if args.print_recipe:
        print(json.dumps(recipe.to_dict(), indent=2))
        return 0
    if args.data == "folder" and args.dir is None:
        raise ValueError("--data folder needs --dir FOLDER")
    from rnpa import models, train
    from rnpa.evaluate import evaluate

    out = Path(args.out or _default_out(args, recipe))
    # MultiWorkerMirroredStrategy must exist before TensorFlow does other work
    strategy = args.strategy
    if strategy == "multiworker":
        strategy = train.get_strategy(strategy)
    seed = train.seed_everything(args.seed)
    try:
        data = _load_data(args, recipe.batch_size, recipe.augment, seed)
    except ConnectionError as err:
        print(f"{PROG} train: error: {err}", file=sys.stderr)
        return 1
    kwargs = {} if args.num_stages is None else {"num_stages": args.num_stages}
    model = models.build_model(
        args.model,
        input_shape=data.image_shape,
        num_classes=data.num_classes,
        reg=recipe.reg,
        **kwargs,
    )
    print(
        f"training {args.model} ({model.count_params():,} parameters) on {data.name} "
        f"({data.sizes['train']} images) with recipe {recipe.name!r}: {recipe.epochs} epochs, "
        f"batch {recipe.batch_size}, writing to {out}/",
        flush=True,
    )
    try:
        result = train.fit(
            model,
            data,
            recipe,
            out,
            steps_per_epoch=args.steps_per_epoch,
            strategy=strategy,
            resume=args.resume,
            overwrite=args.overwrite,
            tensorboard=args.tensorboard,
            verbose=args.verbose,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: run the same command again to resume from {out}/backup",
            file=sys.stderr,
        )
        return 130
    if result.nan_stop is not None:
        return 1
    if result.complete:
        print(f"{result.message}; its final model is evaluated")
    _, chief, _ = train.worker_role(strategy if not isinstance(strategy, str) else None)
    tested = evaluate(model, data, "test", tta_flip=recipe.tta_flip)
    tta = " (with flipped copies)" if recipe.tta_flip else ""
    saved = (
        f"; saved {out / 'final.keras'} and {out / 'best.keras'} (best validation accuracy)"
        if chief
        else ""
    )
    print(f"test accuracy{tta}: {tested.accuracy:.2%}{saved}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from rnpa.evaluate import evaluate
    from rnpa.train import load_model_file

    model = load_model_file(args.model)  # a bad file is reported before the data is read
    try:
        data = _load_data(args, args.batch_size, "none", 0)
    except ConnectionError as err:
        print(f"{PROG} evaluate: error: {err}", file=sys.stderr)
        return 1
    print(evaluate(model, data, args.split, tta_flip=args.tta).report())
    return 0


def _add_train(sub: Any) -> None:
    from rnpa.distribute import STRATEGIES
    from rnpa.recipes import RECIPES

    p = _parser(
        sub,
        "train",
        "train a network on a dataset with a recipe",
        "Train a network with a named recipe. Writes best.keras, final.keras, log.csv and\n"
        "recipe.json (and TensorBoard logs with --tensorboard) into --out. Run the same command\n"
        "again to resume an interrupted run from its last finished epoch; a complete run is left\n"
        "as it is (a larger --epochs extends it); another run into the same --out is refused\n"
        "unless --overwrite. --print-recipe shows the recipe's fields and trains nothing.",
        f"{PROG} train --recipe default --epochs 40 --out runs/flowers",
    )
    _add_data_args(p)
    p.add_argument(
        "--model",
        default="resnetpreact",
        metavar="NAME",
        help=f"network: {MODEL_NAMES} (default: %(default)s)",
    )
    p.add_argument(
        "--num-stages",
        type=_positive_int,
        default=None,
        metavar="N",
        help="resnetpreact: number of residual units, 1 or more (default 5)",
    )
    p.add_argument(
        "--recipe",
        default="default",
        metavar="NAME",
        help=f"training recipe: {', '.join(RECIPES)} (default: %(default)s)",
    )
    p.add_argument(
        "--print-recipe",
        action="store_true",
        help="print the recipe's fields (with --epochs, --batch-size, --lr applied) "
        "as JSON and exit",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="number of epochs (default: the recipe's)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="images per batch (default: the recipe's)",
    )
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        metavar="RATE",
        help="peak learning rate (default: the recipe's)",
    )
    p.add_argument(
        "--steps-per-epoch",
        type=_positive_int,
        default=None,
        metavar="N",
        help="batches per epoch (default: one pass over the training images)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default: runs/<data>-<model>-<recipe> plus the options "
        "that change the run)",
    )
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue an interrupted run in --out (default: on); --no-resume "
        "starts the same run over",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace another run that --out holds (refused without it)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="tf.distribute strategy (default: %(default)s)",
    )
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=(0, 1, 2),
        help="0 silent, 1 progress bar, 2 one line per epoch (default: %(default)s)",
    )
    p.set_defaults(func=_cmd_train)

    e = _parser(
        sub,
        "evaluate",
        "accuracy, per-class accuracy and confusion matrix of a saved model",
        "Evaluate a saved .keras model on a split of a dataset: accuracy, per-class accuracy\n"
        "and the confusion matrix. The data must be normalised as in training (the same --data).",
        f"{PROG} evaluate runs/flowers/best.keras --split test --tta",
    )
    e.add_argument("model", metavar="MODEL.keras", help="a model saved by train")
    _add_data_args(e)
    e.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="split to evaluate (default: %(default)s)",
    )
    e.add_argument(
        "--batch-size",
        type=_positive_int,
        default=256,
        metavar="N",
        help="images per batch (default: %(default)s)",
    )
    e.add_argument(
        "--tta",
        action="store_true",
        help="average predictions over each image and its mirror image",
    )
    e.set_defaults(func=_cmd_evaluate)


# ----------------------------------------------------------------------------
# diagrams
# ----------------------------------------------------------------------------
def _cmd_diagrams(args: argparse.Namespace) -> int:
    from rnpa.diagrams import save_all

    for path in save_all(args.out_dir):
        print(path)
    return 0


def _add_diagrams(sub: Any) -> None:
    p = _parser(
        sub,
        "diagrams",
        "draw the course's diagrams as PNG and SVG",
        "Draw the course's diagrams (the units, the bottleneck, the network, the gradient\n"
        "highway, plain against residual) as PNG and SVG files into OUT_DIR and print their\n"
        "paths. Drawing the same diagrams again writes the same bytes.",
        f"{PROG} diagrams images/",
    )
    p.add_argument(
        "out_dir",
        nargs="?",
        default="images",
        metavar="OUT_DIR",
        help="directory for the files (default: images)",
    )
    p.set_defaults(func=_cmd_diagrams)


# ----------------------------------------------------------------------------
# course
# ----------------------------------------------------------------------------
def _cmd_badges(args: argparse.Namespace) -> int:
    from rnpa.course import repository_url, update_badges

    changed = update_badges(args.notebooks, repo_url=args.url)
    url = args.url or repository_url()
    print(f"badges and install lines point at {url}; {len(changed)} notebook(s) changed")
    for path in changed:
        print(f"  {path}")
    return 0


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``-p NAME=VALUE`` items as a dict; each value parsed as JSON where it can be."""
    parameters: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"-p must be NAME=VALUE with a Python name, got {item!r}")
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value
    return parameters


def _cmd_run(args: argparse.Namespace) -> int:
    from rnpa import course

    parameters = _parse_params(args.param)
    if args.out is None and not args.inplace:
        raise ValueError("give an output folder (--out DIR) or --inplace")
    runs = course.run_course(
        args.out,
        profile=args.profile,
        parameters=parameters or None,
        notebooks_dir=args.notebooks,
        inplace=args.inplace,
        only=args.only,
        html=args.html,
        check=False,
    )
    print(course.format_runs(runs, args.profile))
    failed = [r for r in runs.values() if r.status == "failed"]
    for run in failed:
        print(f"FAILED: {run.failure_message()}")
    if args.out is not None and args.html:
        print(f"site: {Path(args.out) / 'index.html'}")
    return 1 if failed else 0


def _add_course(sub: Any) -> None:
    from rnpa.course import PROFILES

    course = _parser(
        sub,
        "course",
        "run the lessons, update their Colab badges",
        "Run the course's notebooks in order and write them as a website, or rewrite their\n"
        "Colab badges and install lines.",
        f"{PROG} course run --out runs/course --profile quick",
    )
    csub = course.add_subparsers(dest="course_command", metavar="SUBCOMMAND")
    csub.required = True
    badges = _parser(
        csub,
        "badges",
        "rewrite the Colab badges and install lines from the repository URL",
        "Rewrite every lesson's 'Open in Colab' badge and its Colab install line from the\n"
        "repository address in pyproject.toml ([project.urls] Repository; reinstall after\n"
        "changing it), or from --url. Prints the notebooks it changed.",
        f"{PROG} course badges --url https://github.com/you/rnpa",
    )
    badges.add_argument("--notebooks", default="notebooks", help="folder of the lessons")
    badges.add_argument("--url", default=None, help="repository URL (default: the installed one)")
    badges.set_defaults(func=_cmd_badges)

    run = _parser(
        csub,
        "run",
        "execute every lesson in order through papermill; write the course site",
        "Execute every lesson in order (also after one fails), print a table of times and\n"
        "statuses, and write the executed notebooks, their HTML pages and index.html into\n"
        "--out. A -p NAME that no lesson has is refused before anything runs. Exit status 1\n"
        "if a lesson failed.",
        f"{PROG} course run --out runs/course --profile quick --only 01 02 -p SEED=1",
    )
    run.add_argument("--out", default=None, help="folder for the executed notebooks and the site")
    run.add_argument(
        "--profile",
        choices=PROFILES,
        default="full",
        help="full (the committed outputs) or quick (about a minute a lesson)",
    )
    run.add_argument(
        "--inplace",
        action="store_true",
        help="write the outputs back into the notebooks (the committed ones)",
    )
    run.add_argument(
        "--no-html", dest="html", action="store_false", help="write no HTML pages and no index.html"
    )
    run.add_argument("--notebooks", default="notebooks", help="folder of the lessons")
    run.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="PREFIX",
        help="run only lessons whose names start with these (e.g. 01 03)",
    )
    run.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="set a parameter in every lesson that has it (the value is parsed as "
        "JSON where it can be)",
    )
    run.set_defaults(func=_cmd_run)


# ----------------------------------------------------------------------------
# exercises
# ----------------------------------------------------------------------------
def _cmd_build(args: argparse.Namespace) -> int:
    from rnpa.exercises import build

    try:
        paths = build(args.solutions, args.out, check=args.check)
    except RuntimeError as err:  # nbgrader missing, or a solution region nbgrader refuses
        print(f"{PROG} exercises build: error: {err}", file=sys.stderr)
        return 2
    if args.check:
        for path in paths:
            print(f"out of date: {path}")
        if paths:
            print(f"run `{PROG} exercises build` and commit the result")
            return 1
        print(f"the exercise notebooks in {args.out} are up to date")
        return 0
    for path in paths:
        print(f"wrote {path}")
    return 0


def _add_exercises(sub: Any) -> None:
    from rnpa.exercises import EXERCISES_DIR, SOLUTIONS_DIR

    parser = _parser(
        sub,
        "exercises",
        "build the learner's exercise notebooks from the solutions",
        "The exercise notebooks: build the learner's copies from the solutions.",
        f"{PROG} exercises build --check",
    )
    esub = parser.add_subparsers(dest="exercises_command", metavar="SUBCOMMAND")
    esub.required = True
    build = _parser(
        esub,
        "build",
        "write notebooks/exercises/ from notebooks/solutions/ (needs nbgrader)",
        "Write the learner's notebooks from the solutions, with nbgrader's ClearSolutions\n"
        "(solution regions become stubs). --check writes nothing and exits 1 if a learner\n"
        "notebook is missing or out of date.",
        f"{PROG} exercises build",
    )
    build.add_argument(
        "--solutions", default=str(SOLUTIONS_DIR), help="folder of the solution notebooks"
    )
    build.add_argument(
        "--out", default=str(EXERCISES_DIR), help="folder of the learner's notebooks"
    )
    build.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a notebook is missing or out of date",
    )
    build.set_defaults(func=_cmd_build)


# ----------------------------------------------------------------------------
# the parser and main
# ----------------------------------------------------------------------------
def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The parser of every command (imports no TensorFlow)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="rnpa: pre-activation residual networks, the course's command line.",
        epilog=f"example: {PROG} train --recipe default --out runs/flowers",
    )
    parser.add_argument("--version", action="version", version=f"rnpa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_train, _add_diagrams, _add_course, _add_exercises):
        add(sub)
    return parser


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run the command line; return the exit status."""
    _quiet_tensorflow()
    args = build_parser(prog).parse_args(argv)
    with _without_tensorflow_noise():
        try:
            return int(args.func(args) or 0)
        except (ValueError, TypeError, OSError) as err:
            print(f"{prog} {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 2


def _one_line(err: BaseException) -> str:
    """The error as one line; a file-system error names its path and what went wrong."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.strerror}: {os.fspath(err.filename)!r}"
        if err.filename2 is not None:
            text += f" -> {os.fspath(err.filename2)!r}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


__all__ = ["MODEL_NAMES", "build_parser", "main"]
