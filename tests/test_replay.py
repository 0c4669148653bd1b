"""The replay (replay.py, runner/span_replay.py) on a tiny generated MovieLens: the pipeline
run span by span, a fault in a span stopping that run while the served model stays the
previous one."""

import json
import os

import pytest

from runner import span_replay, spans
from tests import movielens_fixture

pytestmark = pytest.mark.pipeline  # each span's run is a local_runner.py process

# Small and fast: one epoch, small batches, loose value thresholds (the fixture's figures are
# not the point); a serving config the 150-title catalog can hold.
RUNNER_ARGS = ("--epochs", "1", "--train-batch-size", "256", "--max-rmse", "3",
               "--min-top-100", "0",
               "--training-config-json", json.dumps({
                   "eval_batch_size": 256, "serving_max_k": 20, "serving_max_batch": 16,
                   "serving_max_exclusions": 4, "rerank_depth": 20}))


def test_a_shifted_span_stops_its_run_and_the_served_model_stays(tmp_path):
    source = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_users=100,
                                            num_movies=150, num_ratings=3000)
    config = span_replay.ReplayConfig(source=source, work_dir=str(tmp_path / "replay"), num_spans=2,
                                 first_percent=60, window=2, fault=spans.Fault("shift", 2),
                                 runner_args=RUNNER_ARGS)
    lines = []
    rows = span_replay.replay(config, log=lines.append)
    first, faulty = rows
    # Span 1: the first span, nothing to drift from; trained, blessed and served.
    assert first["stopped"] is None, first["stopped"]
    assert first["blessed"] is True and first["pushed_version"]
    assert first["serving_version"] == first["pushed_version"]
    assert first["drift"] == {}  # nothing to compare with
    assert first["rmse"] is not None and first["trainer_seconds"] > 0
    assert first["served_rmse"] is None  # nothing was served before it
    # Span 2, every rating 2 stars higher: DriftGate stops the run before Transform, naming
    # the rating's divergence; no model trained, the served version unchanged.
    assert faulty["fault"] == "shift"
    assert faulty["stopped"] and "user_rating Jensen-Shannon divergence" in faulty["stopped"]
    assert faulty["drift"]["user_rating"]["exceeded"] is True
    assert faulty["trainer_seconds"] is None and faulty["pushed_version"] is None
    assert faulty["serving_version"] == first["pushed_version"]
    serving = os.path.join(config.work_dir, "pipeline", "serving", "movielens")
    assert os.listdir(serving) == [first["pushed_version"]]
    # The table, its JSON and the plot.
    paths = span_replay.write(rows, config)
    assert all(os.path.getsize(path) > 0 for path in paths)
    table = open(paths[0]).read()
    assert "| 2 |" in table and "shift" in table and "user_rating" in table
    assert any("span 2" in line and "fault shift" in line for line in lines)
