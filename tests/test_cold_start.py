"""The cold-start study on the fixture pipeline's Transform output: held-out users scored from
their features, from the OOV row, and by popularity, with the Trainer's ranking code."""

import json

import numpy as np
import pytest

import names
from experiments import cold_start


def test_held_out_users_are_a_seeded_share():
    first = cold_start.held_out_users(1000, 10, seed=3)
    assert 60 < len(first) < 140
    np.testing.assert_array_equal(first, cold_start.held_out_users(1000, 10, seed=3))
    assert not np.array_equal(first, cold_start.held_out_users(1000, 10, seed=4))


@pytest.mark.pipeline
def test_the_study_scores_held_out_users_three_ways(first_run, pipeline_config, tmp_path):
    out = tmp_path / "cold"
    variants = ['{"epochs": 2}',
                '{"epochs": 2, "user_features": true, "movie_genres": true, '
                '"user_id_dropout": 0.2}']
    code = cold_start.main(["--pipeline-root", pipeline_config.pipeline_root,
                            "--preset", "seed", "--holdout-percent", "20", "--out", str(out),
                            *variants])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert 0 < results["held_out_users"] < 100
    id_only, with_features = results["rows"]
    # An id-only model has no features to score from: only its OOV row and popularity.
    assert set(id_only["cold"]) == {"oov row", "popularity"}
    assert set(with_features["cold"]) == {"features", "oov row", "popularity"}
    recall = names.recall_metric(100)
    for row in results["rows"]:
        assert row["cold"]["popularity"] == results["rows"][0]["cold"]["popularity"]
        for metrics in list(row["cold"].values()) + [row["warm"]]:
            assert 0.0 <= metrics[recall] <= 1.0
            assert metrics[names.RANKED_USERS] > 0
        # Every held-out user is ranked (none of their ratings trained the model).
        assert row["cold"]["oov row"][names.RANKED_USERS] == results["held_out_users"]
    # Features give held-out users different lists; the OOV row gives all of them one list.
    assert (with_features["cold"]["features"][names.coverage_metric(10)]
            > with_features["cold"]["oov row"][names.coverage_metric(10)])
    table = (out / "table.md").read_text()
    assert table.count("\n") == 4 and "user_features" in table
