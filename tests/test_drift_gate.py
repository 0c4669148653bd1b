"""Drift between spans: DriftGate finds the previous span's statistics among the pipeline's,
runs TFDV's comparators of the curated schema on real statistics of the two spans, and stops
(or warns) past a threshold naming feature, distance and threshold."""

import json
import logging
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

import names
from components import drift_gate
from components.anomalies_gate import ANOMALIES_FILE
from components.curated_schema_gen import schema_path
from components.drift_gate import previous_span_statistics
from models.hparams import ConfigError
from pipeline.configs import PipelineConfig

SPLITS = {"train": 2000, "eval": 500}
DAY = 86400
SPAN_1_START = 880000000


def _ratings(size, seed, start):
    """Ratings of one period, all spans drawn alike: 60 users, 40 titles with a Zipf
    popularity, ML-100K's star shares; `start`: the period's first second."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / (np.arange(40) + 1.0)
    return pd.DataFrame({
        names.USER_ID: rng.integers(1, 61, size).astype(str),
        names.MOVIE_TITLE: [f"Movie {i} (1995)"
                            for i in rng.choice(40, size, p=popularity / popularity.sum())],
        names.USER_RATING: rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size,
                                      p=[0.06, 0.11, 0.27, 0.35, 0.21]),
        names.TIMESTAMP: np.sort(rng.integers(start, start + 30 * DAY, size)),
    })


def _statistics(tmp_path, artifact_id, span, shift=None):
    """An ExampleStatistics artifact as StatisticsGen writes it (Split-*/FeatureStats.pb), of
    one span's ratings, optionally `shift`ed (a function of the DataFrame)."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.id = artifact_id
    artifact.uri = str(tmp_path / str(artifact_id))
    artifact.span = span
    artifact.split_names = artifact_utils.encode_split_names(list(SPLITS))
    for index, (split, size) in enumerate(SPLITS.items()):
        frame = _ratings(size, seed=span * 10 + index,
                         start=SPAN_1_START + (span - 1) * 30 * DAY)
        if shift is not None:
            frame = shift(frame)
        statistics = tfdv.generate_statistics_from_dataframe(frame)
        io_utils.write_bytes_file(os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb"),
                                  statistics.SerializeToString())
    return artifact


def _two_stars_more(frame):
    return frame.assign(**{names.USER_RATING: np.minimum(frame[names.USER_RATING] + 2, 5.0)})


def _titles_swapped(frame):
    """Every title replaced by the one half the catalog away (runner/spans.py's `swap`)."""
    swapped = {f"Movie {i} (1995)": f"Movie {(i + 20) % 40} (1995)" for i in range(40)}
    return frame.assign(**{names.MOVIE_TITLE: frame[names.MOVIE_TITLE].map(swapped)})


def _one_title_floods(frame):
    """A third of the ratings carry one title (a placeholder from a broken join)."""
    titles = frame[names.MOVIE_TITLE].copy()
    titles.iloc[::3] = "Unknown (1900)"
    return frame.assign(**{names.MOVIE_TITLE: titles})


@pytest.fixture(scope="module")
def schema():
    return tfdv.load_schema_text(schema_path(PipelineConfig("x").schema_file))


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    """Span 1, span 2 drawn as span 1 was, and span 2 shifted two ways."""
    root = tmp_path_factory.mktemp("statistics")
    return {"1": _statistics(root, 1, 1), "2": _statistics(root, 2, 2),
            "2+2 stars": _statistics(root, 3, 2, _two_stars_more),
            "2 one title": _statistics(root, 4, 2, _one_title_floods),
            "2 swapped": _statistics(root, 5, 2, _titles_swapped)}


def _anomalies(tmp_path):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    return artifact


def _written(anomalies):
    with open(os.path.join(anomalies.uri, names.DRIFT_FILE)) as f:
        report = json.load(f)
    diffs = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        diffs[split] = anomalies_pb2.Anomalies()
        diffs[split].ParseFromString(io_utils.read_bytes_file(
            os.path.join(anomalies.uri, f"Split-{split}", ANOMALIES_FILE)))
    return report, diffs


def _passed(*spans):
    """DriftGate outputs saying these spans passed both gates (as a passing run publishes)."""
    checks = []
    for span in spans:
        check = standard_artifacts.ExampleAnomalies()
        check.span = span
        check.set_int_custom_property(names.DRIFT_PASSED_KEY, 1)
        checks.append(check)
    return checks


def _run_executor(tmp_path, current, all_statistics, mode, checks=None):
    """DriftGate's executor as TFX calls it, on the curated schema in a Schema artifact; by
    default every span of `all_statistics` passed its gates."""
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    shutil.copy(schema_path(PipelineConfig("x").schema_file), schema.uri)
    anomalies = _anomalies(tmp_path)
    drift_gate.DriftGateExecutor().Do(
        {drift_gate.STATISTICS_KEY: [current], drift_gate.SCHEMA_KEY: [schema],
         drift_gate.ALL_STATISTICS_KEY: all_statistics,
         drift_gate.CHECKS_KEY: (_passed(*{a.span for a in all_statistics}) if checks is None
                                 else checks)},
        {drift_gate.OUTPUT_KEY: [anomalies]},
        {drift_gate.MODE_KEY: mode, names.CODE_FINGERPRINT_KEY: "x"})
    return anomalies


def test_a_span_like_the_previous_passes_and_every_distance_is_recorded(tmp_path, spans):
    anomalies = _run_executor(tmp_path, spans["2"], [spans["1"], spans["2"]], "stop")
    report, diffs = _written(anomalies)
    assert (report["current_span"], report["previous_span"], report["drift"]) == (2, 1, [])
    assert anomalies.get_int_custom_property(drift_gate.PREVIOUS_STATISTICS_ID_KEY) == 1
    l_inf, js = "L-infinity distance", "Jensen-Shannon divergence"
    compared = {(names.USER_ID, l_inf), (names.MOVIE_TITLE, l_inf), (names.MOVIE_TITLE, js),
                (names.USER_RATING, js), (names.TIMESTAMP, js)}
    measured = {(m["split"], m["feature"], m["measure"]): m for m in report["measurements"]}
    assert set(measured) == {(split, *c) for split in SPLITS for c in compared}
    assert not any(m["drifted"] for m in measured.values())
    assert measured["train", names.USER_RATING, js]["threshold"] == pytest.approx(0.03)
    # The spans cover disjoint periods: the timestamp's divergence is TFDV's maximum, 1, which
    # its threshold (1.0) lets pass.
    assert measured["train", names.TIMESTAMP, js]["value"] == pytest.approx(1.0)
    assert measured["train", names.TIMESTAMP, js]["threshold"] == 1.0
    # Per feature (the replay's table), the title by measure: the largest over the splits.
    features = report["features"]
    assert set(features) == {names.USER_ID, "movie_title L-inf", "movie_title JS",
                             names.USER_RATING, names.TIMESTAMP}
    assert features[names.USER_RATING]["distance"] == max(
        measured[split, names.USER_RATING, js]["value"] for split in SPLITS)
    assert not any(f["exceeded"] for f in features.values())
    # TFX's layout; the schema's other checks (features these examples lack) are left out.
    assert set(diffs) == set(SPLITS)
    assert all(not d.anomaly_info and len(d.drift_skew_info) == 4 for d in diffs.values())
    assert anomalies.get_json_value_custom_property(drift_gate.BLESSED_KEY) == {
        "train": 1, "eval": 1}
    assert anomalies.span == 2
    assert "no drift" in anomalies.get_string_custom_property(names.DRIFT_SUMMARY_KEY)


@pytest.mark.parametrize("shifted, feature, measure, threshold", [
    ("2+2 stars", names.USER_RATING, "Jensen-Shannon divergence", "0.03"),
    ("2 one title", names.MOVIE_TITLE, "L-infinity distance", "0.15"),
    ("2 swapped", names.MOVIE_TITLE, "Jensen-Shannon divergence", "0.3")])
def test_a_shifted_span_stops_the_run_naming_feature_distance_and_threshold(
        tmp_path, spans, schema, shifted, feature, measure, threshold):
    anomalies = _anomalies(tmp_path)
    with pytest.raises(drift_gate.DataDriftError) as stopped:
        drift_gate.check_drift(spans[shifted], [spans["1"], spans[shifted]], schema,
                               anomalies, "stop", _passed(1))
    message = str(stopped.value)
    for split in SPLITS:
        line = (rf"\n  drift: {feature} {measure} 0\.\d+ > {re.escape(threshold)} between "
                rf"span 2 and span 1 \({split}\)")
        assert re.search(line, message), message
    other = names.MOVIE_TITLE if feature == names.USER_RATING else names.USER_RATING
    assert other not in message and names.TIMESTAMP not in message
    # Recorded before the run stops: TFDV's anomaly, the distance and the threshold.
    report, diffs = _written(anomalies)
    assert set(diffs["train"].anomaly_info) == {feature}
    drifted = [m for m in report["measurements"] if m["drifted"]]
    assert {(m["split"], m["feature"]) for m in drifted} == {(s, feature) for s in SPLITS}
    assert all(m["value"] > m["threshold"] for m in drifted)
    assert anomalies.get_json_value_custom_property(drift_gate.BLESSED_KEY) == {
        "train": 0, "eval": 0}
    assert not anomalies.get_int_custom_property(names.DRIFT_PASSED_KEY)  # a refused span


def test_the_warn_mode_lets_the_run_go_on_and_still_records(tmp_path, spans, schema, caplog):
    anomalies = _anomalies(tmp_path)
    with caplog.at_level(logging.WARNING):
        lines = drift_gate.check_drift(spans["2+2 stars"], [spans["1"]], schema, anomalies,
                                       "warn", _passed(1))
    assert lines and all("user_rating Jensen-Shannon divergence" in line for line in lines)
    assert "drift: user_rating Jensen-Shannon divergence" in caplog.text
    report, _ = _written(anomalies)
    assert report["mode"] == "warn" and report["drift"] == lines
    assert "drift in 2 comparison(s)" in anomalies.get_string_custom_property(
        names.DRIFT_SUMMARY_KEY)
    assert anomalies.get_int_custom_property(names.DRIFT_PASSED_KEY) == 1  # it went on


def _as_span(statistics, span, artifact_id):
    """The same statistics, recorded as another span's."""
    copy = standard_artifacts.ExampleStatistics()
    copy.uri, copy.split_names, copy.span, copy.id = (statistics.uri, statistics.split_names,
                                                      span, artifact_id)
    return copy


def test_a_refused_span_is_no_reference_for_the_next(tmp_path, spans):
    """Span 1 passed; the shifted span 2 has statistics but no passing check (its run
    stopped): span 3, drawn like span 1, is compared with span 1 and passes."""
    current = _as_span(spans["2"], 3, 99)
    every = [spans["1"], spans["2+2 stars"], current]
    anomalies = _run_executor(tmp_path, current, every, "stop", checks=_passed(1))
    report, _ = _written(anomalies)
    assert (report["current_span"], report["previous_span"], report["drift"]) == (3, 1, [])
    # Had span 2 passed (no record of its refusal), its shifted ratings would be the reference.
    with pytest.raises(drift_gate.DataDriftError, match="between span 3 and span 2"):
        _run_executor(tmp_path / "again", current, every, "stop", checks=_passed(1, 2))


def test_per_feature_the_largest_distance_and_whether_any_split_exceeded():
    measurements = [drift_gate.Measurement("train", "a", "L-infinity distance", 0.3, 0.2, True),
                    drift_gate.Measurement("eval", "a", "L-infinity distance", 0.1, 0.2, False),
                    drift_gate.Measurement("train", "b", "Jensen-Shannon divergence", 0.01, 0.03,
                                           False),
                    drift_gate.Measurement("eval", "b", "Jensen-Shannon divergence", 0.02, 0.03,
                                           False),
                    drift_gate.Measurement("eval", "b", "L-infinity distance", 0.05, 0.1, False)]
    features = drift_gate.by_feature(measurements)
    assert features["a"] == {"distance": 0.3, "threshold": 0.2, "exceeded": True,
                             "measure": "L-infinity distance", "split": "train"}
    assert features["b JS"]["distance"] == 0.02 and features["b JS"]["split"] == "eval"
    assert set(features) == {"a", "b JS", "b L-inf"}
    # A split past its threshold is not hidden by a larger distance of another split.
    tricky = [drift_gate.Measurement("train", "c", "L-infinity distance", 0.3, 0.2, True),
              drift_gate.Measurement("eval", "c", "L-infinity distance", 0.4, 0.2, False)]
    assert drift_gate.by_feature(tricky)["c"]["exceeded"]


def test_the_first_span_has_nothing_to_compare_and_passes_saying_so(tmp_path, spans):
    # Only its own statistics and a later span's: nothing earlier.
    anomalies = _run_executor(tmp_path, spans["1"], [spans["1"], spans["2"]], "stop")
    report, diffs = _written(anomalies)
    assert report["previous_span"] is None and report["measurements"] == []
    assert "span 1: no statistics of an earlier span among the 2 given" in report["summary"]
    assert report["summary"] == anomalies.get_string_custom_property(names.DRIFT_SUMMARY_KEY)
    assert all(d == anomalies_pb2.Anomalies() for d in diffs.values())


def test_without_previous_statistics_tfdv_ignores_the_drift_comparators(spans, schema):
    """ExampleValidator's call (no previous statistics): the schema's comparators add
    nothing, so the drift thresholds cannot fail its validation."""
    current = drift_gate._load_statistics(spans["2+2 stars"], "train")
    found = tfdv.validate_statistics(current, schema)
    assert not found.drift_skew_info
    assert not [r for info in found.anomaly_info.values() for r in info.reason
                if r.type in drift_gate._DRIFT_REASONS]


def test_only_drift_is_kept_the_schema_checks_are_example_validators():
    found = anomalies_pb2.Anomalies()
    both = found.anomaly_info[names.USER_RATING]
    both.description = "Unexpectedly large value: 7. The approximate Jensen-Shannon ..."
    both.reason.add(type=anomalies_pb2.AnomalyInfo.FLOAT_TYPE_BIG_FLOAT,
                    short_description="Out-of-range values", description="Unexpectedly large")
    both.reason.add(type=anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
                    short_description="High approximate Jensen-Shannon divergence",
                    description="The approximate Jensen-Shannon divergence is 0.6")
    found.anomaly_info[names.MOVIE_ID].reason.add(
        type=anomalies_pb2.AnomalyInfo.SCHEMA_MISSING_COLUMN)
    found.dataset_anomaly_info.description = "Low number of examples"
    kept = drift_gate.drift_only(found)
    assert set(kept.anomaly_info) == {names.USER_RATING}
    assert [r.type for r in kept.anomaly_info[names.USER_RATING].reason] == [
        anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH]
    assert kept.anomaly_info[names.USER_RATING].description == (
        "The approximate Jensen-Shannon divergence is 0.6")
    assert not kept.HasField("dataset_anomaly_info")


def test_wrong_inputs_are_named(tmp_path, spans, schema):
    with pytest.raises(ValueError, match="'all_statistics' must hold ExampleStatistics"):
        drift_gate.check_drift(spans["2"], [standard_artifacts.Schema()], schema,
                               _anomalies(tmp_path), "stop")
    with pytest.raises(ValueError, match="mode must be one of"):
        drift_gate.check_drift(spans["2"], [spans["1"]], schema, _anomalies(tmp_path), "pause")
    with pytest.raises(ConfigError, match="mode must be one of .* got 'pause'"):
        drift_gate.DriftGate(statistics=None, schema=None, mode="pause")


def test_the_component_is_built_with_its_mode_and_code_fingerprint():
    from tfx.types import Channel

    gate = drift_gate.DriftGate(statistics=Channel(type=standard_artifacts.ExampleStatistics),
                                schema=Channel(type=standard_artifacts.Schema),
                                all_statistics=drift_gate.every_statistics(), mode="warn")
    assert gate.exec_properties[drift_gate.MODE_KEY] == "warn"
    assert len(gate.exec_properties[names.CODE_FINGERPRINT_KEY]) == 64
    # Without the other statistics (nothing to compare): the input is optional.
    drift_gate.DriftGate(statistics=Channel(type=standard_artifacts.ExampleStatistics),
                         schema=Channel(type=standard_artifacts.Schema))


def test_a_drift_stop_is_a_data_error_for_the_runners():
    from runner.errors import data_error_message

    error = drift_gate.DataDriftError("the data drifted:\n  train: user_rating ...")
    assert data_error_message(RuntimeError("DriftGate failed")) is None
    assert data_error_message(error) == str(error)


# --- Which statistics are the previous span's -----------------------------------------------


def _fake(artifact_id, span):
    artifact = standard_artifacts.ExampleStatistics()
    artifact.id = artifact_id
    artifact.span = span
    return artifact


def _previous(current, candidates):
    found = previous_span_statistics(current, candidates)
    return None if found is None else (found.id, found.span)


def test_the_previous_span_is_the_largest_span_below_the_current_newest_artifact_first():
    # Span 2 ran twice (ids 2, 5); span 4 ran before span 3 was run again (ids 3, 7 and 9).
    every = [_fake(1, 1), _fake(2, 2), _fake(3, 3), _fake(4, 1), _fake(5, 2), _fake(6, 4),
             _fake(7, 3), _fake(8, 0)]
    current = _fake(9, 3)
    assert _previous(current, every + [current]) == (5, 2)
    assert _previous(_fake(10, 5), every) == (6, 4)
    assert _previous(_fake(11, 2), every) == (4, 1)
    assert _previous(_fake(12, 1), every) == (8, 0)  # span 0 is a span (TFX's spans start at 0)


def test_the_first_span_and_statistics_without_spans_have_no_previous():
    every = [_fake(1, 1), _fake(2, 2), _fake(3, 0)]
    assert _previous(_fake(4, 0), every) is None  # before spans every span is 0
    assert _previous(_fake(5, 1), [_fake(1, 1), _fake(2, 2)]) is None
    assert _previous(_fake(6, 1), []) is None
