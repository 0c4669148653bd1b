"""The pushed model as TF Serving runs it: no Python stack but TensorFlow, client requests."""

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Optional

import pytest
import tensorflow as tf

import names
from components import atomic_pusher
from components.movielens_example_gen.examples import make_example
from serving import client
from tests.conftest import FIXTURE_MOVIES
from tests.served import serve_in_subprocess

SIGNATURES_WITH_WARMUP = {names.SERVING_SIGNATURE, names.EVAL_SIGNATURE,
                          names.PREDICT_SIGNATURE, names.RECOMMEND_SIGNATURE,
                          names.RECOMMEND_EXCLUDING_SIGNATURE, names.RECOMMEND_RANKED_SIGNATURE,
                          names.SIMILAR_SIGNATURE}


@pytest.fixture(scope="module")
def served(first_run, tmp_path_factory):
    model_dir = first_run["pushed_model"]
    requests = {
        "predict": client.predict_request(["1", "2", "nobody"],
                                          ["Misérables, Les (1995)", "Movie 10 (1959)",
                                           "Unknown (2099)"]),
        "recommend": client.recommend_request(["1", "nobody", "nobody either"], 10),
        "similar": client.similar_request(["Misérables, Les (1995)", "Unknown (2099)"], 5),
        "empty_user": client.recommend_request([""], 5),
        "not_utf8": {"signature_name": "recommend",
                     "inputs": {"user_id": [{"b64": "//4="}], "k": 5}},
        "k_zero": client.recommend_request(["1"], 0),
        "k_too_big": client.recommend_request(["1"], 21),
        "exclude_rows": client.recommend_request(["1", "2"], 5, [["Movie 10 (1959)"]]),
        "predict_lengths": client.predict_request(["1", "2"], ["Movie 10 (1959)"]),
        # conftest's serving_max_batch=16, serving_max_exclusions=4
        "batch_too_big": client.recommend_request([str(i) for i in range(17)], 5),
        "predict_too_big": client.predict_request(["1"] * 17, ["Movie 10 (1959)"] * 17),
        "too_many_exclusions": client.recommend_request(["1"], 5, [["a", "b", "c", "d", "e"]]),
        "batch_at_limit": client.recommend_request([str(i) for i in range(1, 17)], 5,
                                                   [["", "nope"]] * 16),
    }
    first = serve_in_subprocess(model_dir, [requests["recommend"]],
                                tmp_path_factory.mktemp("first"))
    top_title = first["answers"][0]["outputs"]["titles"][0][0]
    second = first["answers"][0]["outputs"]["titles"][0][1]
    requests["excluding"] = client.recommend_request(["1"], 10, [[top_title]])
    # Padding, an unknown title, bytes that are no title (not UTF-8) and a repeated title
    # change nothing but what they name.
    requests["excluding_noise"] = client.recommend_request(
        ["1", "1"], 10, [[top_title, "", "Unknown (2099)", top_title],
                         [second, "", {"b64": "//4="}, ""]])
    names = list(requests)
    result = serve_in_subprocess(model_dir, [requests[n] for n in names],
                                 tmp_path_factory.mktemp("serve"))
    answers = dict(zip(names, result["answers"]))
    return {"answers": answers, "warmup": result["warmup"], "top_title": top_title,
            "blocked": result["blocked_imports_attempted"], "model_dir": model_dir,
            "first_recommend": first["answers"][0]["outputs"]}


def _catalog(model_dir):
    return [t.decode() for t in tf.saved_model.load(model_dir).catalog_titles.numpy()]


@pytest.mark.pipeline
def test_serving_never_tried_to_import_the_training_stack(served):
    assert served["blocked"] == []


@pytest.mark.pipeline
def test_recommend_returns_k_distinct_catalog_titles_best_first(served):
    outputs = served["answers"]["recommend"]["outputs"]
    catalog = set(_catalog(served["model_dir"]))
    assert len(catalog) == FIXTURE_MOVIES
    for titles, scores in zip(outputs["titles"], outputs["scores"]):
        assert len(titles) == len(set(titles)) == 10
        assert set(titles) <= catalog
        assert scores == sorted(scores, reverse=True)
    assert outputs["user_known"] == [True, False, False]
    # Unknown users share the OOV embedding: the same, deterministic answer.
    assert outputs["titles"][1] == outputs["titles"][2]


@pytest.mark.pipeline
def test_recommend_excluding_leaves_out_the_given_titles(served):
    outputs = served["answers"]["excluding"]["outputs"]
    assert served["top_title"] not in outputs["titles"][0]
    assert outputs["titles"][0][:9] == served["first_recommend"]["titles"][0][1:10]


@pytest.mark.pipeline
def test_recommend_excluding_ignores_padding_unknown_and_repeated_titles(served):
    """Unknown excluded titles (non-UTF-8 bytes too) are ignored, not refused."""
    first = served["first_recommend"]["titles"][0]
    outputs = served["answers"]["excluding_noise"]["outputs"]
    assert outputs["titles"][0] == served["answers"]["excluding"]["outputs"]["titles"][0]
    assert outputs["titles"][1][:9] == [first[0]] + first[2:10]
    assert served["answers"]["batch_at_limit"]["outputs"]["user_known"][0] is True


@pytest.mark.pipeline
def test_recommend_ranked_orders_the_best_retrieved_titles_by_predicted_rating(
        served, pipeline_config):
    """Retrieve, then rank: the titles are among the rerank_depth best by retrieval, minus the
    excluded, in the order of the rating `predict` gives each (its `scores`)."""
    model = tf.saved_model.load(served["model_dir"])
    signatures = model.signatures
    depth = pipeline_config.training.rerank_depth  # 20: the serving_max_k of the fixture
    retrieved = signatures[names.RECOMMEND_SIGNATURE](
        user_id=tf.constant(["1"]), k=tf.constant(depth))[names.TITLES_OUTPUT]
    excluded = retrieved[0, 0].numpy()
    ranked = signatures[names.RECOMMEND_RANKED_SIGNATURE](
        user_id=tf.constant(["1"]), k=tf.constant(5), exclude_titles=tf.constant([[excluded]]))
    titles = ranked[names.TITLES_OUTPUT].numpy()[0].tolist()
    scores = ranked[names.SCORES_OUTPUT].numpy()[0]
    assert excluded not in titles and len(set(titles)) == 5
    assert set(titles) <= set(retrieved.numpy()[0].tolist())
    predicted = signatures[names.PREDICT_SIGNATURE](
        user_id=tf.constant(["1"] * 5), movie_title=tf.constant(titles))[names.PREDICTED_RATING]
    assert scores == pytest.approx(predicted.numpy(), abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.pipeline
def test_similar_movies_excludes_the_query_and_flags_unknown_titles(served):
    outputs = served["answers"]["similar"]["outputs"]
    assert "Misérables, Les (1995)" not in outputs["titles"][0]
    assert len(set(outputs["titles"][0])) == 5
    assert outputs["scores"][0] == sorted(outputs["scores"][0], reverse=True)
    assert all(-1.0001 <= s <= 1.0001 for s in outputs["scores"][0])  # cosine
    assert outputs["movie_known"] == [True, False]


@pytest.mark.pipeline
def test_predict_matches_the_in_process_model(served):
    outputs = served["answers"]["predict"]["outputs"]
    assert outputs["user_known"] == [True, True, False]
    assert outputs["movie_known"] == [True, True, False]
    assert len(outputs["user_embedding"][0]) == 32
    examples = [make_example(u, t, 0.0, 0, "0", [1], 0, 1.0, "", "").SerializeToString()
                for u, t in [("1", "Misérables, Les (1995)"), ("2", "Movie 10 (1959)"),
                             ("nobody", "Unknown (2099)")]]
    in_process = tf.saved_model.load(served["model_dir"]).signatures[names.SERVING_SIGNATURE](
        examples=tf.constant(examples))[names.RATING_OUTPUT].numpy()[:, 0]
    assert outputs["rating"] == pytest.approx(in_process.tolist(), abs=1e-5)


@pytest.mark.pipeline
@pytest.mark.parametrize("name, message", [
    ("empty_user", "user_id must not be an empty string"),
    ("not_utf8", "user_id must be valid UTF-8"),
    ("k_zero", "k must be in 1..20"),  # conftest's serving_max_k
    ("k_too_big", "k must be in 1..20"),
    ("predict_lengths", "user_id and movie_title must have the same length"),
    ("exclude_rows", "exclude_titles must have one row per user_id"),
    ("batch_too_big", "user_id holds more than 16 rows"),
    ("predict_too_big", "user_id holds more than 16 rows"),
    ("too_many_exclusions", "exclude_titles holds more than 4 titles per row"),
])
def test_bad_requests_fail_with_a_clear_error(served, name, message):
    assert message in served["answers"][name]["error"]


@pytest.mark.pipeline
def test_warmup_requests_cover_every_serving_signature_and_replay(served):
    assert {w["signature"] for w in served["warmup"]} == SIGNATURES_WITH_WARMUP
    assert len(served["warmup"]) == len(SIGNATURES_WITH_WARMUP)


@pytest.mark.pipeline
def test_client_cli_prints_recommendations(served, capsys):
    assert client.main(["--model-dir", served["model_dir"], "recommend", "--user", "1",
                        "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].lstrip().startswith("1.")
    assert client.main(["--model-dir", served["model_dir"], "recommend", "--user", "",
                        "-k", "3"]) == 1
    assert "user_id must not be an empty string" in capsys.readouterr().err


def _push(model_dir, base: str, infra_blessed: Optional[int] = None):
    """Runs the Pusher's executor on a blessed model at `model_dir` (a Trainer's Format-Serving
    folder), with a LoadCheck InfraBlessing if `infra_blessed` is given; returns the
    PushedModel artifact."""
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    model, blessing, pushed = (standard_artifacts.Model(), standard_artifacts.ModelBlessing(),
                               standard_artifacts.PushedModel())
    model.uri = os.path.dirname(str(model_dir))
    blessing.set_int_custom_property("blessed", 1)
    pushed.uri = tempfile.mkdtemp()
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base)))
    inputs = {"model": [model], "model_blessing": [blessing]}
    if infra_blessed is not None:
        infra = standard_artifacts.InfraBlessing()
        infra.set_int_custom_property("blessed", infra_blessed)
        inputs["infra_blessing"] = [infra]
    atomic_pusher.AtomicPusherExecutor().Do(
        inputs, {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination)})
    return pushed


def _pushed_version(pushed):
    """The version a push created, or None when the model was already served."""
    if pushed.get_int_custom_property("pushed"):
        return pushed.get_string_custom_property("pushed_version")
    assert pushed.get_string_custom_property(names.ALREADY_SERVING_KEY)
    return None


def _serving_model(tmp_path):
    model = tmp_path / "model" / "Format-Serving"  # where the Trainer exports
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights")
    return model


def test_push_is_atomic_and_idempotent(tmp_path, monkeypatch):
    model = _serving_model(tmp_path)
    base = tmp_path / "serving"

    version = _pushed_version(_push(model, base))
    assert os.listdir(base) == [version]
    assert (base / version / "variables" / "variables.data-00000-of-00001").read_bytes() == \
        b"weights"
    assert _pushed_version(_push(model, base)) is None  # same model
    (model / "saved_model.pb").write_bytes(b"graph 2")

    def die_mid_copy(source, destination, **_):
        os.makedirs(os.path.join(destination, "variables"))
        raise OSError("killed during the copy")

    monkeypatch.setattr(atomic_pusher.io_utils, "copy_dir", die_mid_copy)
    with pytest.raises(OSError):
        _push(model, base)
    assert atomic_pusher.served_versions(str(base)) == [int(version)]  # nothing half-written
    staging = f"{atomic_pusher.INCOMING_PREFIX}{os.getpid()}"  # left for the next push to clean
    assert sorted(os.listdir(base)) == sorted([version, staging])
    monkeypatch.undo()
    dead = base / f"{atomic_pusher.INCOMING_PREFIX}999999999"  # a pid that cannot exist
    dead.mkdir()
    newer = _pushed_version(_push(model, base))
    assert atomic_pusher.served_versions(str(base)) == [int(version), int(newer)]
    assert (base / newer / "saved_model.pb").read_bytes() == b"graph 2"
    assert sorted(os.listdir(base)) == sorted([version, newer])  # staging cleaned up


_KILLED_PUSH = """
import os, shutil, sys, time
sys.path.insert(0, sys.argv[3])
from components import atomic_pusher
from tests import test_serving

def top_down_then_hang(source, destination, **_):
    # A naive recursive copy: saved_model.pb first, then the variables, killed half way.
    os.makedirs(os.path.join(destination, "variables"))
    shutil.copy(os.path.join(source, "saved_model.pb"), destination)
    with open(os.path.join(destination, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(b"wei")
    print("copying", flush=True)
    time.sleep(600)

atomic_pusher.io_utils.copy_dir = top_down_then_hang
test_serving._push(sys.argv[1], sys.argv[2])
"""


def test_a_push_killed_mid_copy_leaves_no_version_and_the_next_push_cleans_up(tmp_path):
    """SIGKILL while a copy that writes saved_model.pb first is half done: TF Serving must see
    no version folder at all (not one with saved_model.pb and half the variables)."""
    import signal

    model = _serving_model(tmp_path)
    base = tmp_path / "serving"
    script = tmp_path / "killed_push.py"
    script.write_text(_KILLED_PUSH)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child = subprocess.Popen([sys.executable, str(script), str(model), str(base), root],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "copying"
        staging = f"{atomic_pusher.INCOMING_PREFIX}{child.pid}"
        assert list((base / staging).glob("*/saved_model.pb"))  # the copy had written it
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert os.listdir(base) == [staging]  # no numeric folder: nothing TF Serving would load
    assert atomic_pusher.served_versions(str(base)) == []
    version = _pushed_version(_push(model, base))
    assert os.listdir(base) == [version]  # the dead process's staging folder removed
    assert (base / version / "variables" / "variables.data-00000-of-00001").read_bytes() == \
        b"weights"


def test_a_full_disk_mid_copy_leaves_no_version_and_the_next_push_cleans_up(tmp_path,
                                                                         monkeypatch):
    import errno

    model = _serving_model(tmp_path)
    base = tmp_path / "serving"
    real_copy = atomic_pusher.fileio.copy

    def disk_full_on_variables(source, destination, overwrite=False):
        if "variables" in destination and destination.startswith(str(base)):
            raise OSError(errno.ENOSPC, "No space left on device", destination)
        real_copy(source, destination, overwrite=overwrite)

    monkeypatch.setattr(atomic_pusher.fileio, "copy", disk_full_on_variables)
    with pytest.raises(OSError, match="No space left"):
        _push(model, base)
    assert atomic_pusher.served_versions(str(base)) == []
    assert all(name.startswith(atomic_pusher.INCOMING_PREFIX) for name in os.listdir(base))
    monkeypatch.undo()
    version = _pushed_version(_push(model, base))
    assert os.listdir(base) == [version]


def _object_store(name: str) -> str:
    """TF's in-memory ram:// filesystem, standing in for gs:// (no rename there either)."""
    return f"ram://serving-{name}-{os.getpid()}-{time.time_ns()}/movielens"


def _names(base: str):
    return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(base))


def test_push_to_an_object_store_writes_saved_model_pb_last(tmp_path, monkeypatch):
    """No rename on GCS/S3: the version folder is written file by file, saved_model.pb last,
    from a staging prefix of this push; only a folder holding saved_model.pb is a version."""
    model = _serving_model(tmp_path)
    base = _object_store("order")

    copied = []
    real_copy = atomic_pusher.fileio.copy

    def recording_copy(source, destination, overwrite=False):
        copied.append(destination)
        real_copy(source, destination, overwrite=overwrite)

    monkeypatch.setattr(atomic_pusher.fileio, "copy", recording_copy)
    version = _pushed_version(_push(model, base))
    into_version = [os.path.relpath(d, f"{base}/{version}") for d in copied
                    if d.startswith(f"{base}/{version}/")]
    assert into_version == ["variables/variables.data-00000-of-00001", "saved_model.pb"]
    staged = [d for d in copied if d.startswith(f"{base}/{atomic_pusher.INCOMING_PREFIX}")]
    assert len(staged) == 2 and copied.index(staged[-1]) < copied.index(
        f"{base}/{version}/variables/variables.data-00000-of-00001")
    assert _names(base) == [version]  # the staging prefix is gone
    assert abs(int(version) - time.time_ns() // 1000) < 600 * 1_000_000  # µs since 1970
    assert atomic_pusher.served_versions(base) == [int(version)]
    assert _pushed_version(_push(model, base)) is None  # same model

    (model / "saved_model.pb").write_bytes(b"graph 2")

    def die_before_the_graph(source, destination, overwrite=False):
        if destination.startswith(f"{base}/") and destination.endswith("saved_model.pb") \
                and atomic_pusher.INCOMING_PREFIX not in destination:
            raise OSError("killed during the copy")
        real_copy(source, destination, overwrite=overwrite)

    monkeypatch.setattr(atomic_pusher.fileio, "copy", die_before_the_graph)
    with pytest.raises(OSError):
        _push(model, base)
    assert atomic_pusher.served_versions(base) == [int(version)]  # the partial copy is no version


def test_pushes_to_one_object_store_in_the_same_microsecond_get_their_own_versions(
        tmp_path, monkeypatch):
    """Two runs publishing at once must not write into one folder (mixing two models)."""
    base = _object_store("clash")
    monkeypatch.setattr(atomic_pusher, "_now_us", lambda: 1_800_000_000_000_000)
    versions = []
    for graph in (b"graph A", b"graph B"):
        model = _serving_model(tmp_path / graph.decode()[-1])
        (model / "saved_model.pb").write_bytes(graph)
        versions.append(_pushed_version(_push(model, base)))
    assert versions[0] == "1800000000000000" and int(versions[1]) > int(versions[0])
    assert atomic_pusher.served_versions(base) == [int(v) for v in versions]
    for version, graph in zip(versions, (b"graph A", b"graph B")):
        with tf.io.gfile.GFile(f"{base}/{version}/saved_model.pb", "rb") as f:
            assert f.read() == graph
    # A folder that appeared under the chosen name is never written into.
    clash = f"{base}/1800000000000000/variables/variables.data-00000-of-00001"
    with pytest.raises(Exception, match="exists"):
        atomic_pusher._publish(f"{base}/{versions[1]}", f"{base}/{versions[0]}")
    with tf.io.gfile.GFile(clash, "rb") as f:
        assert f.read() == b"weights"


def test_a_push_to_an_object_store_removes_what_dead_pushes_left(tmp_path, monkeypatch):
    base = _object_store("stale")
    now = 1_800_000_000_000_000
    old = now - (atomic_pusher.STALE_SECONDS + 60) * 1_000_000
    recent = now - 60 * 1_000_000
    left = {f"{atomic_pusher.INCOMING_PREFIX}{old}-dead": "1/variables/x",  # a dead push's
            f"{atomic_pusher.INCOMING_PREFIX}{recent}-live": "1/variables/x",  # maybe copying
            str(old): "variables/x",  # a version folder whose saved_model.pb never came
            str(recent): "variables/x"}  # maybe a concurrent push publishing now
    for folder, file in left.items():
        tf.io.gfile.makedirs(os.path.dirname(f"{base}/{folder}/{file}"))
        with tf.io.gfile.GFile(f"{base}/{folder}/{file}", "wb") as f:
            f.write(b"partial")
    monkeypatch.setattr(atomic_pusher, "_now_us", lambda: now)
    version = _pushed_version(_push(_serving_model(tmp_path), base))
    assert _names(base) == sorted([f"{atomic_pusher.INCOMING_PREFIX}{recent}-live", str(recent),
                                   version])
    assert atomic_pusher.served_versions(base) == [int(version)]


@pytest.fixture(scope="module")
def fake_tf_serving(first_run):
    """REST and gRPC endpoints on loopback that follow TF Serving's API, answering from the
    pushed SavedModel, to test the client's wire formats."""
    import threading
    from concurrent import futures
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    local = client.LocalClient(first_run["pushed_model"])

    class Rest(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            assert self.path == f"/v1/models/{client.DEFAULT_MODEL_NAME}:predict"
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                status, body = 200, {"outputs": local.call(request)}
            except client.ServingError as error:
                status, body = 400, {"error": str(error)}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    class Grpc(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (the proto's name)
            function = local.model.signatures[request.model_spec.signature_name]
            try:
                outputs = function(**{name: tf.constant(tf.make_ndarray(tensor))
                                      for name, tensor in request.inputs.items()})
            except tf.errors.InvalidArgumentError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
            response = predict_pb2.PredictResponse()
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    http = ThreadingHTTPServer(("127.0.0.1", 0), Rest)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Grpc(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield {"rest": f"http://127.0.0.1:{http.server_port}", "grpc": f"127.0.0.1:{port}",
           "local": local}
    http.shutdown()
    server.stop(None)


@pytest.mark.pipeline
@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_rest_and_grpc_clients_get_the_local_answers(fake_tf_serving, transport):
    remote = (client.RestClient(fake_tf_serving["rest"]) if transport == "rest"
              else client.GrpcClient(fake_tf_serving["grpc"]))
    local = fake_tf_serving["local"]
    for request in (client.recommend_request(["1", "nobody"], 5),
                    client.recommend_request(["1"], 5, [["Misérables, Les (1995)"]]),
                    client.similar_request(["Misérables, Les (1995)"], 3)):
        assert remote.call(request) == local.call(request)
    predicted = remote.call(client.predict_request(["1"], ["Movie 10 (1959)"]))
    assert predicted["rating"] == pytest.approx(
        local.call(client.predict_request(["1"], ["Movie 10 (1959)"]))["rating"], abs=1e-6)
    with pytest.raises(client.ServingError, match="k must be in 1..20"):
        remote.call(client.recommend_request(["1"], 0))


@pytest.mark.pipeline
def test_a_model_whose_k_is_capped_below_ten_still_replays_its_warmup(
        first_run, pipeline_config, tmp_path):
    """serving_max_k (or a catalog) below 10: the warm-up requests ask for k = max_k, since TF
    Serving refuses to load a model whose warm-up request fails."""
    import tensorflow_transform as tft

    from models.data import vocabulary_sizes
    from models.export import ServingLimits, save_serving_model
    from models.hparams import TrainingConfig
    from models.model import MovieLensModel

    transform = tf.io.gfile.glob(os.path.join(pipeline_config.pipeline_root, "Transform",
                                              "transform_graph", "*"))
    assert transform, "the first run's Transform output"
    tf_transform_output = tft.TFTransformOutput(transform[0])
    num_users, num_movies = vocabulary_sizes(tf_transform_output)
    model = MovieLensModel(TrainingConfig(embedding_dim=4, rating_layers=(4,), serving_max_k=3),
                           num_users, num_movies)
    save_serving_model(model, tf_transform_output, str(tmp_path / "model"),
                       ServingLimits(max_k=3, max_batch=8, max_exclusions=8,
                                     rerank_depth=8))
    result = serve_in_subprocess(str(tmp_path / "model"), [], tmp_path)
    assert {w["signature"] for w in result["warmup"]} == SIGNATURES_WITH_WARMUP


@pytest.mark.pipeline
def test_a_model_with_rating_clip_serves_ratings_on_the_scale(first_run, pipeline_config,
                                                               tmp_path):
    """rating_clip holds in the exported signatures too: serving runs the head outside
    training, where the prediction is clipped to the fit ratings' range."""
    import tensorflow_transform as tft

    from models.data import vocabulary_sizes
    from models.export import ServingLimits, save_serving_model
    from models.hparams import TrainingConfig
    from models.model import MovieLensModel

    transform = tf.io.gfile.glob(os.path.join(pipeline_config.pipeline_root, "Transform",
                                              "transform_graph", "*"))
    tf_transform_output = tft.TFTransformOutput(transform[0])
    num_users, num_movies = vocabulary_sizes(tf_transform_output)
    model = MovieLensModel(TrainingConfig(embedding_dim=4, rating_layers=(4,), serving_max_k=3,
                                          rating_biases=True, rating_clip=True),
                           num_users, num_movies, rating_mean=3.0, rating_range=(1.0, 5.0))
    biases = model.rating_head.user_bias.embeddings
    biases.assign(tf.tile([[9.0], [-9.0]], [biases.shape[0] // 2 + 1, 1])[:biases.shape[0]])
    save_serving_model(model, tf_transform_output, str(tmp_path / "model"),
                       ServingLimits(max_k=3, max_batch=8, max_exclusions=8, rerank_depth=8))
    users = ["1", "2", "3", "4"]  # vocabulary order is by frequency: both signs among them
    result = serve_in_subprocess(
        str(tmp_path / "model"), [client.predict_request(users, ["Movie 10 (1959)"] * 4)],
        tmp_path)
    ratings = result["answers"][0]["outputs"]["rating"]
    assert sorted(set(ratings)) == [1.0, 5.0], ratings
