"""Latency and throughput of the exported SavedModel, per signature, batch 1 and 64.

    python -m serving.bench --model-dir outputs/serving/movielens/<version>

Loads the model with TensorFlow alone (as TF Serving does) and calls each signature in this
process, so figures include Python's call overhead but no network or (de)serialization.
"""

import argparse
import json
import os
import statistics
import time
from typing import Callable, Dict, List, Optional

BATCH_SIZES = (1, 64)


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _requests(model, batch: int) -> Dict[str, Callable[[], object]]:
    import tensorflow as tf

    titles = model.catalog_titles.numpy()
    users = tf.constant([str(i + 1) for i in range(batch)])
    movies = tf.constant([titles[(i * 37) % len(titles)] for i in range(batch)])
    examples = tf.constant([tf.train.Example(features=tf.train.Features(feature={
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[u])),
        "movie_title": tf.train.Feature(bytes_list=tf.train.BytesList(value=[m])),
    })).SerializeToString() for u, m in zip(users.numpy(), movies.numpy())])
    k = tf.constant(10)
    exclude = tf.reshape(movies, [batch, 1])
    signatures = model.signatures
    history = tf.constant([[titles[(i * 37 + j * 11) % len(titles)] for j in range(5)]
                           for i in range(batch)])  # a new user's five rated titles
    optional = ({"recommend_for_history": lambda: signatures["recommend_for_history"](
        rated_titles=history, k=k)} if "recommend_for_history" in signatures else {})
    return {**optional,
        "serving_default": lambda: signatures["serving_default"](examples=examples),
        "predict": lambda: signatures["predict"](user_id=users, movie_title=movies),
        "recommend": lambda: signatures["recommend"](user_id=users, k=k),
        "recommend_excluding": lambda: signatures["recommend_excluding"](
            user_id=users, k=k, exclude_titles=exclude),
        "recommend_ranked": lambda: signatures["recommend_ranked"](
            user_id=users, k=k, exclude_titles=exclude),
        "similar_movies": lambda: signatures["similar_movies"](movie_title=movies, k=k),
    }


def measure(call: Callable[[], object], iterations: int, warmup: int = 20) -> Dict[str, float]:
    for _ in range(warmup):
        call()
    latencies = []
    started = time.perf_counter()
    for _ in range(iterations):
        begin = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - begin) * 1000)
    total = time.perf_counter() - started
    return {"p50_ms": statistics.median(latencies), "p99_ms": _percentile(latencies, 99),
            "mean_ms": statistics.fmean(latencies), "calls_per_s": iterations / total}


def run(model_dir: str, iterations: int) -> List[Dict[str, object]]:
    import tensorflow as tf

    model = tf.saved_model.load(model_dir)
    rows = []
    for batch in BATCH_SIZES:
        for name, call in _requests(model, batch).items():
            figures = measure(call, iterations)
            rows.append({"signature": name, "batch": batch, **figures,
                         "examples_per_s": figures["calls_per_s"] * batch})
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    rows = run(args.model_dir, args.iterations)
    print("| signature | batch | p50 ms | p99 ms | calls/s | examples/s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['signature']} | {row['batch']} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} "
              f"| {row['calls_per_s']:.0f} | {row['examples_per_s']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    raise SystemExit(main())
