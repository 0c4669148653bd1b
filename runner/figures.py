"""Each component's key figure, for its line on the console: what a person wants to know of a
component the moment it ends (examples per split, anomalies, vocabulary sizes, epochs and loss,
RMSE and top-100 and the verdict, the pushed version).

Read back from MLMD and the component's output artifacts with the readers the run summary and
the run report use (run_summary.collect, report.split_statistics, ...), so the console, the
summary and the page cannot disagree. Chosen by the component's output keys, not by its id:
what it produced is what the figure describes. Cheap by design: no example is read again; the
examples' figure is their size on disk, the counts come with StatisticsGen's line.
"""

import glob
import os
from typing import Any, Callable, Dict, List, Optional

import names
from components import record_counts
from runner import report, run_summary

Summary = Dict[str, Any]
MAX_ANOMALIES_NAMED = 3


def lookup(metadata_path: str, serving_dir: str) -> Callable[[str], Optional[str]]:
    """component id → its key figure in the latest run of this MLMD database (None: none)."""
    def figure(component: str) -> Optional[str]:
        summary = run_summary.collect(metadata_path, serving_dir)
        return describe(component, summary)
    return figure


def describe(component: str, summary: Summary) -> Optional[str]:
    """The figure of `component` from a run summary (run_summary.collect's)."""
    outputs = summary.get("artifacts", {}).get(component, {})
    parts = []
    for key, figure in _BY_OUTPUT.items():
        text = figure(outputs[key], outputs, summary) if key in outputs else None
        if text:
            parts.append(text)
    return "; ".join(parts) or None


def _size(num_bytes: int) -> str:
    value, unit = float(num_bytes), "B"
    for larger in ("kB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{num_bytes} B" if unit == "B" else f"{value:.1f} {unit}"


def _decimals(value: float) -> str:
    """Four decimals; one for a large value (a loss summed over a batch is thousands)."""
    return f"{value:,.{1 if abs(value) >= 100 else 4}f}"


def _examples(uri: str, outputs: Dict[str, str], summary: Summary) -> Optional[str]:
    """The record counts ExampleGen recorded (read, dropped, written), else bytes per split:
    counting the examples would mean reading them again."""
    if summary.get("record_counts"):
        return record_counts.RecordCounts.from_dict(summary["record_counts"]).summary()
    sizes = {os.path.basename(folder)[len("Split-"):]: sum(
                 os.path.getsize(path) for path in glob.glob(os.path.join(folder, "*")))
             for folder in sorted(glob.glob(os.path.join(uri, "Split-*")))}
    if not sizes:
        return None
    return ", ".join(f"{split} {_size(size)}" for split, size in sizes.items()) + " (gzipped)"


def _statistics(uri: str, outputs: Dict[str, str], summary: Summary) -> Optional[str]:
    splits = report.split_statistics(uri)
    if not splits:
        return None
    return ", ".join(f"{split} {int(dataset.num_examples):,}"
                     for split, dataset in splits.items()) + " examples"


def _anomalies(uri: str, outputs: Dict[str, str], summary: Summary) -> str:
    found = report.anomalies(uri)
    if not found:
        return "no anomalies"
    named = [f"{split} {feature}" for split, feature, _ in found[:MAX_ANOMALIES_NAMED]]
    more = f" and {len(found) - len(named)} more" if len(found) > len(named) else ""
    return f"{len(found)} anomalies: {', '.join(named)}{more}"


def _vocabularies(uri: str, outputs: Dict[str, str], summary: Summary) -> str:
    import tensorflow_transform as tft

    from models.data import vocabulary_sizes

    users, titles = vocabulary_sizes(tft.TFTransformOutput(uri))
    return f"vocabularies: {users:,} users, {titles:,} titles"


def _training(uri: str, outputs: Dict[str, str], summary: Summary) -> Optional[str]:
    """Epochs, and the loss and RMSE of the epoch whose weights were kept (early stopping
    restores the best epoch's; otherwise the last)."""
    log = report.training_log(uri)
    if log is None:
        return None
    trained, kept = log.get("epochs_trained"), log.get("best_epoch")
    history: Dict[str, List[float]] = log.get("history", {})
    epoch = (kept or trained or 0) - 1
    # A refit model's own (training) figures are its last epoch's, under "refit_" names.
    prefix = "refit_" if log.get("refitted") else ""
    values = [f"{label} {_decimals(history[prefix + key][epoch])}" for label, key in (
        ("loss", "loss"), ("RMSE", names.RMSE_METRIC))
        if len(history.get(prefix + key, [])) > epoch >= 0]
    epochs = f"{trained} epoch{'s' if trained != 1 else ''}" + (
        f", epoch {kept} {'refit on all of train' if log.get('refitted') else 'kept'}"
        if kept else "")
    return ", ".join([epochs, *values])


def _evaluation(uri: str, outputs: Dict[str, str], summary: Summary) -> Optional[str]:
    metrics = summary.get("eval_metrics") or {}
    values = [f"{label} {metrics[key]:.4f}" for label, key in (
        ("RMSE", names.TFMA_RMSE), ("top-100", names.tfma_top_k(100))) if key in metrics]
    return ", ".join(values) or None


def _blessing(uri: str, outputs: Dict[str, str], summary: Summary) -> Optional[str]:
    """The Evaluator's verdict, or, from the LoadCheck (its blessing is an InfraBlessing),
    whether the model loads as TF Serving would load it."""
    if "evaluation" in outputs:
        blessed = summary.get("blessed")
        return None if blessed is None else "blessed" if blessed else "not blessed"
    loads = summary.get("loads_in_serving")
    return (None if loads is None else "loads as TF Serving would" if loads
            else "does not load as TF Serving would")


def _pushed(uri: str, outputs: Dict[str, str], summary: Summary) -> str:
    for key, words in (("pushed_model", "pushed version {}"),
                       ("already_serving", "already serving version {}"),
                       ("served_model_missing", "not pushed; version {}, pushed earlier, is gone")):
        if summary.get(key):
            return words.format(os.path.basename(summary[key]))
    return "not pushed"


# Output key → its figure, in the order they are shown on a line.
_BY_OUTPUT: Dict[str, Callable[[str, Dict[str, str], Summary], Optional[str]]] = {
    "examples": _examples,
    "statistics": _statistics,
    "anomalies": _anomalies,
    "transform_graph": _vocabularies,
    "model_run": _training,
    "evaluation": _evaluation,
    "blessing": _blessing,
    "pushed_model": _pushed,
}
