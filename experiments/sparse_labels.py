"""Sparse explicit labels: keep p % of the training ratings and compare, on the eval split,

- rating-only: rating_weight 1, retrieval_weight 0, trained on the labelled p % only;
- joint: the same preset's weights, trained on every training interaction, p % of them rated
  (the others masked out of the rating loss, still used by retrieval).

    python -m experiments.sparse_labels --data /work/shared/data/ml-100k --out docs/sparse_labels
    python -m experiments.sparse_labels --pipeline-root /tmp/wtm/best/pipeline_root --out ...

With `--data` it runs the pipeline (tutorial settings, cached) into `--work-dir` to get the
split and vocabularies; with `--pipeline-root` it reuses a run's Transform output. The labels
kept are chosen by a seeded hash of the (user, movie) pair, the same for both models (and
nested: the 5 % are among the 10 %). Both models stop early on the RMSE of a validation split
carved from train (its labelled examples), never on eval. Writes results.json, table.md and
rmse_vs_labels.png.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

from experiments.common import load_transformed, validation_metrics  # noqa: E402
from models import training  # noqa: E402
from models.hparams import PRESETS  # noqa: E402
from names import RMSE_METRIC as RMSE  # noqa: E402
from names import TOP_100_METRIC as TOP_100


def _pipeline_root(args: argparse.Namespace) -> str:
    if args.pipeline_root:
        return args.pipeline_root
    import local_runner
    from pipeline import configs

    config = configs.PipelineConfig(output_dir=os.path.abspath(args.work_dir),
                                    data=configs.DataConfig(source=args.data))
    local_runner.run(config)
    return config.pipeline_root


def table(rows) -> str:
    lines = ["| labels kept p % | rated train examples | rating-only RMSE | joint RMSE "
             "| joint − rating-only | joint top-100 | epochs (rating-only / joint) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        r, j = row["rating_only"], row["joint"]
        lines.append(f"| {row['percent']} | {r['rated_fit_examples']:,} | {r['eval'][RMSE]:.4f} "
                     f"| {j['eval'][RMSE]:.4f} | {j['eval'][RMSE] - r['eval'][RMSE]:+.4f} "
                     f"| {j['eval'][TOP_100]:.4f} | {r['best_epoch']}/{r['epochs_trained']} "
                     f"· {j['best_epoch']}/{j['epochs_trained']} |")
    return "\n".join(lines) + "\n"


def write_png(series, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 4.8), dpi=120)
    for name, points in series.items():
        axes.plot(*zip(*points), marker="o", label=name)
    axes.set_xscale("log")
    axes.set_xlabel("labels kept, p % (log scale)")
    axes.set_ylabel("eval RMSE")
    axes.set_title("Eval RMSE vs share of training ratings kept")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def replot(out: str) -> None:
    """Table and plots again from `out`/results.json (no training)."""
    with open(os.path.join(out, "results.json")) as f:
        rows = json.load(f)
    write_outputs(rows, out)


def write_outputs(rows, out: str) -> None:
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table(rows))
    series = {name: [(row["percent"], row[key]["eval"][RMSE]) for row in rows]
              for name, key in (("rating-only", "rating_only"), ("joint", "joint"))}
    write_png(series, os.path.join(out, "rmse_vs_labels.png"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="GroupLens ml-100k folder or zip")
    source.add_argument("--pipeline-root", help="a run's pipeline_root (its Transform output)")
    parser.add_argument("--work-dir", default="/tmp/sparse_labels_pipeline")
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", default="best", choices=sorted(PRESETS))
    parser.add_argument("--percents", default="5,10,25,100")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--models", default="rating_only,joint",
                        help="which of rating_only,joint to train (table and plot need both)")
    parser.add_argument("--rating-only-json", default="{}",
                        help="TrainingConfig overrides for the rating-only model only")
    args = parser.parse_args(argv)

    tf.config.experimental.enable_op_determinism()
    data = load_transformed(_pipeline_root(args))
    train, evaluation = data.train, data.evaluation
    preset = PRESETS[args.preset].with_overrides(
        {"epochs": args.max_epochs, "early_stopping_monitor": "rmse", "recall_ks": []})
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for percent in [int(p) for p in args.percents.split(",")]:
        row = {"percent": percent}
        rating_only = {**json.loads(args.rating_only_json),
                       "rating_weight": 1.0, "retrieval_weight": 0.0}
        for name, weights in (("rating_only", rating_only), ("joint", {})):
            if name not in args.models.split(","):
                continue
            config = preset.with_overrides({**weights, "label_fraction": percent / 100})
            started = time.time()
            result = training.fit(config, train, data.num_users, data.num_movies, verbose=0,
                                  side=data.side)
            row[name] = {
                "config": json.loads(config.to_json()),
                "epochs_trained": result.epochs_trained, "best_epoch": result.best_epoch,
                "rated_fit_examples": result.rated_fit_examples,
                "fit_examples": result.fit_examples,
                "validation": validation_metrics(result.history, result.best_epoch),
                "eval": training.evaluate(result.model, config, train, evaluation).flat(),
                "seconds": round(time.time() - started, 1)}
            print(f"p={percent}% {name}: eval RMSE {row[name]['eval'][RMSE]:.4f} "
                  f"({row[name]['seconds']} s)", flush=True)
        rows.append(row)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(rows, f, indent=2, sort_keys=True)

    if all("rating_only" in row and "joint" in row for row in rows):
        write_outputs(rows, args.out)
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
