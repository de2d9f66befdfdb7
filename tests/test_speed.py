"""Tests of rnpa.speed (training throughput) and bench/gpu_check.py --tiny."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from rnpa import speed
from rnpa.layers import BatchNormalization

ROOT = Path(__file__).resolve().parents[1]


def tiny_model() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="tiny")


class FakeClock:
    """Each call is ``step`` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.step, self.now, self.calls = step, 0.0, 0

    def __call__(self) -> float:
        self.calls += 1
        self.now += self.step
        return self.now


def test_throughput_is_a_positive_finite_number():
    rate = speed.measure_training_throughput(tiny_model, batch_size=4, steps=2, warmup=1, rounds=1)
    assert isinstance(rate, float) and math.isfinite(rate) and rate > 0


def test_throughput_counts_images_per_second_of_the_clock():
    # the clock is read once when a round starts and once when it ends: 0.5 s per round,
    # so 3 steps of 4 images make 12 images in 0.5 s, 24 img/s, whatever the machine
    clock = FakeClock(0.5)
    details: dict = {}
    rate = speed.measure_training_throughput(tiny_model, batch_size=4, steps=3, warmup=1,
                                             rounds=2, clock=clock, details=details)  # fmt: skip
    assert clock.calls == 4
    assert details["images"] == [12, 12]
    assert details["seconds"] == [0.5, 0.5]
    assert rate == 24.0
    assert details["params"] == tiny_model().count_params()


def test_throughput_is_the_median_of_the_rounds():
    times = iter([0.0, 1.0, 1.0, 5.0, 5.0, 7.0])  # rounds of 1 s, 4 s, 2 s

    rate = speed.measure_training_throughput(tiny_model, batch_size=2, steps=2, warmup=0,
                                             rounds=3, clock=lambda: next(times))  # fmt: skip
    assert rate == 2.0  # 4 images in 1, 4 and 2 s: 4, 1 and 2 img/s, median 2


def test_throughput_with_xla_and_the_policy_is_restored():
    keras.mixed_precision.set_global_policy("float32")
    rate = speed.measure_training_throughput(
        tiny_model, batch_size=2, precision="mixed_bfloat16", jit_compile=True, steps=1,
        warmup=1, rounds=1,
    )  # fmt: skip
    assert rate > 0
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be an int >= 1, got 0"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"precision": "float64"}, ValueError, "precision must be one of .*got 'float64'"),
        ({"jit_compile": "yes"}, TypeError, "jit_compile must be True or False, got 'yes'"),
        ({"steps": 0}, ValueError, "steps must be an int >= 1, got 0"),
        ({"warmup": -1}, ValueError, "warmup must be an int >= 0, got -1"),
        ({"rounds": 0}, ValueError, "rounds must be an int >= 1, got 0"),
        ({"clock": 3}, TypeError, "clock must be a function"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, words):
    built = []

    def build():
        built.append(1)
        return tiny_model()

    with pytest.raises(error, match=words):
        speed.measure_training_throughput(build, **kwargs)
    assert not built  # rejected before any work


def test_a_model_instead_of_a_builder_is_rejected():
    with pytest.raises(TypeError, match="build_model must be a function"):
        speed.measure_training_throughput(tiny_model())


def test_table_skips_float16_without_a_gpu_and_formats_rows():
    configs = speed.grid({"tiny": tiny_model}, [2], ("float32", "mixed_float16"), (False,))
    seen = []
    rows = speed.throughput_table(configs, steps=1, warmup=0, rounds=1, gpu=False,
                                  on_row=seen.append)  # fmt: skip
    assert seen == rows
    assert [(r["precision"], r["img_per_s"] is None) for r in rows] == [
        ("float32", False), ("mixed_float16", True),
    ]  # fmt: skip
    assert rows[0]["params"] == tiny_model().count_params()
    assert rows[1]["note"].startswith("skipped: needs a GPU")
    table = speed.markdown_table(rows).splitlines()
    assert len(table) == 2 + 2
    assert table[3].startswith("| tiny | - | 2 | mixed_float16 | off | - | skipped")
    assert speed.skip_reason("mixed_float16", gpu=True) is None
    assert speed.skip_reason("float32", gpu=False) is None


def test_grid_checks_its_arguments():
    with pytest.raises(ValueError, match="precision must be one of"):
        speed.grid({"tiny": tiny_model}, [2], ("float16",))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        speed.grid({"tiny": tiny_model}, [0])
    with pytest.raises(TypeError, match="models must be a non-empty dict"):
        speed.grid([tiny_model])


def test_epoch_seconds_counts_the_whole_epoch():
    clock = FakeClock(2.0)
    seconds = speed.epoch_seconds(tiny_model, images=10, batch_size=4, warmup=1, clock=clock)
    assert seconds == 2.0 and clock.calls == 2
    with pytest.raises(ValueError, match="images must be an int >= 1, got 0"):
        speed.epoch_seconds(tiny_model, images=0)


def test_gpu_check_tiny_prints_the_table():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--tiny"],
                          capture_output=True, text=True, timeout=240, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("- device: ") for line in lines)
    assert any(line.startswith("- TensorFlow ") for line in lines)
    rows = [line for line in lines if line.startswith("| ") and "---" not in line]
    header, *body = [r for r in rows if not r.startswith("| one epoch")][:5]
    assert header.startswith("| network | parameters | batch | precision | XLA | training img/s")
    assert [r.split(" | ")[3:5] for r in body] == [["float32", "off"], ["mixed_float16", "off"]] * 2
    for row in body:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[3] == "float32":
            assert float(cells[5].replace(",", "")) > 0  # measured
        elif "GPU" not in speed.device_description():
            assert cells[5] == "-" and cells[6].startswith("skipped")
    epoch = [r for r in rows if "random 32x32" in r]
    assert len(epoch) == 1 and "| 64 random 32x32 | 4 |" in epoch[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--backends", "tf,jax"], "--backends: 'tf' is not one of tensorflow, jax, torch"),
        (["--isa", "avx3"], "--isa: 'avx3' is not one of native, avx2, avx512"),
        (["--rounds", "0"], "--rounds must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_backends_bench_names_a_bad_argument_before_any_run(args, words):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "backends.py"), *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert words in done.stderr.strip().splitlines()[-1]
    assert "img/s" not in done.stdout  # nothing was trained
