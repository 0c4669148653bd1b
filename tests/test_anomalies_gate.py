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
