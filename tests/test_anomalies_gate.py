"""AnomaliesGate lists every anomaly ExampleValidator recorded, by split and feature."""

import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components import anomalies_gate


def _artifact(tmp_path, by_split):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(by_split))
    for split, anomalies in by_split.items():
        os.makedirs(tmp_path / f"Split-{split}")
        (tmp_path / f"Split-{split}" / anomalies_gate.ANOMALIES_FILE).write_bytes(
            anomalies.SerializeToString())
    return artifact


def test_anomalies_are_listed_by_split_and_feature(tmp_path):
    bad = anomalies_pb2.Anomalies()
    info = bad.anomaly_info["user_rating"]
    info.short_description = "Out-of-range values"
    info.description = "Unexpectedly large value: 7."
    artifact = _artifact(tmp_path, {"train": anomalies_pb2.Anomalies(), "eval": bad})
    assert anomalies_gate.describe_anomalies(artifact) == [
        "eval: user_rating: Out-of-range values - Unexpectedly large value: 7."]
    with pytest.raises(anomalies_gate.DataAnomaliesError, match="eval: user_rating: Out-of-range"):
        anomalies_gate.check_anomalies(artifact)


def test_clean_data_passes(tmp_path):
    artifact = _artifact(tmp_path, {"train": anomalies_pb2.Anomalies()})
    assert anomalies_gate.describe_anomalies(artifact) == []
    anomalies_gate.check_anomalies(artifact)  # does not raise


def _example(**overrides):
    from components.movielens_example_gen.examples import make_example

    values = dict(user_id="42", movie_title="Toy Story (1995)", rating=4.0,
                  timestamp=880000000, movie_id="1", genres=[3, 4, 5], gender=1,
                  bucketized_age=25.0, occupation="writer", zip_code="12345")
    values.update(overrides)
    return make_example(**values)


def _validate_against_curated_schema(examples):
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    from components.curated_schema_gen import schema_path
    from pipeline.configs import PipelineConfig

    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"curated-{os.getpid()}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    statistics = tfdv.generate_statistics_from_tfrecord(path)
    os.remove(path)
    schema = tfdv.load_schema_text(schema_path(PipelineConfig("x").schema_file))
    return tfdv.validate_statistics(statistics, schema)


def test_the_curated_schema_accepts_good_examples_and_names_each_bad_feature():
    good = [_example(), _example(user_id="7", rating=1.0, genres=[0])]
    assert not _validate_against_curated_schema(good).anomaly_info
    bad = good + [_example(rating=7.0), _example(user_id=""), _example(timestamp=12),
                  _example(genres=[]), _example(genres=[25]), _example(movie_id="abc")]
    found = _validate_against_curated_schema(bad).anomaly_info
    assert set(found) == {"user_rating", "user_id", "timestamp", "movie_genres", "movie_id"}
    assert "7" in found["user_rating"].description
