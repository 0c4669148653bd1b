"""Record counts through the whole pipeline: every stage's check passes on the counts
ExampleGen recorded, fails when they differ from what the stage consumed, and holds with the
Beam stages on several worker processes."""

import dataclasses

import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx.types import standard_artifacts

import local_runner
import names
from components import record_counts
from components.gated_evaluator import check_evaluated_count, evaluated_counts
from components.transform.executor import analyzed_examples, reconcile_analysis
from models.data import check_rows

pytestmark = pytest.mark.pipeline

FIXTURE_RATINGS = 3000  # tests/conftest.py's pipeline fixture


def _examples_with(counts: record_counts.RecordCounts) -> standard_artifacts.Examples:
    artifact = standard_artifacts.Examples()
    record_counts.write_counts(artifact, counts)
    return artifact


def _recorded(first_run) -> record_counts.RecordCounts:
    return record_counts.RecordCounts.from_dict(first_run["record_counts"])


def test_the_run_summary_holds_what_example_gen_read_and_wrote(first_run):
    counts = _recorded(first_run)
    assert counts.ratings == FIXTURE_RATINGS
    assert counts.examples == FIXTURE_RATINGS - counts.superseded
    assert set(counts.splits) == {"train", "eval"} and min(counts.splits.values()) > 0
    (ratings_file,) = [name for name in counts.files if name.endswith("u.data")]
    assert counts.files[ratings_file].used == FIXTURE_RATINGS
    assert first_run["written_summary"]["record_counts"] == first_run["record_counts"]
    assert "Record counts: " in first_run["written_report"]


def test_transform_and_the_evaluator_consumed_what_example_gen_wrote_and_fail_otherwise(
        first_run):
    counts = _recorded(first_run)
    artifacts = first_run["artifacts"]
    tft_output = tft.TFTransformOutput(artifacts["Transform"]["transform_graph"])
    assert analyzed_examples(tft_output) == counts.examples
    reconcile_analysis(tft_output, [_examples_with(counts)], ["train", "eval"])
    one_more = dataclasses.replace(counts, splits={**counts.splits,
                                                   "train": counts.splits["train"] + 1})
    with pytest.raises(record_counts.RecordCountError,
                       match=f"Transform's analysis read {counts.examples:,} examples of split "
                             f"'train\\+eval' but ExampleGen recorded {counts.examples + 1:,}"):
        reconcile_analysis(tft_output, [_examples_with(one_more)], ["train", "eval"])
    one_user_less = dataclasses.replace(counts, users=counts.users - 1)
    with pytest.raises(record_counts.RecordCountError, match="distinct user ids"):
        reconcile_analysis(tft_output, [_examples_with(one_user_less)], ["train", "eval"])

    evaluation = artifacts[names.EVALUATOR_ID]["evaluation"]
    assert set(evaluated_counts(evaluation).values()) == {counts.splits["eval"]}
    check_evaluated_count(evaluation, [_examples_with(counts)], ["eval"])
    one_more = dataclasses.replace(counts, splits={**counts.splits,
                                                   "eval": counts.splits["eval"] + 1})
    with pytest.raises(record_counts.RecordCountError, match="The Evaluator.* read "
                       f"{counts.splits['eval']:,} examples of split 'eval'"):
        check_evaluated_count(evaluation, [_examples_with(one_more)], ["eval"])


def test_the_trainer_fails_on_another_number_of_rows_than_recorded():
    columns = {names.USER_INDEX: tf.zeros([5], tf.int64)}
    check_rows(columns, "train", {names.EXPECTED_ROWS_KEY: {"train": 5}})
    check_rows(columns, "train", {})  # nothing recorded (e.g. Vertex AI Training): no check
    with pytest.raises(record_counts.RecordCountError,
                       match="The Trainer read 5 examples of split 'eval' but ExampleGen "
                             "recorded 6"):
        check_rows(columns, "eval", {names.EXPECTED_ROWS_KEY: {"eval": 6}})


def test_the_beam_stages_on_two_worker_processes_reconcile(pipeline_config, first_run,
                                                          tmp_path):
    """--beam-workers 2: ExampleGen, StatisticsGen and the Evaluator on Beam's multi-process
    DirectRunner, every stage's count checked, the same books as in one process."""
    config = dataclasses.replace(pipeline_config, output_dir=str(tmp_path / "out"),
                                 beam_workers=2)
    summary = local_runner.run(config, experiment=True)
    states = {c["component"]: c["state"] for c in summary["components"]}
    assert set(states.values()) == {"executed"}, states
    assert names.EVALUATOR_ID in states
    assert summary["record_counts"] == first_run["record_counts"]
