"""The whole pipeline on a tiny generated MovieLens, with LocalDagRunner, as users run it."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import local_runner
from components.movielens_example_gen import make_example
from models import features
from models.hparams import TrainingConfig
from pipeline import configs
from tests import movielens_fixture

NUM_MOVIES = 60
EXPECTED_COMPONENTS = {
    "MovieLensExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomaliesGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher"}
UPSTREAM_OF_EVALUATOR = EXPECTED_COMPONENTS - {"latest_blessed_model_resolver", "Evaluator",
                                               "Pusher"}


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> configs.PipelineConfig:
    root = tmp_path_factory.mktemp("pipeline")
    data = movielens_fixture.write_ml100k(str(root / "ml-100k"), num_users=100,
                                          num_movies=NUM_MOVIES, num_ratings=3000)
    return configs.PipelineConfig(
        output_dir=str(root / "out"),
        data=configs.DataConfig(source=data),
        training=TrainingConfig(epochs=3, train_batch_size=256, eval_batch_size=256,
                                learning_rate=0.1),
        thresholds=configs.EvalThresholds(max_rmse=2.0, min_top_100_accuracy=0.5),
    )


@pytest.fixture(scope="module")
def first_run(config):
    return local_runner.run(config)


def _states(summary):
    return {c["component"]: c["state"] for c in summary["components"]}


def test_first_run_blesses_and_pushes_a_model_with_sane_metrics(config, first_run):
    summary = first_run
    assert set(_states(summary)) == EXPECTED_COMPONENTS
    assert set(_states(summary).values()) == {"executed"}
    assert all(c["wall_seconds"] >= 0 for c in summary["components"])

    metrics = summary["eval_metrics"]
    assert 0.3 < metrics["rating/root_mean_squared_error"] < 2.0
    top = [metrics[f"retrieval/top_{k}_categorical_accuracy"] for k in (1, 5, 10, 50, 100)]
    assert all(0.0 <= t <= 1.0 for t in top) and top == sorted(top)
    assert top[-1] == 1.0  # 60 titles: the true one is always among the top 100
    assert top[0] < 0.5

    assert summary["blessed"] is True
    pushed = summary["pushed_model"]
    assert pushed and os.path.dirname(pushed) == config.serving_dir
    assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
    with open(os.path.join(config.output_dir, local_runner.SUMMARY_FILE)) as f:
        assert json.load(f)["pushed_model"] == pushed


def test_tfma_top_k_agrees_with_keras_factorized_top_k(config, first_run):
    trainer_runs = os.path.join(config.pipeline_root, "Trainer", "model_run")
    (run_dir,) = os.listdir(trainer_runs)
    with open(os.path.join(trainer_runs, run_dir, "keras_eval_metrics.json")) as f:
        keras_metrics = json.load(f)
    tfma_metrics = first_run["eval_metrics"]
    assert abs(keras_metrics["root_mean_squared_error"]
               - tfma_metrics["rating/root_mean_squared_error"]) < 1e-3
    for k in (1, 5, 10):  # 50 and 100 cover (almost) the whole tiny catalog: ties dominate
        assert abs(keras_metrics[f"factorized_top_k/top_{k}_categorical_accuracy"]
                   - tfma_metrics[f"retrieval/top_{k}_categorical_accuracy"]) < 0.02


def test_pushed_model_serves_with_tensorflow_alone(config, first_run, tmp_path):
    examples = [make_example("1", "Misérables, Les (1995)", 4.0, 881250949, "1", [8], 0, 18.0,
                             "student", "10001"),
                make_example("2", "Movie 10 (1959)", 3.0, 881250949, "10", [1], 1, 25.0,
                             "writer", "10002")]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"examples": [e.SerializeToString().hex() for e in examples]}))
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run(
        [sys.executable, os.path.join(os.path.dirname(__file__), "serving_check.py"),
         first_run["pushed_model"], str(request)],
        capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["blocked_modules_loaded"] == []
    served = output["signatures"][features.SERVING_SIGNATURE]
    assert len(served[features.RATING_OUTPUT]) == 2 and len(served[features.RATING_OUTPUT][0]) == 1
    assert [len(row) for row in served[features.RETRIEVAL_OUTPUT]] == [NUM_MOVIES, NUM_MOVIES]
    transformed = output["signatures"][features.TRANSFORM_SIGNATURE]
    assert all(0 <= i < NUM_MOVIES for i in transformed[features.MOVIE_INDEX])


def test_rerun_with_nothing_changed_reuses_every_upstream_output(config, first_run):
    summary = local_runner.run(config)
    states = _states(summary)
    assert all(states[c] == "cached" for c in UPSTREAM_OF_EVALUATOR), states


def test_a_model_failing_the_thresholds_is_not_blessed_nor_pushed(config, first_run):
    versions_before = sorted(os.listdir(config.serving_dir))
    strict = dataclasses.replace(
        config, thresholds=dataclasses.replace(config.thresholds, max_rmse=0.01))
    summary = local_runner.run(strict)
    assert _states(summary)["Trainer"] == "cached"
    assert summary["blessed"] is False
    assert summary["pushed_model"] is None
    assert sorted(os.listdir(config.serving_dir)) == versions_before
