"""GPU check: training throughput of the seed network and ResNet-164, and one CIFAR-sized epoch.

For a GPU machine without internet (nothing is downloaded). It measures, with
``rnpa.speed`` (the code lesson 7 uses):

* training images/s of the seed network (``rnpa.ResNetPreAct()``) and of
  pre-activation ResNet-164 (``rnpa.preact_resnet(164)``), float32 against
  mixed_float16, XLA off and on, batch 128 and 512: one fixed batch of random
  images in memory, warm-up steps first, the median over timed rounds;
* one epoch of ResNet-164 on 50,000 random 32x32 images (the size of
  CIFAR-10's training set) through rnpa's real input pipeline (pad-4 crop and
  flip), in mixed_float16 with XLA on a GPU, float32 without XLA on a CPU;

and prints a Markdown table for ``bench/README.md`` with the device, the
versions and the settings. Rows come out as they are measured, so a run that is
stopped early still shows what it measured. Sized to finish in about 8 minutes
on one data-centre GPU (not yet measured: the figure is an estimate); on a CPU
only ``--tiny`` is meant to be run:

    python bench/gpu_check.py                 # the full check, on a GPU
    python bench/gpu_check.py --tiny          # a seconds-long run end to end (CPU is fine)
    python bench/gpu_check.py --batch-sizes 128 --epoch-images 10000
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import rnpa  # noqa: E402
from rnpa import speed  # noqa: E402


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers like 128,512, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 1, got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true",
                   help="small networks (1 unit; ResNet-11), batch 4, 1 step, XLA off only, "
                        "64-image epoch: checks the script end to end in seconds, on a CPU too")
    p.add_argument("--xla", choices=("both", "on", "off"), default=None,
                   help="XLA rows to measure (default both; --tiny: off, since XLA compiles "
                        "each network for tens of seconds on a CPU)")
    p.add_argument("--batch-sizes", type=_ints, default=None, metavar="B,B",
                   help="batch sizes (default 128,512; --tiny: 4)")
    p.add_argument("--steps", type=int, default=None, help="steps per timed round (default 10)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps (default 3)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3)")
    p.add_argument("--epoch-images", type=int, default=None,
                   help="random images in the timed epoch (default 50000; --tiny: 64)")
    p.add_argument("--no-epoch", action="store_true", help="skip the timed epoch")  # fmt: skip
    args = p.parse_args(argv)
    tiny = args.tiny
    defaults = {"batch_sizes": [4] if tiny else [128, 512], "steps": 1 if tiny else 10,
                "warmup": 1 if tiny else 3, "rounds": 1 if tiny else 3,
                "epoch_images": 64 if tiny else 50_000,
                "xla": "off" if tiny else "both"}  # fmt: skip
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("steps", "rounds", "epoch_images"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    gpu = speed.has_gpu()
    if args.tiny:
        models = {"seed network, 1 unit (tiny)": lambda: rnpa.ResNetPreAct(num_stages=1),
                  "pre-act ResNet-11 (tiny)": lambda: rnpa.preact_resnet(11)}  # fmt: skip
        epoch_model, epoch_name = models["pre-act ResNet-11 (tiny)"], "pre-act ResNet-11 (tiny)"
    else:
        models = {"seed network (ResNetPreAct)": rnpa.ResNetPreAct,
                  "pre-act ResNet-164": lambda: rnpa.preact_resnet(164)}  # fmt: skip
        epoch_model, epoch_name = models["pre-act ResNet-164"], "pre-act ResNet-164"
    xla = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    configs = speed.grid(models, args.batch_sizes, ("float32", "mixed_float16"), xla)
    print(f"# GPU check, {datetime.date.today().isoformat()}\n")
    print(f"- device: {speed.device_description()}")
    print(f"- TensorFlow {tf.__version__}, Keras {keras.__version__}, rnpa {rnpa.__version__}")
    print(f"- training img/s on one fixed batch of random 32x32 images in memory: {args.warmup} "
          f"warm-up steps, then the median of {args.rounds} rounds of {args.steps} steps "
          "(`rnpa.speed.measure_training_throughput`)\n", flush=True)  # fmt: skip
    print("measuring (one line per configuration):", file=sys.stderr, flush=True)

    def progress(row: dict) -> None:
        rate = "-" if row["img_per_s"] is None else f"{row['img_per_s']:.0f} img/s"
        print(f"  {time.perf_counter() - start:6.0f} s  {row['model']}, batch {row['batch']}, "
              f"{row['precision']}, XLA {'on' if row['xla'] else 'off'}: {rate} {row['note']}",
              file=sys.stderr, flush=True)  # fmt: skip

    rows = speed.throughput_table(configs, args.steps, args.warmup, args.rounds, gpu=gpu,
                                  on_row=progress)  # fmt: skip
    print(speed.markdown_table(rows))
    if not args.no_epoch:
        precision, xla = ("mixed_float16", args.xla != "off") if gpu else ("float32", False)
        batch = args.batch_sizes[0]
        try:
            seconds = speed.epoch_seconds(epoch_model, args.epoch_images, batch, precision, xla,
                                          warmup=args.warmup)  # fmt: skip
            result = f"{seconds:.1f} s ({args.epoch_images / seconds:,.0f} img/s)"
        except tf.errors.ResourceExhaustedError:
            result = "out of memory"
        print("\n| one epoch | images | batch | precision | XLA | time |")
        print("|---|---:|---:|---|---|---|")
        print(f"| {epoch_name} | {args.epoch_images:,} random 32x32 | {batch} | {precision} | "
              f"{'on' if xla else 'off'} | {result} |")  # fmt: skip
    print(f"\nwhole check: {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
