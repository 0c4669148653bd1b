"""The continuous-training loop replayed on real data: a GroupLens dataset cut by time into
spans (runner/spans.py), the pipeline run once per span as each one "arrives", and a table and
plot of what every run did.

Each run is `local_runner.py --data <drops> --window W --split time` in its own process (as a
scheduler would start it), after span k's folder is added to the drops folder: it ingests the
newest span, checks its drift against the previous span, trains on the window, evaluates the
candidate and the served model on the newest span, and pushes a blessed model.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import names
from components import atomic_pusher
from runner import report, run_summary, spans

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLAY_FILES = ("replay.md", "replay.json", "replay.png")
_ERROR_LINES = 3  # of a stopped run's stderr, kept for the table
_DRIFT_LINE = re.compile(r"drift: (\S+) (.+?) ([-+0-9.eE]+) > ([-+0-9.eE]+) between span")
# Flags every run gets before the user's (which win): value floors for the time-honest
# evaluation of small spans. The defaults (RMSE <= 1.2, top-100 >= 0.15) were set for the hash
# split of all of ML-100K; a seed model scored on the ratings after its training data reaches
# top-100 ~ 0.09 on the whole of ML-100K (docs/experiments.md, --split time) and RMSE 1.35 on
# the first half's last fifth (measured here): nothing would ever be blessed or served. The
# change thresholds against the served model (both scored on the same newest span) still
# guard every later span.
REPLAY_RUNNER_ARGS = ("--max-rmse", "1.5", "--min-top-100", "0.05")


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """What to replay and how (the CLI's flags, validated)."""

    source: str  # a GroupLens folder or zip
    work_dir: str  # spans/, drops/, pipeline/ and the replay's table go here
    num_spans: int = 5
    first_percent: int = 50  # the first span's share of the ratings: the starting history
    window: int = 2  # spans the Trainer reads
    fault: Optional[spans.Fault] = None
    runner_args: Sequence[str] = ()  # more local_runner.py flags (e.g. --epochs 1)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise spans.SpanCutError(f"window must be >= 1, got {self.window}")
        if self.fault is not None and self.fault.span == 1:
            raise spans.SpanCutError("the fault span must be 2 or later: the first span has "
                                     "no previous one to drift from, nor a served model")


def _served_version(serving_dir: str) -> Optional[str]:
    """The newest complete version folder TF Serving would load (the Pusher's own reading of
    the serving folder), or None."""
    versions = atomic_pusher.served_versions(serving_dir)
    return str(versions[-1]) if versions else None


def _component_seconds(summary: Dict[str, Any], component: str) -> Optional[float]:
    for entry in summary.get("components", []):
        if entry["component"] == component and entry["state"] == "executed":
            return entry["wall_seconds"]
    return None


def drift_distances(summary: Dict[str, Any], stderr: str = "") -> Dict[str, Dict[str, Any]]:
    """{feature: {"distance", "threshold", "exceeded", ...}} from the run's drift gate; {} when
    it did not run.

    A passing gate's drift.json holds every compared feature. A gate that stopped the run
    leaves no output (TFX removes a failed execution's output folders), so the features past
    their thresholds are read from its message instead (`drift: <feature> <measure> <distance>
    > <threshold> between span N and span M (<split>)`, DriftGate's lines).
    """
    uri = summary.get("artifacts", {}).get(names.DRIFT_GATE_ID, {}).get(names.DRIFT_OUTPUT)
    path = os.path.join(uri, names.DRIFT_FILE) if uri else None
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f).get("features", {})
    found: Dict[str, Dict[str, Any]] = {}
    for feature, measure, distance, threshold in _DRIFT_LINE.findall(stderr):
        if feature not in found or float(distance) > found[feature]["distance"]:
            found[feature] = {"distance": float(distance), "threshold": float(threshold),
                              "exceeded": True, "measure": measure}
    return found


def served_model_metrics(summary: Dict[str, Any]) -> Dict[str, float]:
    """The Evaluator's metrics of the served model (its baseline) on this run's eval split;
    {} when there was none (the first model) or the Evaluator did not run."""
    uri = summary.get("artifacts", {}).get(names.EVALUATOR_ID, {}).get("evaluation")
    if not uri:
        return {}
    return run_summary.load_eval_metrics(uri, model_name="baseline")


def stop_reason(stderr: str) -> str:
    """Why a run stopped, from its stderr: the runner's `error:` block (a data error: the
    gate's message, a line per drifted feature and split), else the last lines (a traceback's
    end)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if starts:
        return " / ".join(lines[starts[-1]:])
    return " / ".join(lines[-_ERROR_LINES:])


def _row(info: spans.SpanInfo, summary: Dict[str, Any], returncode: int, stderr: str,
         wall_seconds: float, output_dir: str) -> Dict[str, Any]:
    metrics = summary.get("eval_metrics") or {}
    ranking = summary.get("user_ranking_metrics") or {}
    stopped = None
    if returncode != 0:
        stopped = stop_reason(stderr) or f"exit status {returncode}"
    pushed = summary.get("pushed_model")
    served = served_model_metrics(summary)
    return {
        **dataclasses.asdict(info),
        "drift": drift_distances(summary, stderr),
        "rmse": metrics.get(names.TFMA_RMSE),
        "top_100": metrics.get(names.tfma_top_k(100)),
        # The served model on the same eval split: what the change thresholds compared with
        "served_rmse": served.get(names.TFMA_RMSE),
        "served_top_100": served.get(names.tfma_top_k(100)),
        "recall_at_100": ranking.get(names.recall_metric(100)),
        "ndcg_at_10": ranking.get(names.ndcg_metric(10)),
        "blessed": summary.get("blessed"),
        "pushed_version": os.path.basename(pushed) if pushed else None,
        "serving_version": _served_version(
            os.path.join(output_dir, "serving", names.MODEL_NAME)),
        "trainer_seconds": _component_seconds(summary, names.TRAINER_ID),
        "run_seconds": round(wall_seconds, 1),
        "stopped": stopped,
    }


def run_span(config: ReplayConfig, drops: str, output_dir: str) -> Dict[str, Any]:
    """One pipeline run on the drops folder as it is; its summary, exit status, time."""
    command = [sys.executable, os.path.join(ROOT, "local_runner.py"), "--data", drops,
               "--output-dir", output_dir, "--window", str(config.window), "--split", "time",
               *REPLAY_RUNNER_ARGS, *config.runner_args]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wall = time.monotonic() - started
    pipeline_root = os.path.join(output_dir, "pipeline_root")
    try:  # MLMD knows a stopped run's components too; run_summary.json is a finished run's
        summary = run_summary.collect(os.path.join(pipeline_root, "metadata.sqlite"),
                                      os.path.join(output_dir, "serving", names.MODEL_NAME))
    except RuntimeError:
        summary = {}
    return {"summary": summary, "returncode": result.returncode, "stderr": result.stderr,
            "wall_seconds": wall}


def replay(config: ReplayConfig, log=print) -> List[Dict[str, Any]]:
    """Cuts the source, runs the pipeline span by span, returns a row per span."""
    spans_dir = os.path.join(config.work_dir, "spans")
    drops = os.path.join(config.work_dir, "drops")
    output_dir = os.path.join(config.work_dir, "pipeline")
    for path in (spans_dir, drops, output_dir):
        if os.path.exists(path):
            raise spans.SpanCutError(f"{path} exists: give the replay a new --work-dir")
    infos, malformed = spans.cut(config.source, spans_dir, config.num_spans, config.first_percent,
                                 config.fault)
    if malformed:
        log(f"{malformed} malformed ratings line(s) of {config.source} left out of the spans")
    os.makedirs(drops)
    rows = []
    for info, folder in zip(infos, spans.span_folders(spans_dir)):
        shutil.copytree(folder, os.path.join(drops, os.path.basename(folder)))
        log(f"span {info.span}: {info.ratings} ratings, {info.new_users} new users, "
            f"{info.new_titles} new titles{', fault ' + info.fault if info.fault else ''}")
        result = run_span(config, drops, output_dir)
        row = _row(info, result["summary"], result["returncode"], result["stderr"],
                   result["wall_seconds"], output_dir)
        rows.append(row)
        log(f"  -> {'stopped: ' + row['stopped'] if row['stopped'] else 'ran'}; blessed "
            f"{row['blessed']}, serving {row['serving_version']}, {row['run_seconds']} s")
    return rows


def _number(value: Optional[float], digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _drift_text(drift: Dict[str, Dict[str, float]]) -> str:
    if not drift:
        return "—"
    parts = []
    for feature, values in sorted(drift.items()):
        past = f" (> {values['threshold']:g})" if values.get("exceeded") else ""
        parts.append(f"{feature} {values['distance']:.3f}{past}")
    return ", ".join(parts)


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The replay's table, a row per span."""
    header = ("| span | ratings | new users | new titles | fault | drift (distance) | RMSE "
              "(served) | top-100 (served) | recall@100 | NDCG@10 | blessed | pushed | serving "
              "after | Trainer s | run s | stopped |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        lines.append(
            f"| {row['span']} | {row['ratings']:,} | {row['new_users']} | {row['new_titles']} | "
            f"{row['fault'] or '—'} | {_drift_text(row['drift'])} | {_number(row['rmse'])} "
            f"({_number(row.get('served_rmse'))}) | {_number(row['top_100'])} "
            f"({_number(row.get('served_top_100'))}) | {_number(row['recall_at_100'])} | "
            f"{_number(row['ndcg_at_10'])} | "
            f"{'—' if row['blessed'] is None else row['blessed']} | "
            f"{row['pushed_version'] or '—'} | {row['serving_version'] or '—'} | "
            f"{_number(row['trainer_seconds'], 1)} | {row['run_seconds']:.1f} | "
            f"{(row['stopped'] or '—').replace('|', '/')[:160]} |")
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict[str, Any]], path: str) -> None:
    """RMSE, top-100 and recall@100 per span; a span that stopped or was not blessed marked."""
    pyplot = report.agg_pyplot()
    figure, (quality, ranking) = pyplot.subplots(1, 2, figsize=(10, 3.6))
    span_numbers = [row["span"] for row in rows]
    quality.plot(span_numbers, [row["rmse"] for row in rows], "o-", label="RMSE")
    quality.set_xlabel("span")
    quality.set_ylabel("RMSE (newest span's eval)")
    for key, label in (("top_100", "top-100 accuracy"), ("recall_at_100", "per-user recall@100")):
        ranking.plot(span_numbers, [row[key] for row in rows], "o-", label=label)
    ranking.set_xlabel("span")
    ranking.legend(loc="best")
    for axis in (quality, ranking):
        for row in rows:
            if row["stopped"] or row["blessed"] is False:
                axis.axvspan(row["span"] - 0.4, row["span"] + 0.4, color="tab:red", alpha=0.12)
        axis.set_xticks(span_numbers)
    figure.suptitle("Replay: one pipeline run per span (red: stopped or not blessed)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def write(rows: List[Dict[str, Any]], config: ReplayConfig) -> List[str]:
    """replay.md, replay.json and replay.png in the work folder; their paths."""
    paths = [os.path.join(config.work_dir, name) for name in REPLAY_FILES]
    with open(paths[0], "w") as f:
        f.write(markdown(rows))
    run_summary.write_atomically(json.dumps(
        {"config": {**dataclasses.asdict(config), "runner_args": list(config.runner_args)},
         "spans": rows}, indent=2, default=str), paths[1])
    plot(rows, paths[2])
    return paths
