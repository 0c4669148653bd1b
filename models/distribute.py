"""Training under the `tf.distribute` strategy that `TF_CONFIG` describes.

One worker (no `TF_CONFIG`, or a cluster of one machine) trains under the default strategy,
exactly as before. Several machines (`chief` + `worker` entries > 1, which is how Vertex AI
Training describes N replicas: its first pool is `chief`, the others `worker`) train under
`MultiWorkerMirroredStrategy` (synchronous data parallelism, one replica per CPU worker).

What is the same on every worker, and why:
- **Data**: every worker loads the *whole* transformed split in memory, in canonical order, and
  carves it with the same seeded hashes (models/data.py), so all workers hold identical columns.
- **Seeds**: `training.build_model` seeds TF from the config on every worker; MWMS also
  broadcasts the initial variable values from the first worker, so weights start identical
  even without it. The seed matters for the data: every worker must draw the *same* shuffle.
- **Batches**: `train_batch_size` / `eval_batch_size` are *global* batches (what one optimizer
  step sees, summed over all replicas), so a config means the same learning dynamics on 1 or N
  workers. Each replica gets `global / num_replicas` examples; the global batch must divide.
- **Sharding** (auto-shard OFF, explicit): each worker batches the identically shuffled columns
  into per-replica batches and keeps every N-th one (`Dataset.shard(N, worker_index)`), so step k
  of the N workers together sees exactly the examples of single-worker step k, and an epoch sees
  every example once. Deterministic by construction (no reader ops, no policy fall-back).
- **Losses** (models/model.py): the optimizer *sums* the replicas' gradients, so each replica
  returns its share of the global-batch loss (rating: its squared errors over the global number
  of rated examples); the shares add up to the single-worker loss of the same batch.
- **Logged metrics**: Keras's step logs are made identical on every replica (losses and metric
  states all-reduced), so history, early stopping and `evaluate` agree across workers (they must:
  a worker stopping early alone would leave the others waiting in a collective forever).
- **Outputs**: only the chief writes the serving model, TensorBoard logs and JSON reports;
  other workers run the same code (saving may involve collectives) into a temporary directory
  that is deleted afterwards, as TF's multi-worker Keras guide prescribes.

Retrieval under MWMS: TFRS's in-batch softmax takes its negatives from the replica's *local*
batch (`global / N` examples), not the global batch: each positive competes with N times fewer
negatives, the retrieval loss is lower and somewhat less informative, popular items are
sampled as negatives less often per step. Expect top-K to move a little (usually down) as N
grows at a fixed global batch; raise `train_batch_size` with N to keep the per-replica batch
(and the negatives) of the single-worker run. Rating and RMSE are unaffected by this.
"""

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

import tensorflow as tf

TF_CONFIG_ENV = "TF_CONFIG"
_TRAINING_TASKS = ("chief", "worker")  # machines that hold a replica under MWMS


def tf_config(environ: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The parsed `TF_CONFIG` ({} when unset or empty)."""
    text = (os.environ if environ is None else environ).get(TF_CONFIG_ENV, "")
    return json.loads(text) if text.strip() else {}


def num_training_machines(config: Dict[str, Any]) -> int:
    """How many machines train (chief + workers); 1 without a cluster."""
    cluster = config.get("cluster", {})
    if cluster.get("ps"):
        raise ValueError("TF_CONFIG names parameter servers; this Trainer supports only "
                         "synchronous multi-worker training (chief/worker tasks)")
    return max(1, sum(len(cluster.get(task, [])) for task in _TRAINING_TASKS))


def is_chief(config: Dict[str, Any]) -> bool:
    """The task that writes outputs: `chief`, else worker 0 when the cluster has no chief, and
    the only task when there is no cluster."""
    task = config.get("task", {})
    task_type, task_id = task.get("type"), int(task.get("index", 0))
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    return (task_type == "worker" and task_id == 0
            and not config.get("cluster", {}).get("chief"))


def strategy_from_tf_config(environ: Optional[Dict[str, str]] = None) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several training machines, else the
    default strategy. Create it first thing: MWMS starts this worker's collective server and
    waits for the others."""
    if num_training_machines(tf_config(environ)) > 1:
        # It reads TF_CONFIG itself (TFConfigClusterResolver), from os.environ.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return bool(getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())


def strategy_is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes outputs under `strategy` (always, for one worker)."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    return is_chief({"cluster": resolver.cluster_spec().as_dict(),
                     "task": {"type": resolver.task_type, "index": resolver.task_id}})


@contextlib.contextmanager
def output_dir(directory: str, strategy: tf.distribute.Strategy) -> Iterator[str]:
    """Where this worker writes what belongs in `directory`: `directory` itself on the chief;
    on other workers a fresh local temporary directory, deleted on exit, so that they can run
    the very same code (TensorBoard, saving) without two writers racing on one output."""
    if strategy_is_chief(strategy):
        yield directory
        return
    scratch = tempfile.mkdtemp(prefix="non_chief_")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- input ---------------------------------------------------------------------------------------

DatasetFn = Callable[[int], tf.data.Dataset]  # batch size -> batched dataset (one epoch)


class Input(NamedTuple):
    """What `Model.fit` / `evaluate` take: the data, and its steps per epoch (None: until the
    end of the dataset, as Keras does for a plain dataset)."""
    data: Any
    steps: Optional[int]


def per_replica_batch_size(global_batch_size: int, num_replicas: int) -> int:
    if global_batch_size % num_replicas:
        raise ValueError(f"the global batch size {global_batch_size} must be a multiple of the "
                         f"number of replicas ({num_replicas})")
    return global_batch_size // num_replicas


def global_steps(num_examples: int, global_batch_size: int) -> int:
    """Optimizer steps per epoch: as many as single-worker batches (the last one partial)."""
    return max(1, -(-num_examples // global_batch_size))


def shard_dataset(make_batches: DatasetFn, global_batch_size: int, num_examples: int,
                  context: tf.distribute.InputContext) -> tf.data.Dataset:
    """This input pipeline's endless stream of per-replica batches, epoch after epoch.

    Every worker builds the same per-replica batches (same data, same seeded shuffle), pads the
    epoch with empty batches to `steps * num_input_pipelines`, and keeps every
    `num_input_pipelines`-th one: the workers' batches of step k are consecutive slices of
    single-worker batch k, every worker has exactly `steps` batches per epoch (so they never
    drift into different epochs), and each example is seen once per epoch. `repeat()` because
    Keras keeps one iterator over a distributed dataset for all epochs; each pass draws the
    next epoch's shuffle, as a new iterator over the single-worker dataset would.
    """
    batch = per_replica_batch_size(global_batch_size, context.num_replicas_in_sync)
    pipelines = context.num_input_pipelines
    padded = global_steps(num_examples, global_batch_size) * pipelines
    batches = make_batches(batch)
    epoch = batches.concatenate(_empty_batches(batches.element_spec)).take(padded)
    dataset = epoch.shard(pipelines, context.input_pipeline_id).repeat()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def _empty_batches(spec) -> tf.data.Dataset:
    """Endless batches of zero examples shaped like `spec`. Built from the spec, not by reading
    the data: that would start another pass of its shuffle and shift every later epoch's order."""
    empty = tf.nest.map_structure(
        lambda s: tf.zeros([0] + s.shape[1:].as_list(), s.dtype), spec)
    return tf.data.Dataset.from_tensors(empty).repeat()


def distribute_dataset(make_batches: DatasetFn, global_batch_size: int, num_examples: int,
                       strategy: Optional[tf.distribute.Strategy] = None) -> Input:
    """The input of `Model.fit` / `evaluate` under `strategy` (default: the current one).

    One replica: `make_batches(global_batch_size)` itself, unchanged, steps None. Several: a
    distributed dataset sharded explicitly (`shard_dataset`) and its steps per epoch, which
    Keras requires for a distributed dataset.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1 and not is_multi_worker(strategy):
        return Input(make_batches(global_batch_size), None)
    data = strategy.distribute_datasets_from_function(
        lambda context: shard_dataset(make_batches, global_batch_size, num_examples, context))
    return Input(data, global_steps(num_examples, global_batch_size))


# -- cross-replica reductions inside a step ---------------------------------------------------

def _replica_context() -> Optional[tf.distribute.ReplicaContext]:
    """The replica context when there are several replicas to reduce over, else None."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def global_sum(value):
    """Inside a replica: the sum of `value` (a tensor or a nest of them) over all replicas;
    with one replica (or outside a step) `value` itself."""
    context = _replica_context()
    if context is None:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def global_metric_results(metrics: List[tf.keras.metrics.Metric]) -> Dict[str, tf.Tensor]:
    """{name: result} of `metrics` over all replicas, usable inside a replica.

    Keras reads a metric's (sync-on-read) state per replica inside a step, so the logs of a
    custom step would hold each replica's own RMSE; here the states of mean-type metrics
    (`tf.keras.metrics.Mean` and subclasses: RMSE, FactorizedTopK's accuracies) are summed over
    replicas first. With one replica: `metric.result()` unchanged.
    """
    if _replica_context() is None:
        return {metric.name: metric.result() for metric in metrics}
    unsupported = [m.name for m in metrics if not isinstance(m, tf.keras.metrics.Mean)]
    if unsupported:
        raise TypeError(f"no cross-replica result for metrics {unsupported}")
    states = global_sum([(tf.identity(m.total), tf.identity(m.count)) for m in metrics])
    results = {}
    for metric, (total, count) in zip(metrics, states):
        mean = tf.math.divide_no_nan(total, count)
        if isinstance(metric, tf.keras.metrics.RootMeanSquaredError):
            mean = tf.sqrt(mean)
        results[metric.name] = mean
    return results
