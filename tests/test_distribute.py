"""Training under TF_CONFIG's strategy: cluster parsing, explicit sharding, and two real workers.

The two-worker test starts three processes (tests/distributed_worker.py): two
MultiWorkerMirroredStrategy workers on 127.0.0.1, and one single-worker run of the same
config and data, and compares them.
"""

import json
import os
import socket
import subprocess
import sys
from typing import Dict, List

import numpy as np
import pytest
import tensorflow as tf

from models import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- TF_CONFIG ---------------------------------------------------------------------------------

def _config(cluster: Dict[str, List[str]], task_type: str, index: int) -> Dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type,
                                                                   "index": index}})}


def test_no_tf_config_is_one_chief_with_the_default_strategy():
    assert distribute.tf_config({}) == {}
    assert distribute.num_training_machines({}) == 1
    assert distribute.is_chief({})
    strategy = distribute.strategy_from_tf_config({})
    assert strategy is tf.distribute.get_strategy()
    assert distribute.strategy_is_chief(strategy)


def test_one_worker_keeps_the_default_strategy():
    env = _config({"worker": ["127.0.0.1:1"]}, "worker", 0)
    assert distribute.num_training_machines(distribute.tf_config(env)) == 1
    assert distribute.strategy_from_tf_config(env) is tf.distribute.get_strategy()


def test_vertex_style_chief_plus_one_worker_is_two_machines():
    # Vertex AI names its first pool `chief`: chief + 1 worker is two replicas.
    cluster = {"chief": ["a:1"], "worker": ["b:1"]}
    assert distribute.num_training_machines({"cluster": cluster}) == 2
    assert distribute.is_chief(distribute.tf_config(_config(cluster, "chief", 0)))
    assert not distribute.is_chief(distribute.tf_config(_config(cluster, "worker", 0)))


def test_worker_zero_is_chief_only_without_a_chief_task():
    workers = {"worker": ["a:1", "b:1"]}
    assert distribute.is_chief({"cluster": workers, "task": {"type": "worker", "index": 0}})
    assert not distribute.is_chief({"cluster": workers, "task": {"type": "worker", "index": 1}})
    assert not distribute.is_chief({"cluster": workers, "task": {"type": "evaluator",
                                                                 "index": 0}})


def test_parameter_servers_are_refused():
    with pytest.raises(ValueError, match="parameter servers"):
        distribute.num_training_machines({"cluster": {"worker": ["a:1"], "ps": ["b:1"]}})


def test_the_global_batch_must_divide_among_replicas():
    assert distribute.per_replica_batch_size(256, 2) == 128
    with pytest.raises(ValueError, match="multiple of the number of replicas"):
        distribute.per_replica_batch_size(255, 2)


# -- sharding ----------------------------------------------------------------------------------

def _rows(batch) -> List[int]:
    return batch["row"].numpy().tolist()


@pytest.mark.parametrize("num_examples", [1000, 1024 + 100])
def test_shards_split_each_global_batch_and_cover_every_epoch_once(num_examples):
    """Two workers' shards, built in one process as each worker builds its own: step k of the
    two together is single-worker batch k, epoch after epoch, with no example twice."""
    from models.data import to_dataset

    columns = {"row": tf.range(num_examples, dtype=tf.int64)}
    make = lambda batch: to_dataset(columns, batch, True, seed=3)  # noqa: E731
    steps = distribute.global_steps(num_examples, 256)
    single = make(256)
    shards = [iter(distribute.shard_dataset(make, 256, num_examples, tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2))) for i in range(2)]
    for _ in range(2):  # epochs: Keras iterates the single dataset anew, the shards run on
        seen = []
        for batch in single:
            first, second = (_rows(next(shard)) for shard in shards)
            assert first + second == _rows(batch)
            seen += first + second
        assert sorted(seen) == list(range(num_examples))
        assert len(seen) and steps == -(-num_examples // 256)


# -- two workers -------------------------------------------------------------------------------

def _free_ports(count: int) -> List[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(out: str, run_dir: str, tf_config: Dict = None) -> subprocess.Popen:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    log = open(out + ".log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.distributed_worker", out, run_dir, "rating_only"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(processes: Dict[str, subprocess.Popen], timeout: float) -> None:
    try:
        for process in processes.values():
            process.wait(timeout=timeout)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()


def _report(out: str) -> Dict:
    with open(os.path.join(out, "rating_only", "report.json")) as f:
        return json.load(f)


def _weights(out: str) -> List[np.ndarray]:
    with np.load(os.path.join(out, "rating_only", "weights.npz")) as arrays:
        return [arrays[name] for name in arrays.files]


def _tail(path: str) -> str:
    with open(path) as f:
        return f.read()[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two MWMS workers and one single-worker run of tests/distributed_worker.py's RATING_ONLY
    config, all at once (~60-100 s on 2 cores, mostly imports and tracing)."""
    root = tmp_path_factory.mktemp("distribute")
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    outs = {name: str(root / name) for name in ("single", "worker0", "worker1")}
    processes = {"single": _start(outs["single"], str(root / "single_run"))}
    for index in range(2):
        processes[f"worker{index}"] = _start(
            outs[f"worker{index}"], str(root / "multi_run"),
            {"cluster": cluster, "task": {"type": "worker", "index": index}})
    _wait(processes, timeout=240)
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{_tail(outs[name] + '.log')}"
    return {"root": root, **{name: (_report(out), _weights(out)) for name, out in outs.items()}}


def test_two_workers_train_one_model_in_sync(runs):
    (chief, chief_weights), (other, other_weights) = runs["worker0"], runs["worker1"]
    # MultiWorkerMirroredStrategy's class name.
    assert (chief["strategy"], chief["num_replicas"]) == ("CollectiveAllReduceStrategy", 2)
    assert runs["single"][0]["num_replicas"] == 1
    # Synchronous updates: bit-identical weights. Unsynchronized workers training on their own
    # halves (or on different shuffles) would end anywhere else.
    assert len(chief_weights) == len(other_weights)
    for a, b in zip(chief_weights, other_weights):
        np.testing.assert_array_equal(a, b)
    # Metrics and histories are global: every worker logs the same numbers (early stopping
    # must decide the same everywhere).
    assert chief["keras"] == other["keras"]
    assert chief["recall"] == other["recall"]
    assert chief["log"]["history"] == other["log"]["history"]


def test_only_the_chief_writes_outputs(runs):
    chief, other = runs["worker0"][0], runs["worker1"][0]
    shared = os.path.join(str(runs["root"]), "multi_run", "rating_only")
    assert chief["is_chief"] and not other["is_chief"]
    assert chief["model_run_dir"] == shared
    assert other["model_run_dir"] != shared and not os.path.exists(other["model_run_dir"])
    written = set(os.listdir(shared))
    assert {"keras_eval_metrics.json", "user_ranking_metrics.json",
            "popularity_ranking_metrics.json", "training_log.json"} <= written
    assert any(name.startswith("train") and os.path.isdir(os.path.join(shared, name))
               for name in written)  # TensorBoard's train/ (the chief's only)


# Measured on this data (3 epochs, 30 SGD steps): |RMSE| 0.0094, |top-10| 0.0017, |recall@10|
# 0.003 between 1 and 2 workers. The rating-only SGD run has no in-batch negatives, and the same
# examples make up each step's global batch on 1 and 2 workers: the first epoch agrees to 1e-7
# without shuffling; what remains comes from reduction order and the later epochs' shuffles.
# The tolerances are ~2-3x the measured gaps (the weight equality above is the sharp check;
# these say the distributed model is the same model, not a differently trained one).
RMSE_TOLERANCE = 0.025
TOP_K_TOLERANCE = 0.02


def test_two_workers_match_one_worker(runs):
    single, two = runs["single"][0], runs["worker0"][0]
    rmse = "root_mean_squared_error"
    top_10 = "factorized_top_k/top_10_categorical_accuracy"
    print("single:", single["keras"], single["recall"])
    print("two workers:", two["keras"], two["recall"])
    assert abs(single["keras"][rmse] - two["keras"][rmse]) < RMSE_TOLERANCE
    assert abs(single["keras"][top_10] - two["keras"][top_10]) < TOP_K_TOLERANCE
    assert abs(single["recall"]["recall_at_10"] - two["recall"]["recall_at_10"]) < TOP_K_TOLERANCE
    assert single["log"]["fit_examples"] == two["log"]["fit_examples"]
