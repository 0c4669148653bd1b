"""Cutting a GroupLens dataset by time into span folders (runner/spans.py): the replay's input."""

import dataclasses
import os

import numpy as np
import pytest

from movielens import grouplens
from runner import span_replay, spans
from tests import movielens_fixture


def _ratings(folder: str):
    layout = grouplens.locate(folder)
    return [dataclasses.astuple(r) for _, r in grouplens.read_ratings(layout)]


@pytest.mark.parametrize("write", [movielens_fixture.write_ml100k, movielens_fixture.write_csv])
def test_spans_partition_the_ratings_by_time_in_the_source_format(tmp_path, write):
    source = write(str(tmp_path / "source"), num_ratings=600)
    infos, malformed = spans.cut(source, str(tmp_path / "spans"), spans=4, first_percent=40)
    folders = spans.span_folders(str(tmp_path / "spans"))
    assert [os.path.basename(f) for f in folders] == ["span-1", "span-2", "span-3", "span-4"]
    per_span = [_ratings(folder) for folder in folders]  # each folder reads as GroupLens data
    original = _ratings(source)
    assert malformed == 0
    assert sorted(r for part in per_span for r in part) == sorted(original)  # nothing lost
    for earlier, later in zip(per_span, per_span[1:]):  # disjoint in time, in order
        assert max(r[3] for r in earlier) < min(r[3] for r in later)
    assert len(per_span[0]) == pytest.approx(0.4 * len(original), abs=1)
    assert [info.ratings for info in infos] == [len(part) for part in per_span]
    seen_users = {r[0] for r in per_span[0]}
    assert infos[0].new_users == len(seen_users)
    assert infos[1].new_users == len({r[0] for r in per_span[1]} - seen_users)
    assert os.path.exists(os.path.join(folders[2], grouplens.locate(source).spec.movies.name))


def test_a_shift_fault_raises_that_span_only_by_two_stars_capped(tmp_path):
    source = movielens_fixture.write_ml100k(str(tmp_path / "source"), num_ratings=600)
    clean, _ = spans.cut(source, str(tmp_path / "clean"), spans=3)
    spans.cut(source, str(tmp_path / "faulty"), spans=3, fault=spans.Fault.parse("shift:2"))
    before = [_ratings(f) for f in spans.span_folders(str(tmp_path / "clean"))]
    after = [_ratings(f) for f in spans.span_folders(str(tmp_path / "faulty"))]
    assert before[0] == after[0] and before[2] == after[2]
    assert [min(r[2] + 2, 5) for r in before[1]] == [r[2] for r in after[1]]
    assert np.mean([r[2] for r in after[1]]) > np.mean([r[2] for r in before[1]]) + 1


def test_a_swap_fault_moves_every_rating_of_the_span_to_another_title(tmp_path):
    source = movielens_fixture.write_ml1m(str(tmp_path / "source"))
    infos, _ = spans.cut(source, str(tmp_path / "faulty"), spans=3,
                         fault=spans.Fault("swap", 3))
    clean, _ = spans.cut(source, str(tmp_path / "clean"), spans=3)
    before = _ratings(spans.span_folders(str(tmp_path / "clean"))[2])
    after = _ratings(spans.span_folders(str(tmp_path / "faulty"))[2])
    assert [r[0] for r in before] == [r[0] for r in after]
    assert all(a[1] != b[1] for a, b in zip(after, before))
    assert [info.fault for info in infos] == ["", "", "swap"]


def test_bad_requests_name_what_is_wrong(tmp_path):
    source = movielens_fixture.write_ml100k(str(tmp_path / "source"), num_ratings=60)
    with pytest.raises(spans.SpanCutError, match="fault 'tilt:2'"):
        spans.Fault.parse("tilt:2")
    with pytest.raises(spans.SpanCutError, match="past the last span"):
        spans.cut(source, str(tmp_path / "a"), spans=3, fault=spans.Fault("shift", 4))
    with pytest.raises(spans.SpanCutError, match="at least 2 spans"):
        spans.cut(source, str(tmp_path / "b"), spans=1)
    with pytest.raises(spans.SpanCutError, match="cannot be cut into 100 non-empty spans"):
        spans.cut(source, str(tmp_path / "c"), spans=100)
    with pytest.raises(spans.SpanCutError, match="fault span must be 2 or later"):
        span_replay.ReplayConfig(source, str(tmp_path / "d"), fault=spans.Fault("shift", 1))


def test_the_table_marks_a_stopped_span_and_keeps_the_served_version(tmp_path):
    row = {"span": 3, "ratings": 1200, "new_users": 2, "new_titles": 0, "fault": "shift",
           "drift": {names_key: {"distance": 0.41, "threshold": 0.1, "exceeded": True}
                     for names_key in ("user_rating",)},
           "rmse": None, "top_100": None, "served_rmse": 1.1, "served_top_100": None,
           "recall_at_100": None, "ndcg_at_10": None,
           "blessed": None, "pushed_version": None, "serving_version": "17",
           "trainer_seconds": None, "run_seconds": 31.0, "stopped": "drift: user_rating | x"}
    table = span_replay.markdown([row])
    assert "user_rating 0.410 (> 0.1)" in table and "| 17 |" in table
    assert "| — (1.1000) | — (—) |" in table  # the served model's figures beside
    assert "drift: user_rating / x" in table
    span_replay.plot([row], str(tmp_path / "replay.png"))
    assert os.path.getsize(tmp_path / "replay.png") > 0


def test_a_stopped_run_s_reason_is_its_error_block_else_the_end_of_its_stderr():
    stderr = ("noise\nTraceback ...\nerror: the data drifted from the previous span's:\n"
              "  drift: user_rating Jensen-Shannon divergence 0.6 > 0.03 between span 2 and "
              "span 1 (train)\n\n")
    assert span_replay.stop_reason(stderr) == (
        "error: the data drifted from the previous span's: / drift: user_rating "
        "Jensen-Shannon divergence 0.6 > 0.03 between span 2 and span 1 (train)")
    assert span_replay.stop_reason("a\nb\nc\nValueError: x\n") == "b / c / ValueError: x"
    # A stopped gate leaves no drift.json: the drifted features come from its message.
    drift = span_replay.drift_distances({}, stderr + stderr.replace("0.6", "0.7").replace(
        "(train)", "(eval)"))
    assert drift == {"user_rating": {"distance": 0.7, "threshold": 0.03, "exceeded": True,
                                     "measure": "Jensen-Shannon divergence"}}

