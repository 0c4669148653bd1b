"""LoadCheck: the pushed model loads with TensorFlow alone; a model that does not is not pushed."""

import os
import shutil

import pytest
import tensorflow as tf

import names
from components.load_check import run_load_check
from tests.test_serving import SIGNATURES_WITH_WARMUP, _push, _serving_model


@pytest.fixture(scope="module")
def pushed_model(first_run):
    return first_run["pushed_model"]


def _copy(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    return copy


@pytest.mark.pipeline
def test_the_trained_model_loads_and_answers_every_warmup_request(pushed_model):
    result = run_load_check(pushed_model)
    assert result["ok"], result
    assert {w["signature"] for w in result["warmup"]} == SIGNATURES_WITH_WARMUP
    assert SIGNATURES_WITH_WARMUP <= set(result["signatures"])


@pytest.mark.pipeline
def test_a_model_without_warmup_requests_fails(pushed_model, tmp_path):
    model = _copy(pushed_model, tmp_path)
    os.remove(model / names.WARMUP_FILE)
    result = run_load_check(str(model))
    assert not result["ok"] and "tf_serving_warmup_requests does not exist" in result["error"]


@pytest.mark.pipeline
def test_a_warmup_request_the_model_cannot_answer_fails(pushed_model, tmp_path):
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    model = _copy(pushed_model, tmp_path)
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(signature_name=names.RECOMMEND_SIGNATURE))
    request.inputs[names.USER_ID].CopyFrom(tf.make_tensor_proto([b"1"]))
    request.inputs[names.K_INPUT].CopyFrom(tf.make_tensor_proto(10_000))  # k above max_k
    with tf.io.TFRecordWriter(str(model / names.WARMUP_FILE)) as writer:
        writer.write(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
    result = run_load_check(str(model))
    assert not result["ok"] and "k must be in 1..20" in result["error"]


@pytest.mark.pipeline
def test_a_damaged_saved_model_fails_with_the_reason(pushed_model, tmp_path):
    model = _copy(pushed_model, tmp_path)
    (model / "saved_model.pb").write_bytes(b"not a SavedModel")
    result = run_load_check(str(model))
    assert not result["ok"] and result["error"]


def test_the_pusher_refuses_a_model_that_failed_the_load_check(tmp_path):
    model = _serving_model(tmp_path)
    base = tmp_path / "serving"
    refused = _push(model, base, infra_blessed=0)
    assert not refused.get_int_custom_property("pushed")
    assert not base.exists() or os.listdir(base) == []
    assert _push(model, base, infra_blessed=1).get_int_custom_property("pushed") == 1
