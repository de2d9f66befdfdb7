"""Training and inference throughput of the seed network (ResNetPreAct, flowers32).

Compares, in one process and on the same machine:

* ``rnpa``: rnpa's default pipeline (``rnpa.data.load`` tf.data: cached, shuffled,
  augmented batches, prefetch) and the ``default`` recipe's optimizer;
* ``naive``: the 2017 notebook's way: numpy float arrays into ``model.fit``,
  batch 32, Adam, the network built from stock Keras layers (Keras' own
  BatchNormalization, not rnpa's fused one);
* ``torch``: the same network in PyTorch, eager, channels_last, with the same
  flip + pad-4-crop augmentation done on tensors (only if torch is installed;
  ``--torch-compile`` adds ``torch.compile``).

The configurations run round-robin, one epoch each per round, after a warm-up
round (tracing, compilation), so a change in the machine's load hits all of them
alike; the figures are medians over the rounds, in images per second.

    python bench/throughput.py                        # the comparison
    python bench/throughput.py --keras-bn --bf16 --xla --batch-sizes 128,256
    python bench/throughput.py --isa native,avx2 --keras-bn --bn-forwards --torch-compile

``--isa`` restricts every configuration alike to an instruction set
(``bench/_isa.py``: ``ONEDNN_MAX_CPU_ISA`` for TensorFlow's and PyTorch's oneDNN,
``ATEN_CPU_CAPABILITY`` for PyTorch), set before TensorFlow and PyTorch load, and
prints the oneDNN kernels that ran (``ONEDNN_VERBOSE=1`` on a small convolution).
With several ISAs, each runs in a subprocess of its own, one after the other,
and a table of all of them closes the run; the ratios within one ISA (one
process) are the figures to read.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import tempfile  # noqa: E402

from _isa import ISAS, apply_isa, isa_from_argv, probe  # noqa: E402

_TURN = "@@turn"  # a --turns process's line: ready for / done with a turn


def _option(argv: list[str], name: str) -> str | None:
    """The value of option ``name`` in ``argv`` (``--name VALUE`` or ``--name=VALUE``), or None."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _without_isa(argv: list[str]) -> list[str]:
    """``argv`` less its ``--isa`` and ``--json`` options."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--isa", "--json"):
            skip = True
        elif not a.startswith(("--isa=", "--json=")):
            out.append(a)
    return out


def each_isa(isas: list[str], argv: list[str]) -> int:
    """Run the benchmark under each ISA, one process each, in lockstep; print them side by side.

    The processes start together and build their configurations; then they take
    turns, one round (every configuration once) at a time: ISA 1's warm-up, ISA 2's
    warm-up, ISA 1's first timed round, ... So a change in the machine's load hits
    every ISA alike, as it does every configuration within one process. A waiting
    process blocks on its stdin and uses no CPU.
    """
    import queue
    import threading

    results, procs, done = {}, {}, queue.Queue()

    def relay(isa: str, stream) -> None:
        for line in stream:
            if line.startswith(_TURN):
                done.put((isa, line.strip()))
            else:
                print(f"[{isa}] {line}", end="", flush=True)
        done.put((isa, "EOF"))

    def wait(isa: str) -> None:
        while True:
            who, what = done.get()
            if who != isa:  # another process's end (it has had all its turns)
                continue
            if what == "EOF":
                raise SystemExit(f"--isa {who}: the process ended early (rc {procs[who].wait()})")
            return

    with tempfile.TemporaryDirectory() as tmp:
        for isa in isas:
            cmd = [sys.executable, __file__, *_without_isa(argv), "--isa", isa,
                   "--json", os.path.join(tmp, f"{isa}.json"), "--turns"]  # fmt: skip
            procs[isa] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True, bufsize=1)  # fmt: skip
            threading.Thread(target=relay, args=(isa, procs[isa].stdout), daemon=True).start()
            wait(isa)  # ready: probed and built, one ISA after the other
        rounds = 1 + int(_option(argv, "--rounds") or 5)
        for _ in range(rounds + 1):  # warm-up, timed rounds, inference
            for isa in isas:
                procs[isa].stdin.write("go\n")
                procs[isa].stdin.flush()
                wait(isa)
        for isa in isas:
            if procs[isa].wait():
                return procs[isa].returncode
            with open(os.path.join(tmp, f"{isa}.json")) as f:
                results[isa] = json.load(f)
    names = list(dict.fromkeys(n for r in results.values() for n in r["train"]))
    print(f"\n{'training img/s, medians':<34}" + "".join(f"{i:>16}" for i in isas)
          + "".join(f"{i + '/' + isas[0]:>14}" for i in isas[1:]))  # fmt: skip
    for n in names:
        vals = [results[i]["train"].get(n) for i in isas]
        row = "".join(f"{v:>16.0f}" if v else f"{'-':>16}" for v in vals)
        row += "".join(f"{v / vals[0]:>13.2f}x" if v and vals[0] else f"{'-':>14}"
                       for v in vals[1:])  # fmt: skip
        print(f"{n:<34}{row}")
    for i in isas:  # each ISA's own first configuration: rnpa as it runs there ("auto")
        ref, train = results[i].get("ref", names[0]), results[i]["train"]
        print(f"{i}: {ref} / " + ", / ".join(
            f"{n}: {train[ref] / train[n]:.2f}x" for n in train if n != ref))  # fmt: skip
    for i in isas:
        print(f"{i}: load average {results[i]['load_start']:.1f} at start, "
              f"{results[i]['load_end']:.1f} at end")  # fmt: skip
    json_out = _option(argv, "--json")
    if json_out:
        from rnpa._files import write_atomic

        write_atomic(json_out, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    _ISAS = isa_from_argv(sys.argv[1:])
    if len(_ISAS) > 1:
        sys.exit(each_isa(_ISAS, sys.argv[1:]))
    apply_isa(_ISAS[0])

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import EpochClock, cpu_has_bf16, seed_network  # noqa: E402

import rnpa  # noqa: E402
from rnpa import data as rdata  # noqa: E402
from rnpa import layers as rlayers  # noqa: E402
from rnpa import train as rtrain  # noqa: E402


def machine() -> str:
    """CPU model, cores, load and versions, one line each."""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.split("\n")
            if line.startswith("Model name")
        )
    except (StopIteration, OSError):
        model = platform.processor()
    load = os.getloadavg()
    lines = [
        f"cpu: {model}, {os.cpu_count()} cores, bfloat16 units "
        f"{'yes' if cpu_has_bf16() else 'no'}; load average at start {load[0]:.1f}",
        f"python {platform.python_version()}, tensorflow {tf.__version__}, "
        f"keras {keras.__version__}",
    ]
    try:
        import torch

        lines.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        lines.append("torch: not installed (skipped)")
    return "\n".join(lines)


class KerasConfig:
    """One epoch of ``model.fit`` on a dataset; ``run()`` returns its seconds.

    The clock runs from the epoch's start to its end (a callback): the fixed
    cost of each ``fit`` call (setting up callbacks and the data adapter), which
    a real run pays once and not every epoch, is left out, as it is for PyTorch.
    """

    def __init__(self, name, model, dataset, n_images, optimizer, jit_compile=False,
                 bn_forward="auto"):  # fmt: skip
        self.name, self.model, self.dataset, self.n = name, model, dataset, n_images
        self.bn_forward = bn_forward  # rnpa.layers.FORWARD when fit traces the step
        self.clock = EpochClock()
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      jit_compile=jit_compile)  # fmt: skip

    def run(self) -> float:
        saved, rlayers.FORWARD = rlayers.FORWARD, self.bn_forward
        try:
            return self._run()
        finally:
            rlayers.FORWARD = saved

    def _run(self) -> float:
        if isinstance(self.dataset, tuple):
            x, y, bs = self.dataset
            self.model.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=True,
                           callbacks=[self.clock])  # fmt: skip
        else:
            self.model.fit(self.dataset, epochs=1, verbose=0, shuffle=False, callbacks=[self.clock])
        return self.clock.seconds[-1]

    def infer(self, x: np.ndarray) -> float:
        t = time.perf_counter()
        self.model.predict(x, batch_size=256, verbose=0)
        return time.perf_counter() - t


def keras_rnpa(
    batch_size: int,
    jit: bool = False,
    augment: str = "default",
    keras_bn: bool = False,
    policy: str = "float32",
    images: int | None = None,
    bn_forward: str = "auto",
) -> KerasConfig:
    data = rdata.load("flowers32", batch_size=batch_size, augment=augment)
    train, n = data.train, data.sizes["train"]
    if images:  # a shorter epoch: the first images // batch_size batches of each shuffled epoch
        train, n = train.take(images // batch_size), images
    recipe = rtrain.get_recipe("default")
    model = seed_network(keras_bn, policy)
    opt = rtrain.make_optimizer(recipe, data.steps_per_epoch)
    name = (
        f"rnpa tf.data b{batch_size}"
        + (" xla" if jit else "")
        + (f" aug={augment}" if augment != "default" else "")
        + (" keras-BN" if keras_bn else f" BN-fwd={rlayers.forward_kind(bn_forward)}")
        + (" bf16" if policy == "mixed_bfloat16" else "")
    )
    return KerasConfig(name, model, train, n, opt, jit_compile=jit, bn_forward=bn_forward)


def keras_naive(x: np.ndarray, y: np.ndarray) -> KerasConfig:
    model = seed_network(keras_bn=True, reg=0.005)  # the 2017 network, stock Keras layers
    return KerasConfig("naive numpy b32 (2017)", model, (x, y, 32), len(x),
                       keras.optimizers.Adam(1e-4))  # fmt: skip


class TorchConfig:
    """The seed network in PyTorch, eager (or compiled), channels_last."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, compile_: bool = False):
        import torch
        from torch import nn

        class Unit(nn.Module):
            def __init__(self, first: bool):
                super().__init__()
                self.pre = nn.Identity() if first else nn.Sequential(nn.BatchNorm2d(128), nn.ReLU())
                self.body = nn.Sequential(
                    nn.Conv2d(128, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                    nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                    nn.Conv2d(32, 128, 1, bias=True),
                )  # fmt: skip

            def forward(self, x):
                return x + self.body(self.pre(x))

        net = nn.Sequential(
            nn.Conv2d(3, 128, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            *[Unit(i == 0) for i in range(5)],
            nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(128, 5),
        )  # fmt: skip
        self.params = sum(p.numel() for p in net.parameters())
        self.torch = torch
        self.net = net.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                   weight_decay=5e-4)  # fmt: skip
        mean = x.reshape(-1, 3).mean(0) / 255
        std = x.reshape(-1, 3).std(0) / 255
        xf = ((x.astype(np.float32) / 255 - mean) / std).astype(np.float32)
        self.x = torch.from_numpy(xf.transpose(0, 3, 1, 2).copy())
        self.y = torch.from_numpy(y.astype(np.int64))
        self.bs = batch_size
        self.n = len(x)
        self.loss = nn.CrossEntropyLoss(label_smoothing=0.1)
        self.step = torch.compile(self._step) if compile_ else self._step
        self.name = f"torch {'compiled' if compile_ else 'eager'} b{batch_size}"

    def _augment(self, xb):
        torch = self.torch
        n = xb.shape[0]
        flip = torch.rand(n) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        padded = torch.nn.functional.pad(xb, (4, 4, 4, 4))
        oy = torch.randint(0, 9, (n,))
        ox = torch.randint(0, 9, (n,))
        rows = oy[:, None] + torch.arange(32)[None, :]  # n, 32
        cols = ox[:, None] + torch.arange(32)[None, :]
        idx_b = torch.arange(n)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]  # n,32,32,c
        return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def _step(self, xb, yb):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.net(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def run(self) -> float:
        torch = self.torch
        t = time.perf_counter()
        self.net.train()
        perm = torch.randperm(self.n)
        for i in range(0, self.n, self.bs):
            idx = perm[i : i + self.bs]
            self.step(self._augment(self.x[idx]), self.y[idx])
        return time.perf_counter() - t

    def infer(self, x: np.ndarray) -> float:
        torch = self.torch
        self.net.eval()
        t = time.perf_counter()
        with torch.no_grad():
            for i in range(0, self.n, 256):
                self.net(self.x[i : i + 256].contiguous(memory_format=torch.channels_last))
        return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="timed epochs per configuration")
    p.add_argument("--batch-sizes", default="128", help="rnpa batch sizes, comma-separated")
    p.add_argument("--xla", action="store_true", help="also rnpa with jit_compile=True")
    p.add_argument("--no-augment", action="store_true", help="also rnpa without augmentation")
    p.add_argument(
        "--keras-bn",
        action="store_true",
        help="also rnpa with Keras' own BatchNormalization (not the fused one)",
    )
    p.add_argument(
        "--bn-forwards",
        action="store_true",
        help="also rnpa with the BatchNormalization training forward that 'auto' does not "
        "pick here (rnpa.layers.FORWARD: fused kernel, or moments + multiply-add)",
    )
    p.add_argument("--bf16", action="store_true", help="also rnpa in mixed_bfloat16")
    p.add_argument("--no-naive", action="store_true", help="skip the batch-32 numpy baseline")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--torch-compile", action="store_true", help="also torch.compile")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads for TF and torch (default: theirs)")  # fmt: skip
    p.add_argument(
        "--isa",
        default="native",
        help=f"instruction sets, comma-separated ({', '.join(ISAS)}): one process each",
    )
    p.add_argument(
        "--no-probe", action="store_true", help="skip the ONEDNN_VERBOSE check of which kernels run"
    )
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument(
        "--images",
        type=int,
        default=None,
        help="train on this many images per epoch (a multiple of 128; a busy machine)",
    )
    p.add_argument("--turns", action="store_true", help=argparse.SUPPRESS)  # see each_isa
    args = p.parse_args(argv)

    def turn(first: bool = False) -> None:
        """With --turns: say this turn is over (or that the set-up is), then wait for the next."""
        if args.turns:
            print(_TURN, "ready" if first else "done", flush=True)
            sys.stdin.readline()

    isas = isa_from_argv(["--isa", args.isa])
    if len(isas) > 1:
        p.error("several --isa values need a fresh process: run the script, not main()")
    if not args.no_probe:
        print(probe(isas[0], torch_too=not args.no_torch), flush=True)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    rnpa.seed_everything(0)
    raw = rdata.load_flowers32()
    x, y = raw.train
    if args.images is not None:
        if args.images <= 0 or args.images % 128 or args.images > len(x):
            p.error(f"--images must be a multiple of 128 up to {len(x)}, got {args.images}")
        x, y = x[: args.images], y[: args.images]
    configs: list = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        configs.append(keras_rnpa(bs, images=args.images))
        if args.xla:
            configs.append(keras_rnpa(bs, jit=True, images=args.images))
        if args.no_augment:
            configs.append(keras_rnpa(bs, augment="none", images=args.images))
        if args.bn_forwards:
            other = {"fused": "separate", "separate": "fused"}[rlayers.forward_kind("auto")]
            configs.append(keras_rnpa(bs, images=args.images, bn_forward=other))
        if args.keras_bn:
            configs.append(keras_rnpa(bs, keras_bn=True, images=args.images))
        if args.bf16:
            configs.append(keras_rnpa(bs, policy="mixed_bfloat16", images=args.images))
    if not args.no_naive:
        configs.append(keras_naive(x.astype(np.float32) / 255, y))
    if not args.no_torch:
        try:
            import torch

            if args.threads:
                torch.set_num_threads(args.threads)
            torch.manual_seed(0)
            configs.append(TorchConfig(x, y, 128))
            if args.torch_compile:
                configs.append(TorchConfig(x, y, 128, compile_=True))
        except ImportError:
            print("torch is not installed: skipping PyTorch (pip install torch==2.13.0, CPU)")
    load_start = os.getloadavg()[0]
    print(machine())
    print(f"flowers32: {len(x)} training images 32x32 per epoch; {args.rounds} timed epochs each, "
          "round-robin after one warm-up epoch\n", flush=True)  # fmt: skip
    times: dict[str, list[float]] = {c.name: [] for c in configs}
    turn(first=True)
    for c in configs:
        c.run()  # warm-up: tracing / compilation
    for r in range(args.rounds):
        turn()
        for c in configs:
            times[c.name].append(c.run())
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {len(x) / t[-1]:.0f}" for n, t in times.items()), flush=True)  # fmt: skip
    turn()
    xs = x.astype(np.float32) / 255
    infer = {c.name: statistics.median(len(x) / c.infer(xs) for _ in range(3)) for c in configs}
    train = {n: len(x) / statistics.median(t) for n, t in times.items()}
    spread = {n: (len(x) / max(t), len(x) / min(t)) for n, t in times.items()}
    print(f"\n{'configuration':<34} {'train img/s':>12} {'(min-max)':>13} {'infer img/s':>12}")
    for n in times:
        lo, hi = spread[n]
        print(f"{n:<34} {train[n]:>12.0f} {f'{lo:.0f}-{hi:.0f}':>13} {infer[n]:>12.0f}")
    ref = configs[0].name
    print(f"\nratios of {ref!r} (training):")
    for n in times:
        if n != ref:
            print(f"  / {n}: {train[ref] / train[n]:.2f}x")
    load_end = os.getloadavg()[0]
    print(f"load average at end {load_end:.1f}")
    if args.json:
        from rnpa._files import write_atomic

        record = {"isa": isas[0], "ref": ref, "machine": machine(), "load_start": load_start,
                  "load_end": load_end, "train": train, "spread": spread, "infer": infer,
                  "epoch_seconds": times}  # fmt: skip
        write_atomic(args.json, json.dumps(record, indent=1))
    if args.turns:
        print(_TURN, "done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
