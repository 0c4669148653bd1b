"""`kubeflow_runner.py` compiles a KFP v2 PipelineJob offline, with our image and code paths."""

import difflib
import json
import os
import re
import socket

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
import names
from names import PROJECT_ROOT

COMPONENTS = {"MovieLensExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "AnomaliesGate", "Transform", "HyperparametersGen", "Trainer", "Evaluator",
              "LoadCheck", "Pusher"}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access during compilation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def compiled(tmp_path, no_network):
    output = tmp_path / "pipeline.json"
    args = kubeflow_runner.parse_args([
        "--pipeline-root", "gs://bucket/root", "--data", "gs://bucket/data/ml-100k.zip",
        "--image", "registry.example/movierec-tfx:1", "--output", str(output),
        "--rating-weight", "0.5", "--epochs", "4",
        "--min-top-100", "0.2", "--max-rmse-increase", "-1",
        "--beam-arg=--direct_num_workers=2"])
    assert kubeflow_runner.compile_pipeline(args) == str(output)
    job = json.loads(output.read_text())
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=True)
    return job, spec


def test_every_component_is_a_task_with_the_right_upstream(compiled):
    job, spec = compiled
    assert job["displayName"] == "movielens-multitask"
    tasks = spec.root.dag.tasks
    assert COMPONENTS <= set(tasks)
    upstream = {name: set(task.dependent_tasks) for name, task in tasks.items()}
    assert upstream["StatisticsGen"] == {"MovieLensExampleGen"}
    assert upstream["Transform"] == {"AnomaliesGate", "MovieLensExampleGen", "SchemaGen"}
    assert upstream["Trainer"] >= {"Transform", "SchemaGen", "HyperparametersGen"}
    assert "Trainer" in upstream["Evaluator"] and any(
        names.BASELINE_RESOLVER_ID in t for t in upstream["Evaluator"])
    assert upstream["LoadCheck"] == {"Trainer"}
    assert upstream["Pusher"] == {"Evaluator", "LoadCheck", "Trainer"}


def test_executors_run_our_code_from_the_image(compiled):
    job, spec = compiled
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    containers = {name.replace("_executor", ""): e["container"]
                  for name, e in executors.items() if "container" in e}
    assert {c["image"] for c in containers.values()} == {"registry.example/movierec-tfx:1"}
    arguments = {name: " ".join(c.get("args", [])) for name, c in containers.items()}
    assert "components.movielens_example_gen.executor.Executor" in arguments["MovieLensExampleGen"]
    assert "components.atomic_pusher.AtomicPusherExecutor" in arguments["Pusher"]
    assert "components.gated_evaluator.GatedEvaluatorExecutor" in arguments["Evaluator"]
    assert "models.run_fn.run_fn" in json.dumps(job)  # by dotted path: nothing uploaded
    assert "--direct_num_workers=2" in arguments["Transform"]
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/root/pipeline_root"
    assert "gs://bucket/data" in json.dumps(job)  # ExampleGen's input_base
    driver = containers["MovieLensExampleGen"]["lifecycle"]["preCacheCheck"]["command"]
    assert "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver" in driver


def test_data_location_hyperparameters_and_thresholds_are_run_time_parameters(compiled):
    job, spec = compiled
    parameters = spec.root.input_definitions.parameters
    assert {"data_root", "rating_weight", "retrieval_weight", "epochs", "learning_rate"} <= \
        set(parameters)
    assert job["runtimeConfig"]["parameters"] == {  # the defaults, as PipelineJob values
        "data_root": {"stringValue": "gs://bucket/data"}, "rating_weight": {"doubleValue": 0.5},
        "retrieval_weight": {"doubleValue": 1.0}, "epochs": {"intValue": "4"},
        "learning_rate": {"doubleValue": 0.1},
        # blessing thresholds: --min-top-100 0.2 compiled in, --max-rmse-increase -1 = off
        "max_rmse": {"doubleValue": 1.2}, "min_top_100_accuracy": {"doubleValue": 0.2},
        "max_rmse_increase": {"doubleValue": -1.0}, "max_top_100_decrease": {"doubleValue": 0.02},
        "min_ndcg_at_10": {"doubleValue": -1.0},  # off by default
        "min_ndcg_lift_over_popularity": {"doubleValue": -1.0}}
    evaluator = spec.root.dag.tasks["Evaluator"].inputs.parameters
    for name in ("max_rmse", "min_top_100_accuracy", "max_rmse_increase",
                 "max_top_100_decrease", "min_ndcg_at_10", "min_ndcg_lift_over_popularity"):
        assert evaluator[name].component_input_parameter == name
    # the gate follows the run-time loss weights too
    hyperparameters = spec.root.dag.tasks["Evaluator"].inputs.artifacts["hyperparameters"]
    assert hyperparameters.task_output_artifact.producer_task == "HyperparametersGen"


def test_the_baseline_is_the_latest_model_blessed_by_this_pipeline(compiled):
    """Kubeflow's metadata store is shared by a project's pipelines: the baseline query must
    not return another pipeline's blessed model."""
    job, _ = compiled
    queries = [query["filter"] for executor in job["pipelineSpec"]["deploymentSpec"]
               ["executors"].values()
               for query in executor.get("resolver", {}).get("outputArtifactQueries", {}).values()]
    blessing_query, = [q for q in queries if 'schema_title="tfx.ModelBlessing"' in q]
    assert blessing_query.endswith(
        ' AND metadata.pipeline_name.string_value="movielens-multitask"')
    assert "metadata.blessed.number_value=1" in blessing_query
    # The Evaluator is told the name it records on its blessing.
    assert job["pipelineSpec"]["root"]["dag"]["tasks"]["Evaluator"]["inputs"]["parameters"][
        "pipeline_name"]["runtimeValue"]["constantValue"]["stringValue"] == "movielens-multitask"
    with pytest.raises(RuntimeError, match="ModelBlessing query per served-model resolver"):
        kubeflow_runner.scope_baseline_to_pipeline(
            {"pipelineSpec": {"deploymentSpec": {"executors": {}}}}, "movielens-multitask")


def test_a_warm_start_compiles_with_its_own_scoped_base_model_query(tmp_path, no_network):
    output = tmp_path / "warm.json"
    args = kubeflow_runner.parse_args([
        "--pipeline-root", "gs://bucket/root", "--image", "registry.example/movierec-tfx:1",
        "--output", str(output), "--warm-start", "--warm-start-epochs", "1"])
    kubeflow_runner.compile_pipeline(args)
    spec = json.loads(output.read_text())["pipelineSpec"]
    trainer = spec["root"]["dag"]["tasks"]["Trainer"]
    assert any("warm_start_model_resolver" in task for task in trainer["dependentTasks"])
    assert "base_model" in trainer["inputs"]["artifacts"]
    queries = [query["filter"] for executor in spec["deploymentSpec"]["executors"].values()
               for query in executor.get("resolver", {}).get("outputArtifactQueries",
                                                              {}).values()
               if 'schema_title="tfx.ModelBlessing"' in query["filter"]]
    assert len(queries) == 2 and all(
        q.endswith(' AND metadata.pipeline_name.string_value="movielens-multitask"')
        for q in queries)


def test_a_dataflow_configuration_compiles(tmp_path, no_network):
    output = tmp_path / "dataflow.json"
    args = kubeflow_runner.parse_args([
        "--pipeline-root", "gs://bucket/root", "--image", "registry.example/movierec-tfx:1",
        "--output", str(output), "--dataflow-project", "my-project",
        "--dataflow-region", "europe-west1", "--beam-arg=--max_num_workers=4"])
    kubeflow_runner.compile_pipeline(args)
    spec = json.loads(output.read_text())["pipelineSpec"]
    expected = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1",
                "--temp_location=gs://bucket/root/beam-temp",
                "--sdk_container_image=registry.example/movierec-tfx:1",
                "--max_num_workers=4"]
    for component in ("MovieLensExampleGen", "StatisticsGen", "Transform", "Evaluator"):
        arguments = " ".join(spec["deploymentSpec"]["executors"][f"{component}_executor"]
                             ["container"]["args"])
        assert all(option in arguments for option in expected), component
        assert "direct_running_mode" not in arguments
    bad = kubeflow_runner.parse_args(["--pipeline-root", "gs://b/r", "--output",
                                      str(output), "--dataflow-project", "p"])
    with pytest.raises(ValueError, match="--dataflow-region"):
        kubeflow_runner.compile_pipeline(bad)


def test_the_trainer_can_run_on_vertex_ai_training_with_n_workers(tmp_path, no_network):
    output = tmp_path / "vertex.json"
    args = kubeflow_runner.parse_args([
        "--pipeline-root", "gs://bucket/root", "--image", "registry.example/movierec-tfx:1",
        "--output", str(output), "--vertex-training-workers", "3",
        "--vertex-project", "my-project", "--vertex-region", "europe-west1"])
    kubeflow_runner.compile_pipeline(args)
    spec = json.loads(output.read_text())["pipelineSpec"]
    trainer = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    assert "google_cloud_ai_platform.trainer.executor.GenericExecutor" in " ".join(trainer["args"])
    config = json.loads(spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
                        ["custom_config"]["runtimeValue"]["constantValue"]
                        ["stringValue"])
    assert config["ai_platform_enable_vertex"] is True
    assert config["ai_platform_vertex_region"] == "europe-west1"
    training = config["ai_platform_training_args"]
    assert training["project"] == "my-project"
    pools = training["job_spec"]["worker_pool_specs"]
    assert [pool["replica_count"] for pool in pools] == [1, 2]  # chief + 2 workers
    assert all(pool["container_spec"]["image_uri"] == "registry.example/movierec-tfx:1"
               for pool in pools)
    missing = kubeflow_runner.parse_args(["--pipeline-root", "gs://b/r", "--output", str(output),
                                          "--vertex-training-workers", "2"])
    with pytest.raises(ValueError, match="Vertex training needs project"):
        kubeflow_runner.compile_pipeline(missing)


GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "kubeflow_pipeline.json")
_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")  # code fingerprints and the schema's SHA-256


def _normalized(job: dict) -> dict:
    """The compiled job without what changes on its own: versions and content digests."""
    job = json.loads(_DIGEST.sub("<sha256>", json.dumps(job)))
    job.pop("labels", None)  # tfx version, python version
    for key in ("sdkVersion", "schemaVersion"):
        job["pipelineSpec"].pop(key, None)
    return job


def test_the_compiled_pipeline_matches_the_reviewed_golden_file(compiled):
    """Any change to the compiled spec shows up as a diff to review; accept it with
    UPDATE_GOLDEN=1 make test TESTS=tests/test_kubeflow.py."""
    job, _ = compiled
    actual = json.dumps(_normalized(job), indent=1, sort_keys=True)
    if os.environ.get("UPDATE_GOLDEN"):
        os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
        with open(GOLDEN, "w") as f:
            f.write(actual + "\n")
    with open(GOLDEN) as f:
        expected = f.read().rstrip("\n")
    if actual != expected:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                               "golden", "compiled", lineterm="", n=2))
        pytest.fail(f"the compiled pipeline differs from {GOLDEN}:\n{diff[:6000]}")


def test_the_image_sets_the_tf_environment_and_carries_our_code():
    with open(os.path.join(PROJECT_ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    env_lines = " ".join(line for line in dockerfile.splitlines() if line.startswith("ENV "))
    for name, value in names.TF_ENVIRONMENT.items():
        assert f"{name}={value}" in env_lines.split(), name
    # Every file of ours that an executor imports (the pipeline names them by dotted path).
    from components.code_fingerprint import project_files
    from pipeline import pipeline

    entries = ["components." + name[:-3] for name in os.listdir(f"{PROJECT_ROOT}/components")
               if name.endswith(".py")]
    entries += [path.rsplit(".", 1)[0] for path in (pipeline.PREPROCESSING_FN, pipeline.RUN_FN,
                                                     pipeline.TUNER_FN)]
    for path in project_files(entries):
        relative = os.path.relpath(path, PROJECT_ROOT)
        top = relative.split(os.sep)[0]
        copied = f"COPY {top}/ {top}/" if os.sep in relative else f"COPY {top} ./"
        assert copied in dockerfile, f"the image lacks {relative}"
