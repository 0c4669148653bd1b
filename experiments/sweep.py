"""Trains configs on a pipeline run's transformed data; reports validation metrics only.

    python -m experiments.sweep --pipeline-root /tmp/wtm/seed/pipeline_root \
        --base '{"validation_percent": 10}' '{"optimizer": "adam", "learning_rate": 0.01}' ...

Each positional argument is a JSON object of TrainingConfig overrides laid over `--base`
(itself over a preset). Selection uses the validation split carved from train; eval metrics are
printed only with `--report-eval` (for a final check, never for choosing).

`--holdout-percent P` first sets P % of the train split aside (a hash independent of the
validation carve-out's): every config trains on the rest, its own validation carve-out
included, and is measured on the holdout by the Trainer's evaluation (RMSE, catalog top-K,
per-user ranking). That compares configs that train on different parts of the split, such as
`refit` against early stopping alone, which the validation carve-out cannot.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

from experiments.common import append_jsonl, load_transformed, validation_metrics  # noqa: E402
from models import training  # noqa: E402
from models.data import split_holdout, split_time_holdout  # noqa: E402
from models.hparams import PRESETS  # noqa: E402
from names import RANKERS, RMSE_METRIC, TOP_100_METRIC, ndcg_metric  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline-root", required=True)
    parser.add_argument("--preset", default="seed", choices=sorted(PRESETS))
    parser.add_argument("--base", default="{}", help="JSON overrides applied to every config")
    parser.add_argument("--report-eval", action="store_true")
    parser.add_argument("--holdout-percent", type=int, default=0,
                        help="set this %% of train aside and measure every config on it")
    parser.add_argument("--time-holdout-percent", type=int, default=0,
                        help="set the latest %% of train by time aside (for --split time) and "
                             "measure every config on it, known and new users apart")
    parser.add_argument("--holdout-seed", type=int, default=None,
                        help="seed of the holdout's hash (default: the preset's seed); another "
                             "seed sets another part of train aside")
    parser.add_argument("--log", default="experiments/results/sweep.jsonl")
    parser.add_argument("configs", nargs="*", default=["{}"])
    args = parser.parse_args(argv)

    tf.config.experimental.enable_op_determinism()
    data = load_transformed(args.pipeline_root)
    train, evaluation = data.train, data.evaluation
    holdout = None
    if args.holdout_percent:
        holdout_seed = (PRESETS[args.preset].seed if args.holdout_seed is None
                        else args.holdout_seed)
        train, holdout = split_holdout(train, args.holdout_percent, holdout_seed)
    elif args.time_holdout_percent:
        holdout_seed = None
        train, holdout = split_time_holdout(train, args.time_holdout_percent)
    base = PRESETS[args.preset].with_overrides(json.loads(args.base))
    for overrides in args.configs:
        config = base.with_overrides(json.loads(overrides))
        started = time.time()
        result = training.fit(config, train, data.num_users, data.num_movies, verbose=0,
                              side=data.side)
        record = {"preset": args.preset, "base": json.loads(args.base),
                  "overrides": json.loads(overrides), "epochs_trained": result.epochs_trained,
                  "best_epoch": result.best_epoch,
                  "validation": validation_metrics(result.history, result.best_epoch),
                  "history": result.history,
                  "seconds": round(time.time() - started, 1)}
        if holdout is not None:
            record["holdout_percent"] = args.holdout_percent
            record["holdout_seed"] = holdout_seed
            measured = training.evaluate(result.model, config, train, holdout)
            record["holdout"] = measured.flat()
            record["holdout_by_user_group"] = measured.by_user_group
            if args.time_holdout_percent:
                record["time_holdout_percent"] = args.time_holdout_percent
        if args.report_eval:
            record["eval"] = training.evaluate(result.model, config, train, evaluation).flat()
        append_jsonl(args.log, record)
        val = record["validation"]
        print(f"{overrides}: epochs {result.epochs_trained} best {result.best_epoch} "
              f"val rmse {val.get(RMSE_METRIC, float('nan')):.4f} "
              f"top100 {val.get(TOP_100_METRIC, float('nan')):.4f}"
              + (f" | holdout rmse {record['holdout'][RMSE_METRIC]:.4f} top100 "
                 f"{record['holdout'][TOP_100_METRIC]:.4f} ndcg@10 "
                 f"{record['holdout'].get(ndcg_metric(10), float('nan')):.4f}"
                 if holdout is not None else "")
              + "".join(f" | {group} ndcg@10 " + " ".join(
                  f"{ranker} {part.get(ranker, {}).get(ndcg_metric(10), float('nan')):.4f}"
                  for ranker in RANKERS)
                  for group, part in record.get("holdout_by_user_group", {}).items())
              + (f" | EVAL rmse {record['eval'][RMSE_METRIC]:.4f} top100 "
                 f"{record['eval'][TOP_100_METRIC]:.4f} "
                 f"recall@100 {record['eval'].get('recall_at_100', float('nan')):.4f}"
                 if args.report_eval else "")
              + f" ({record['seconds']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
