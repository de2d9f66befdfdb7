"""rnpa.cli: train | evaluate end to end on flowers32, help, version, and bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnpa._version import __version__
from rnpa.cli import main


@pytest.mark.slow
def test_help_lists_train_and_evaluate():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-m", "rnpa", "train", "--help"], capture_output=True,
                         text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0
    for option in ("--data", "--recipe", "--epochs", "--batch-size", "--out", "--resume"):
        assert option in run.stdout
    assert "original, paper, default" in run.stdout


def _run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rnpa", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


#: what TensorFlow's C++ logging writes (absl's preamble, INFO lines such as oneDNN's)
C_LOG_LINES = (
    "absl::InitializeLog",
    "I0000 ",
    "W0000 ",
    "oneDNN custom operations",
    "cudart_stub",
    "PredictCost",
)


@pytest.mark.slow
def test_help_and_version_import_no_tensorflow():
    code = (
        "import sys\nfrom rnpa.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['course', 'run', '--help'], "
        "['--version']):\n"
        "    try:\n        main(argv)\n"
        "    except SystemExit as e:\n        assert e.code == 0\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False False"
    assert f"rnpa {__version__}" in run.stdout


@pytest.mark.slow
def test_console_script_name_and_python_m_agree():
    run = _run_cli("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"rnpa {__version__}"
    assert not run.stderr


def test_every_command_has_a_description_and_an_example():
    from rnpa.cli import build_parser

    def walk(parser, path):
        yield path, parser
        for action in parser._actions:  # noqa: SLF001 (argparse keeps sub-parsers here)
            for name, sub in getattr(action, "_name_parser_map", {}).items():
                yield from walk(sub, [*path, name])

    seen = []
    for path, parser in walk(build_parser(), []):
        seen.append(" ".join(path))
        assert parser.description, path
        assert parser.epilog and parser.epilog.startswith("example: rnpa "), path
    assert {
        "train",
        "evaluate",
        "diagrams",
        "course run",
        "course badges",
        "exercises build",
    } <= set(seen)


def test_the_help_names_every_registered_model():
    from rnpa.cli import MODEL_NAMES
    from rnpa.models import list_models

    assert MODEL_NAMES == ", ".join(n.replace("{depth}", "<depth>") for n in list_models())


def test_print_recipe_shows_every_field_as_json(capsys):
    import json

    from rnpa.recipes import get_recipe

    assert main(["train", "--recipe", "original", "--epochs", "3", "--print-recipe"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == get_recipe("original", epochs=3).to_dict()
    assert shown["epochs"] == 3 and shown["optimizer"] == "adam"


@pytest.mark.slow
def test_training_output_is_free_of_tensorflow_log_lines(tmp_path):
    run = _run_cli(
        "train",
        "--epochs",
        "1",
        "--limit",
        "128",
        "--num-stages",
        "1",
        "--steps-per-epoch",
        "2",
        "--out",
        str(tmp_path / "r"),
        "--verbose",
        "2",
        env={"TF_CPP_MIN_LOG_LEVEL": ""},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "test accuracy" in run.stdout
    for line in (run.stdout + run.stderr).splitlines():
        assert not any(mark in line for mark in C_LOG_LINES), line


def test_evaluate_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "MODEL.keras" in out and "--split" in out


@pytest.mark.slow
def test_train_then_evaluate_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--epochs", "2", "--limit", "256", "--num-stages", "1", "--batch-size", "64",
            "--out", str(out), "--verbose", "0"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and str(out) in printed
    for name in ("best.keras", "final.keras", "log.csv", "recipe.json"):
        assert (out / name).is_file(), name
    with open(out / "log.csv") as f:
        assert len(f.read().strip().splitlines()) == 1 + 2  # header + 2 epochs

    assert main(["evaluate", str(out / "final.keras"), "--limit", "256", "--tta"]) == 0
    report = capsys.readouterr().out
    assert "test: accuracy" in report and "on 256 images" in report
    assert "confusion matrix" in report
    for name in ("daisy", "dandelion", "roses", "sunflowers", "tulips"):
        assert name in report


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "--data", "mnist"], ["unknown dataset 'mnist'", "flowers32"]),
        (["train", "--recipe", "turbo"], ["unknown recipe 'turbo'", "default"]),
        (["train", "--model", "vgg16"], ["unknown model 'vgg16'", "resnetpreact"]),
        (["train", "--data", "folder"], ["--dir"]),
        (["evaluate", "nowhere.keras"], ["nowhere.keras", "does not exist"]),
    ],
)
def test_bad_values_give_a_one_line_error(args, words, capsys, tmp_path):
    code = main([*args, "--limit", "8"] if args[0] == "train" else args)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"rnpa {args[0]}: error:")
    for w in words:
        assert w in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--epochs", "0"],
        ["train", "--epochs", "many"],
        ["train", "--batch-size", "-3"],
        ["train", "--lr", "nan"],
        ["train", "--num-stages", "0"],
        ["evaluate", "m.keras", "--split", "holdout"],
        ["fly"],
    ],
)
def test_bad_arguments_exit_non_zero(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def _tensorboard_args(out):
    return ["train", "--epochs", "1", "--limit", "64", "--num-stages", "1", "--batch-size", "64",
            "--steps-per-epoch", "1", "--out", str(out), "--verbose", "0",
            "--tensorboard"]  # fmt: skip


@pytest.mark.slow
def test_tensorboard_logs(tmp_path):
    out = tmp_path / "tb"
    assert main(_tensorboard_args(out)) == 0
    assert any((out / "tensorboard").rglob("events.out.tfevents*"))


def test_tensorboard_missing_gives_a_clear_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "tensorboard" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    out = tmp_path / "tb"
    assert main(_tensorboard_args(out)) == 2
    assert "pip install tensorboard" in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------------------
# file-system errors: one line naming the path, status 2, no traceback
# ---------------------------------------------------------------------------
def _quick_train(out):
    return ["train", "--epochs", "1", "--limit", "64", "--num-stages", "1", "--batch-size", "64",
            "--steps-per-epoch", "1", "--out", str(out), "--verbose", "0"]  # fmt: skip


def test_an_out_folder_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "run"
    assert main(_quick_train(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("rnpa train: error: ")
    assert "a-file" in err and "Traceback" not in err


def test_a_read_only_out_folder_is_one_line(tmp_path, capsys, monkeypatch):
    """A read-only file system (simulated: the tests may run as root, whom chmod does not stop)."""
    import errno
    import pathlib

    out = tmp_path / "ro" / "run"
    real_mkdir = pathlib.Path.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    assert main(_quick_train(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"rnpa train: error: {os.strerror(errno.EROFS)}: {str(out)!r}"
    assert not (tmp_path / "ro").exists()


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    import errno

    import rnpa._files

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(rnpa._files, "write_atomic", full)
    out = tmp_path / "run"
    assert main(_quick_train(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"rnpa train: error: {os.strerror(errno.ENOSPC)}: {str(out / 'recipe.json')!r}")


def test_evaluate_names_a_corrupt_model_file(tmp_path, capsys):
    bad = tmp_path / "best.keras"
    bad.write_bytes(b"")
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "best.keras' is not a valid .keras file" in err


@pytest.mark.slow
def test_the_same_train_command_after_a_finished_run_keeps_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_quick_train(out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(_quick_train(out)) == 0
    printed = capsys.readouterr().out
    assert "is complete (1 epochs): nothing to train" in printed
    assert "its final model is evaluated" in printed and "test accuracy" in printed
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # another learning rate into the same folder: one line, nothing changed
    assert main([*_quick_train(out), "--lr", "0.05"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds another run" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_the_default_out_folder_names_the_options_that_change_the_run():
    import argparse

    from rnpa.cli import _default_out
    from rnpa.recipes import get_recipe

    args = argparse.Namespace(data="flowers32", model="resnetpreact", num_stages=None,
                              batch_size=None, lr=None, image_size=None, limit=None,
                              steps_per_epoch=None, seed=0, dir=None)  # fmt: skip
    assert _default_out(args, get_recipe("default")) == "runs/flowers32-resnetpreact-default"
    args.num_stages, args.lr, args.seed = 3, 0.05, 2
    assert (
        _default_out(args, get_recipe("default"))
        == "runs/flowers32-resnetpreact-stages3-default-lr0.05-seed2"
    )
