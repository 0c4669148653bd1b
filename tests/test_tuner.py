"""The optional Tuner: its best values, found on a validation split of train, train the model."""

import dataclasses
import glob
import json
import os

import pytest

import local_runner
import names
from models import tuner


def test_objective_combines_both_tasks_at_the_kept_epoch():
    history = {tuner.RMSE_LOG: [1.2, 1.0, 1.1], tuner.TOP_100_LOG: [0.1, 0.3, 0.35]}
    assert tuner.objective(history, best_epoch=2) == {
        tuner.OBJECTIVE: 1.0 - 0.3, "val_rmse": 1.0, "val_top_100": 0.3}


def test_after_the_rating_heads_own_epochs_the_objective_takes_their_rmse():
    history = {tuner.RMSE_LOG: [1.2, 1.0, 1.1], tuner.TOP_100_LOG: [0.1, 0.3, 0.35],
               names.RATING_HEAD_HISTORY_PREFIX + tuner.RMSE_LOG: [0.98, 0.95, 0.97]}
    assert tuner.objective(history, best_epoch=2, rating_head_epochs=2) == {
        tuner.OBJECTIVE: 0.95 - 0.3, "val_rmse": 0.95, "val_top_100": 0.3}


@pytest.mark.pipeline
def test_the_tuners_best_hyperparameters_train_the_model(pipeline_config, first_run):
    config = dataclasses.replace(pipeline_config, tuner_trials=2)
    summary = local_runner.run(config, experiment=True)  # nothing pushed, no new baseline
    states = {c["component"]: c["state"] for c in summary["components"]}
    assert states["Tuner"] == "executed" and states["Transform"] == "cached"
    root = pipeline_config.pipeline_root
    (best_file,) = glob.glob(os.path.join(root, "Tuner", "best_hyperparameters", "*", "*"))
    with open(best_file) as f:
        best = json.load(f)["values"]
    assert set(best) == {"rating_weight", "retrieval_weight", "learning_rate", "embedding_dim",
                         "epochs"}
    trained = max(glob.glob(os.path.join(root, "Trainer", "model_run", "*",
                                         "training_config.json")), key=os.path.getmtime)
    with open(trained) as f:
        used = json.load(f)
    assert {name: used[name] for name in best} == best
    assert used["validation_percent"] == pipeline_config.training.validation_percent  # not tuned
