"""Configuration checks and the code fingerprint that keeps caching honest."""

import shutil

import pytest

from models.hparams import TrainingConfig
from pipeline import configs, data_source
from pipeline.eval_config import make_eval_config
from pipeline.fingerprint import PROJECT_ROOT, code_fingerprint


def test_training_config_round_trips_through_json():
    config = TrainingConfig(rating_weight=0.5, rating_layers=(64, 32))
    assert TrainingConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainingConfig.from_dict({"rating_wieght": 1.0})


def test_editing_model_code_changes_the_fingerprint(tmp_path):
    shutil.copytree(f"{PROJECT_ROOT}/models", tmp_path / "models")
    before = code_fingerprint(["models"], root=str(tmp_path))
    assert before == code_fingerprint(["models"], root=str(tmp_path))
    with open(tmp_path / "models" / "model.py", "a") as f:
        f.write("\n# a change\n")
    assert code_fingerprint(["models"], root=str(tmp_path)) != before


def test_thresholds_follow_the_trained_tasks():
    rating_only = make_eval_config(TrainingConfig(rating_weight=1, retrieval_weight=0),
                                   configs.EvalThresholds())
    gated = [m.class_name for spec in rating_only.metrics_specs for m in spec.metrics
             if m.HasField("threshold")]
    assert gated == ["RootMeanSquaredError"]
    with pytest.raises(ValueError, match="no evaluation threshold"):
        make_eval_config(TrainingConfig(), configs.EvalThresholds(None, None, None, None))


def test_data_sources_are_validated(tmp_path):
    with pytest.raises(data_source.DataSourceError, match="does not exist"):
        data_source.resolve(str(tmp_path / "nope"), str(tmp_path))
    (tmp_path / "data.csv").write_text("x")
    with pytest.raises(data_source.DataSourceError, match="neither a folder nor a .zip"):
        data_source.resolve(str(tmp_path / "data.csv"), str(tmp_path))
    with pytest.raises(data_source.DataSourceError, match="expected tfds:movielens"):
        data_source.resolve("tfds:mnist", str(tmp_path))
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(b"")
    assert data_source.resolve(str(archive), str(tmp_path)) == data_source.ResolvedSource(
        str(tmp_path), "ml-100k.zip")
