"""`local_runner.py --compare`: experiment runs per weighting, a table, a plot, the Pareto front."""

import json
import os

import pytest

import local_runner
import names
from components.atomic_pusher import directory_digest
from pipeline.configs import ConfigError
from runner import compare


def test_pareto_front_keeps_the_non_dominated_points():
    # (rmse, top_100): lower rmse and higher top-100 are better
    points = [(1.10, 0.06), (3.80, 0.24), (1.09, 0.24), (1.20, 0.10), (1.09, 0.24)]
    assert compare.pareto_front(points) == [False, False, True, False, True]


def test_weight_settings_are_parsed_and_swept():
    assert compare.parse_weights("1,0.25") == (1.0, 0.25)
    with pytest.raises(ConfigError, match="expected RATING,RETRIEVAL"):
        compare.parse_weights("1;0")
    assert compare.sweep(3) == [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    with pytest.raises(ConfigError, match="at least 2"):
        compare.sweep(1)


def test_compare_runs_experiments_that_touch_neither_serving_nor_the_baseline(
        pipeline_config, first_run):
    serving_before = directory_digest(pipeline_config.serving_dir)
    summary_path = os.path.join(pipeline_config.output_dir, local_runner.SUMMARY_FILE)
    with open(summary_path) as f:
        summary_before = f.read()

    status = local_runner.main([
        "--data", pipeline_config.data.source, "--output-dir", pipeline_config.output_dir,
        "--epochs", str(pipeline_config.training.epochs), "--weights", "1,0", "0,1",
        # the fixture's other training settings are not flags: these runs train anew
    ])
    assert status == 0
    folder = os.path.join(pipeline_config.output_dir, compare.COMPARISON_DIR)
    with open(os.path.join(folder, "comparison.json")) as f:
        rows = json.load(f)
    assert [(r["rating_weight"], r["retrieval_weight"]) for r in rows] == [(1, 0), (0, 1)]
    for row in rows:
        assert all(row["components"][c] == "cached" for c in (
            "MovieLensExampleGen", "StatisticsGen", "SchemaGen", "Transform")), row["components"]
        assert row["components"]["Trainer"] == "executed"
        assert {"Pusher", "latest_blessed_model_resolver"}.isdisjoint(row["components"])
        assert row["metrics"][names.TFMA_RMSE] > 0
    # retrieval-only does not train the rating head: its RMSE is far worse (the seed's 3.77)
    assert rows[1]["metrics"][names.TFMA_RMSE] > rows[0]["metrics"][names.TFMA_RMSE]
    with open(os.path.join(folder, "comparison.md")) as f:
        table = f.read()
    assert table.count("\n") == 4 and "| (1, 0) |" in table and "| (0, 1) |" in table
    with open(os.path.join(folder, "comparison.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    assert directory_digest(pipeline_config.serving_dir) == serving_before
    with open(summary_path) as f:
        assert f.read() == summary_before
    rerun = local_runner.run(pipeline_config)  # experiments never become the baseline
    assert {c["state"] for c in rerun["components"]
            if c["component"] != "latest_blessed_model_resolver"} == {"cached"}
