"""Cold start: what the model recommends to users it never trained on.

    python -m experiments.cold_start --pipeline-root /tmp/run/pipeline_root --preset best \
        --out docs/cold_start

A seeded `--holdout-percent` of the users is taken out of training entirely (their train-split
ratings too); every one of their ratings, train and eval split, is then what they should be
recommended. Each variant (a JSON object of TrainingConfig overrides over the preset) is
trained on the other users' train split and scored for the held-out users three ways, by the
per-user metrics of the Trainer (models/evaluation.py; rated titles removed: they have none):

- `features`: the OOV id and the user's side features (age, gender, occupation, zip prefix),
  what the exported model's `serving_default` computes for an unknown user sent with them;
- `oov row`: the OOV id alone, what every serving signature gives an unknown user (without
  user features, or with none sent);
- `popularity`: the most-rated titles of the training users.

The warm users' eval-split recall shows what each variant costs the users it trained on.
Writes results.json and table.md to `--out`.
"""

import argparse
import json
import os
import sys
import time
from typing import Dict, List

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import names  # noqa: E402
from experiments.common import load_transformed  # noqa: E402
from models import towers, training  # noqa: E402
from models.data import Columns, select  # noqa: E402
from models.evaluation import ScoreFn, popularity_scorer, user_ranking_metrics  # noqa: E402
from models.hparams import PRESETS  # noqa: E402
from models.model import MovieLensModel  # noqa: E402
from models.side_features import SideFeatures  # noqa: E402

DEFAULT_VARIANTS = (
    '{}',
    '{"user_id_dropout": 0.1}',
    '{"user_features": true, "user_id_dropout": 0.1}',
    '{"user_features": true, "movie_genres": true, "user_id_dropout": 0.1}',
)
KS = (10, 100)
REPORTED = (names.recall_metric(100), names.ndcg_metric(10))


def held_out_users(num_users: int, percent: float, seed: int) -> np.ndarray:
    """Sorted user indices of a seeded `percent` % of the users."""
    chosen = np.random.default_rng(seed).random(num_users) < percent / 100
    return np.flatnonzero(chosen)


def _numpy(columns: Columns) -> Dict[str, np.ndarray]:
    return {name: np.asarray(values) for name, values in columns.items()}


def cold_scorer(model: MovieLensModel, side: SideFeatures, num_users: int,
                with_features: bool) -> ScoreFn:
    """Scores of users as unknown users: the OOV id, with their side features (from the
    feature table, as a request would carry them) or without."""
    catalog = model.catalog_embeddings()

    def score(users: np.ndarray) -> np.ndarray:
        oov = tf.fill([len(users)], tf.constant(num_users, tf.int64))
        inputs = oov
        if with_features:
            inputs = {names.USER_INDEX: oov}
            for column, name in enumerate(names.USER_FEATURE_INDICES):
                inputs[name] = tf.constant(side.user_features[users, column])
        return tf.linalg.matmul(model.user_tower(inputs), catalog, transpose_b=True).numpy()

    return score


def table(rows: List[dict]) -> str:
    """The markdown table of the study."""
    header = ("| variant | cold: features recall@100 / NDCG@10 | cold: OOV row | "
              "cold: popularity | warm users' recall@100 |")
    lines = [header, "|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for scorer in ("features", "oov row", "popularity"):
            values = row["cold"].get(scorer)
            cells.append("—" if values is None else " / ".join(
                f"{values[name]:.4f}" for name in REPORTED))
        lines.append(f"| `{json.dumps(row['overrides'])}` | " + " | ".join(cells)
                     + f" | {row['warm'][names.recall_metric(100)]:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline-root", required=True,
                        help="a pipeline run's root (its newest ExampleGen and Transform)")
    parser.add_argument("--preset", default="best", choices=sorted(PRESETS))
    parser.add_argument("--holdout-percent", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0, help="which users are held out")
    parser.add_argument("--out", required=True)
    parser.add_argument("variants", nargs="*", default=list(DEFAULT_VARIANTS),
                        help="JSON TrainingConfig overrides over the preset, one per variant")
    args = parser.parse_args(argv)
    if not 0 < args.holdout_percent < 100:
        parser.error(f"--holdout-percent must be in (0, 100), got {args.holdout_percent}")

    tf.config.experimental.enable_op_determinism()
    data = load_transformed(args.pipeline_root)
    if data.side.user_features is None:
        parser.error(f"{args.pipeline_root}: its data has no user side features (a GroupLens "
                     "100k or 1m source has them)")
    cold = held_out_users(data.num_users, args.holdout_percent, args.seed)
    is_cold = lambda columns: tf.constant(  # noqa: E731
        np.isin(np.asarray(columns[names.USER_INDEX]), cold))
    warm_train = select(data.train, tf.logical_not(is_cold(data.train)))
    warm_eval = select(data.evaluation, tf.logical_not(is_cold(data.evaluation)))
    cold_ratings = _numpy({name: tf.concat([data.train[name], data.evaluation[name]], 0)
                           for name in data.train})
    cold_ratings = {name: values[np.isin(cold_ratings[names.USER_INDEX], cold)]
                    for name, values in cold_ratings.items()}
    warm_train_np = _numpy(warm_train)
    print(f"held out {len(cold)} of {data.num_users} users "
          f"({len(cold_ratings[names.USER_INDEX])} ratings)", flush=True)
    popularity = user_ranking_metrics(
        popularity_scorer(warm_train_np, data.num_movies), data.num_movies, warm_train_np,
        cold_ratings, KS)

    os.makedirs(args.out, exist_ok=True)
    rows = []
    for overrides in args.variants:
        config = PRESETS[args.preset].with_overrides(
            {**json.loads(overrides), "recall_ks": list(KS)})
        started = time.time()
        result = training.fit(config, warm_train, data.num_users, data.num_movies, verbose=0,
                              side=data.side)
        model = result.model
        row = {"overrides": json.loads(overrides), "preset": args.preset,
               "epochs_trained": result.epochs_trained, "best_epoch": result.best_epoch,
               "cold": {"popularity": popularity}}
        scorers = {"oov row": False}
        if isinstance(towers.inner_tower(model.user_tower), towers.UserTower):
            scorers["features"] = True
        for name, with_features in scorers.items():
            row["cold"][name] = user_ranking_metrics(
                cold_scorer(model, data.side, data.num_users, with_features),
                data.num_movies, warm_train_np, cold_ratings, KS)
        row["warm"] = user_ranking_metrics(training.user_scorer(model), data.num_movies,
                                           warm_train_np, _numpy(warm_eval), KS)
        row["seconds"] = round(time.time() - started, 1)
        rows.append(row)
        print(f"{overrides}: " + ", ".join(
            f"{name} recall@100 {values[names.recall_metric(100)]:.4f}"
            for name, values in row["cold"].items()) + f" ({row['seconds']} s)", flush=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"holdout_percent": args.holdout_percent, "seed": args.seed,
                       "held_out_users": len(cold), "rows": rows}, f, indent=2, sort_keys=True)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table(rows) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
