"""What a run did, read back from MLMD: each component's state and wall time, the evaluation,
the blessing and the pushed model."""

import json
import os
from typing import Any, Callable, Dict, List, Optional

import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

import names

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "executed",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


def _value(artifact, key: str) -> Any:
    if key in artifact.custom_properties:
        prop = artifact.custom_properties[key]
        return prop.string_value or prop.int_value or prop.double_value
    return None


def _record_counts(examples: list) -> Optional[Dict[str, Any]]:
    """The record counts ExampleGen put on this run's Examples (None: none has them)."""
    for artifact in examples:
        text = _value(artifact, names.RECORD_COUNTS_KEY)
        if text:
            return json.loads(text)
    return None


def latest_run_executions(store: metadata_store.MetadataStore):
    """The newest pipeline_run context (one MLMD database per pipeline root) and its executions."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        raise RuntimeError("MLMD holds no pipeline run")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    return run, store.get_executions_by_context(run.id)


def _node_id(store: metadata_store.MetadataStore, execution, node_type_id: int) -> str:
    """The component id, from the execution's `node` context (named `<pipeline>.<node id>`)."""
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id == node_type_id:
            return context.name.split(".", 1)[-1]
    return store.get_execution_types_by_id([execution.type_id])[0].name


def _output_events(store: metadata_store.MetadataStore, execution_ids: List[int]) -> list:
    """The events by which these executions produced (or declared) their outputs."""
    output_events = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    return [e for e in store.get_events_by_execution_ids(execution_ids)
            if e.type in output_events]


def _outputs(store: metadata_store.MetadataStore, artifacts: list) -> Dict[str, list]:
    """The output artifacts by type name."""
    type_ids = list({a.type_id for a in artifacts})
    types = {t.id: t.name for t in store.get_artifact_types_by_id(type_ids)}
    by_type: Dict[str, list] = {}
    for artifact in artifacts:
        by_type.setdefault(types[artifact.type_id], []).append(artifact)
    return by_type


def _output_uris(events: list, artifacts: list, nodes: Dict[int, str]
                 ) -> Dict[str, Dict[str, str]]:
    """{component: {output key: artifact URI}} from the output events of executions
    (`nodes`: execution id → component)."""
    uris = {a.id: a.uri for a in artifacts}
    result: Dict[str, Dict[str, str]] = {}
    for event in events:
        if event.path.steps:
            result.setdefault(nodes[event.execution_id], {})[event.path.steps[0].key] = (
                uris[event.artifact_id])
    return result


def _spans_read(store: metadata_store.MetadataStore, executions: list,
                nodes: Dict[int, str]) -> Optional[Dict[str, Any]]:
    """With a drops folder of spans: the span ExampleGen ingested and the spans Transform and
    the Trainer read ({"ingested": 3, "vocabularies": [1, 2, 3], "trained": [2, 3]}); None
    for a single dataset (the run has no span window resolver)."""
    if names.SPAN_WINDOW_RESOLVER_ID not in nodes.values():
        return None
    wanted = {names.EXAMPLE_GEN_ID: ("ingested", metadata_store_pb2.Event.OUTPUT),
              names.TRANSFORM_ID: ("vocabularies", metadata_store_pb2.Event.INPUT),
              names.TRAINER_ID: ("trained", metadata_store_pb2.Event.INPUT)}
    examples_type = store.get_artifact_type("Examples").id
    spans: Dict[str, Any] = {}
    for execution in executions:
        if nodes[execution.id] not in wanted:
            continue
        key, event_type = wanted[nodes[execution.id]]
        ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution.id])
               if e.type == event_type]
        spans[key] = sorted(a.custom_properties["span"].int_value
                            for a in store.get_artifacts_by_id(ids)
                            if a.type_id == examples_type and "span" in a.custom_properties)
    if spans.get("ingested"):
        spans["ingested"] = spans["ingested"][0]
    return spans


def load_eval_metrics(evaluation_uri: str, model_name: Optional[str] = None
                      ) -> Dict[str, float]:
    """Overall-slice metrics of a TFMA ModelEvaluation artifact, as `output/metric` → value:
    the candidate's, or with `model_name="baseline"` the baseline's (empty if there was none)."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri, model_name=model_name)
    metrics: Dict[str, float] = {}
    for slice_key, by_output in result.slicing_metrics:
        if slice_key:
            continue
        for output_name, by_sub_key in by_output.items():
            for name, value in by_sub_key.get("", {}).items():
                if "doubleValue" in value:
                    key = f"{output_name}/{name}" if output_name else name
                    metrics[key] = value["doubleValue"]
    return metrics


def collect(metadata_path: str, serving_dir: str) -> Dict[str, Any]:
    """The summary of the latest run in the MLMD database at `metadata_path`."""
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    run, executions = latest_run_executions(store)
    node_type_id = store.get_context_type("node").id
    components = []
    pusher_cached = False
    executions = sorted(executions, key=lambda e: (e.create_time_since_epoch, e.id))
    first_started = executions[0].create_time_since_epoch if executions else 0
    nodes = {}
    for execution in executions:
        node = nodes[execution.id] = _node_id(store, execution, node_type_id)
        pusher_cached |= (node == names.PUSHER_ID
                          and execution.last_known_state == metadata_store_pb2.Execution.CACHED)
        components.append({
            "component": node,
            "state": _STATES.get(execution.last_known_state, str(execution.last_known_state)),
            "started_seconds": round((execution.create_time_since_epoch - first_started) / 1000,
                                     2),
            "wall_seconds": round((execution.last_update_time_since_epoch
                                   - execution.create_time_since_epoch) / 1000, 2),
        })
    events = _output_events(store, [e.id for e in executions])
    artifacts = store.get_artifacts_by_id(list({e.artifact_id for e in events}))
    outputs = _outputs(store, artifacts)
    evaluation: Optional[Dict[str, float]] = None
    if outputs.get("ModelEvaluation"):
        evaluation = load_eval_metrics(outputs["ModelEvaluation"][0].uri)
    ranking: Dict[str, Optional[Dict[str, float]]] = {
        names.RANKING_METRICS_FILE: None, names.POPULARITY_METRICS_FILE: None,
        names.RANKING_BY_USER_GROUP_FILE: None}
    for model_run in outputs.get("ModelRun", []):  # the Trainer's per-user ranking metrics
        for file_name in ranking:
            path = os.path.join(model_run.uri, file_name)
            if os.path.exists(path):
                with open(path) as f:
                    ranking[file_name] = json.load(f)
    blessing = outputs.get("ModelBlessing", [None])[0]
    load_check = outputs.get("InfraBlessing", [None])[0]
    pushed = outputs.get("PushedModel", [None])[0]
    serving = serving_paths(
        {key: _value(pushed, key) for key in ("pushed", "pushed_destination",
                                              names.ALREADY_SERVING_KEY)}
        if pushed is not None else None, pusher_cached, serving_dir)
    return {
        "pipeline_run": run.name,
        "eval_metrics": evaluation,
        # Trainer, eval split: per-user ranking metrics over the catalog minus the user's train
        # titles (Recall@K, NDCG@K, MAP, MRR, coverage, novelty), and a popularity baseline's
        "user_ranking_metrics": ranking[names.RANKING_METRICS_FILE],
        "popularity_ranking_metrics": ranking[names.POPULARITY_METRICS_FILE],
        # The same, for known users (with train ratings) and new ones apart, each beside
        # popularity: {group: {"model", "popularity", "eval_ratings"}}
        "ranking_by_user_group": ranking[names.RANKING_BY_USER_GROUP_FILE],
        "blessed": bool(_value(blessing, "blessed")) if blessing is not None else None,
        # Why TFMA's blessing was withdrawn (the Trainer's NDCG@10 threshold), if it was
        "blessing_withdrawn": (_value(blessing, names.RANKING_GATE_KEY)
                               if blessing is not None else None),
        # LoadCheck: the model loads with TensorFlow alone and answers its warm-up requests
        "loads_in_serving": (bool(_value(load_check, "blessed"))
                             if load_check is not None else None),
        "load_check_error": (_value(load_check, names.LOAD_CHECK_ERROR_KEY)
                             if load_check is not None else None),
        **serving,
        # A drops folder of spans: the span ingested, the spans of the vocabularies and of
        # training (None for a single dataset)
        "spans": _spans_read(store, executions, nodes),
        # What ExampleGen read, dropped and wrote, which every later stage reconciled with
        # (components/record_counts.py): files, ratings, superseded, splits, users, titles
        "record_counts": _record_counts(outputs.get("Examples", [])),
        "components": components,
        # Where each component's outputs are, by component and output key (the run report reads
        # the statistics, anomalies, examples and the Trainer's logs from them)
        "artifacts": _output_uris(events, artifacts, nodes),
    }


def serving_paths(pushed: Optional[Dict[str, Any]], pusher_cached: bool, serving_dir: str,
                  exists: Callable[[str], bool] = tf.io.gfile.exists) -> Dict[str, Any]:
    """Where this run's model is served, from the PushedModel's properties (None: no push).

    `pushed_model`: pushed by this run. `already_serving`: pushed by an earlier run (the Pusher
    was cached, or found the same model serving). `served_model_missing`: an earlier run pushed
    it there, but the folder is gone (deleted by hand): the summary never names a served path
    that does not exist.
    """
    result: Dict[str, Any] = {"pushed_model": None, "already_serving": None,
                              "served_model_missing": None}
    if pushed is None:
        return result
    if pushed.get("pushed") and not pusher_cached:
        result["pushed_model"] = pushed.get("pushed_destination")
        return result
    earlier = None
    if pushed.get("pushed"):  # cached: an earlier run pushed it
        earlier = pushed.get("pushed_destination")
    elif pushed.get(names.ALREADY_SERVING_KEY):
        earlier = os.path.join(serving_dir, str(pushed[names.ALREADY_SERVING_KEY]))
    if earlier is not None:
        result["already_serving" if exists(earlier) else "served_model_missing"] = earlier
    return result


def write(summary: Dict[str, Any], path: str) -> None:
    """Writes the summary as JSON, atomically: a reader (or a crash midway) sees the previous
    file or the whole new one, never a truncated one."""
    write_atomically(json.dumps(summary, indent=2, sort_keys=True), path)


def write_atomically(text: str, path: str) -> None:
    """Writes `text` to a temporary file beside `path`, then renames it over `path`."""
    partial = f"{path}.tmp-{os.getpid()}"
    try:
        with open(partial, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
