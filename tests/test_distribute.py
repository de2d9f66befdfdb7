"""rnpa.fit under tf.distribute: two workers on this machine train one model.

Two processes on 127.0.0.1, each with its own ``TF_CONFIG`` task, run the same
``rnpa.fit`` call with ``MultiWorkerMirroredStrategy``: TensorFlow averages the
gradients over them, so they must end with the same weights although each saw
only its own half of every batch (tf.data shards the data between them).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rnpa
from rnpa import distribute as rdistribute
from rnpa import train

WORKER = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np
    from rnpa import train
    strategy = train.get_strategy("multiworker")  # first: before other TF work
    import keras
    import rnpa

    out_dir, weights, interrupt = sys.argv[1], sys.argv[2], sys.argv[3] == "interrupt"


    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if interrupt and epoch == 1:
                print("interrupted, backups:", sorted(p.name for p in os.scandir(out_dir)
                                                      if p.name.startswith("backup")))
                raise SystemExit(3)


    rnpa.seed_everything(0)
    model = rnpa.ResNetPreAct(num_stages=1)
    np.savez(weights + ".init.npz", *model.get_weights())
    data = rnpa.load("flowers32", batch_size=16, limit=64, seed=0)
    recipe = rnpa.get_recipe("default", epochs=2, precision="float32", tta_flip=False)
    history = rnpa.fit(model, data, recipe, out_dir, steps_per_epoch=2, strategy=strategy,
                       verbose=0, callbacks=[Interrupt()])
    np.savez(weights, *model.get_weights())
    print("role", train.worker_role(strategy), "loss", history.history["loss"])
    """
)


def _free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_workers(tmp: Path, n: int, interrupt: bool = False) -> list[str]:
    script = tmp / "worker.py"
    script.write_text(WORKER)
    (tmp / "tmp").mkdir(exist_ok=True)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(n)]}
    procs = []
    try:
        for i in range(n):
            task = {"cluster": cluster, "task": {"type": "worker", "index": i}}
            env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TMPDIR=str(tmp / "tmp"),
                       TF_CONFIG=json.dumps(task))  # fmt: skip
            procs.append(subprocess.Popen(
                [sys.executable, str(script), str(tmp / "out"), str(tmp / f"w{i}.npz"),
                 "interrupt" if interrupt else "run"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))  # fmt: skip
        logs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, log) in enumerate(zip(procs, logs, strict=True)):
        assert p.returncode == (3 if interrupt else 0), f"worker {i}:\n{log[-3000:]}"
    return logs


def _weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mwms")
    logs = _run_workers(tmp, 2)
    return tmp, logs


@pytest.mark.slow
def test_two_workers_end_with_the_same_trained_weights(cluster_run):
    tmp, logs = cluster_run
    w0, w1 = _weights(tmp / "w0.npz"), _weights(tmp / "w1.npz")
    init = _weights(tmp / "w0.npz.init.npz")
    assert [a.shape for a in w0] == [a.shape for a in w1] == [a.shape for a in init]
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1, strict=True))
    # training moved them: every kernel changed
    changed = [not np.array_equal(a, b) for a, b in zip(w0, init, strict=True) if a.ndim == 4]
    assert changed and all(changed)
    assert "role (2, True, 'worker0')" in logs[0]
    assert "role (2, False, 'worker1')" in logs[1]


@pytest.mark.slow
def test_only_the_chief_writes_the_run_files(cluster_run):
    tmp, _ = cluster_run
    out = tmp / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "best.keras",
        "final.keras",
        "log.csv",
        "recipe.json",
    ]  # fmt: skip  (no backup left: both backups are removed when training ends)
    assert list((tmp / "tmp").iterdir()) == []  # worker 1's temporary copies are gone
    import keras

    final = keras.models.load_model(out / "final.keras", compile=False)
    assert all(
        np.array_equal(a, b) for a, b in zip(final.get_weights(), _weights(tmp / "w0.npz"),
                                             strict=True)
    )  # fmt: skip
    assert len((out / "log.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


@pytest.mark.slow
def test_an_interrupted_cluster_resumes_together(tmp_path):
    """Stopped after epoch 1, restarted: each worker resumes from its own backup, in step."""
    logs = _run_workers(tmp_path, 2, interrupt=True)
    assert "interrupted, backups: ['backup', 'backup-worker1']" in logs[0]
    logs = _run_workers(tmp_path, 2)
    w0, w1 = _weights(tmp_path / "w0.npz"), _weights(tmp_path / "w1.npz")
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1, strict=True))
    log = (tmp_path / "out" / "log.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["0", "1"]  # epoch 1 once, after epoch 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith("backup")]


def test_one_process_is_one_chief_worker():
    import tensorflow as tf

    assert train.worker_role(tf.distribute.get_strategy()) == (1, True, "")


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="strategy must be one of .*'multiworker'.*got 'cluster'"):
        train.get_strategy("cluster")


LATE = textwrap.dedent(
    """
    import tensorflow as tf
    from rnpa import train
    tf.constant(1.0) + 1  # TensorFlow is running before the strategy exists
    try:
        train.get_strategy("multiworker")
    except RuntimeError as err:
        print("error:", err)
    """
)


@pytest.mark.slow
def test_a_late_multiworker_strategy_says_how_to_fix_it():
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    env = dict(
        os.environ,
        CUDA_VISIBLE_DEVICES="-1",
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}),
    )
    done = subprocess.run([sys.executable, "-c", LATE], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert "error: strategy='multiworker' must be created before other TensorFlow work" in (
        done.stdout
    ), done.stdout + done.stderr[-2000:]
    assert "get_strategy('multiworker') at the top of the program" in done.stdout


# ----------------------------------------------------------------------------
# devices
# ----------------------------------------------------------------------------
def test_auto_strategy_and_precision_on_this_machine():
    import tensorflow as tf

    strategy = rdistribute.get_strategy("auto")
    assert isinstance(strategy, tf.distribute.Strategy)
    if not tf.config.list_logical_devices("GPU"):
        assert strategy.num_replicas_in_sync == 1
        # float32 on every CPU, bf16 units or not (measured slower for this network)
        assert rdistribute.resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match="precision"):
        rdistribute.resolve_precision("half")


@pytest.mark.parametrize(
    ("machine", "avx512", "refused"),
    [("x86_64", False, True), ("x86_64", True, False), ("aarch64", False, False)],
)
def test_mixed_bfloat16_is_refused_on_a_cpu_below_avx512(machine, avx512, refused, monkeypatch):
    """Below AVX-512, TensorFlow's oneDNN has no bfloat16 convolution (the first step fails)."""
    import platform

    import tensorflow as tf

    from rnpa import layers as rlayers

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU takes bfloat16 whatever the CPU")
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(rlayers, "onednn_avx512", lambda: avx512)
    if refused:
        with pytest.raises(ValueError, match=r"precision 'mixed_bfloat16' needs a GPU or a CPU "
                                             r"with AVX-512.*use 'float32' or 'auto'"):  # fmt: skip
            rdistribute.resolve_precision("mixed_bfloat16")
    else:
        assert rdistribute.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert rdistribute.resolve_precision("float32") == "float32"  # the others stay allowed
    assert rdistribute.resolve_precision("auto") == "float32"


def test_rebuild_for_mixed_precision_keeps_weights_and_float32_output():
    import tensorflow as tf

    model = rnpa.ResNetPreAct(num_stages=1)
    clone = rdistribute.rebuild(model, tf.distribute.get_strategy(), "mixed_bfloat16")
    assert clone.get_layer("conv0").compute_dtype == "bfloat16"
    assert clone.get_layer("fc10").compute_dtype == "float32"
    for a, b in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    assert np.asarray(clone(x)).dtype == np.float32


MIRRORED = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np, rnpa
    from rnpa import data as rdata, distribute as rdistribute, train as rtrain
    strategy = rdistribute.get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    rtrain.seed_everything(0)
    data = rdata.load("flowers32", batch_size=32, limit=64, augment="flip")
    model = rnpa.ResNetPreAct(num_stages=1)
    before = model.get_layer("conv0").get_weights()[0].copy()
    history = rtrain.fit(model, data, "default", None, epochs=1, strategy=strategy, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, model.get_layer("conv0").get_weights()[0])
    print("replicas", strategy.num_replicas_in_sync)
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                         env=env, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "replicas 2" in run.stdout
