"""`<output-dir>/report.html`: what a run did, on one self-contained page.

The figures a person wants to look at are spread over MLMD, TFDV's statistics, Keras's history
and TFMA's results; the page gathers them from the run summary (run_summary.collect, which
names every output's URI) and the artifacts it points to. Images are PNGs embedded as data
URIs and the page has no script and no external reference, so it opens offline, from a mail
attachment or a CI artifact as well. A failed run gets a page too: where and why it stopped,
and whatever the components before it produced.

Sections: the verdict; the data (ratings per split, users, titles, rating histogram, ratings per
user and per title by rank, anomalies); training (loss and each task's metric per epoch,
validation and early stopping's kept epoch); evaluation against the baseline and the thresholds
(TFMA) and the per-user ranking metrics against the popularity baseline; sample recommendations
of the served model; a timeline of the components.
"""

import base64
import glob
import html
import io
import json
import os
from collections import Counter, defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import names
from components import record_counts

REPORT_FILE = "report.html"
SAMPLE_USERS = 3  # users shown with their recommendations
SAMPLE_EXAMPLES = 50_000  # train examples read to find them (the split's head, not all of it)
RECOMMENDED = 10

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.verdict { font-size: 1.2em; padding: .6em 1em; border-radius: .3em; display: inline-block; }
.ok { background: #e3f4e1; } .no { background: #fbe3e1; } .note { color: #555; }
.fail { color: #a00; } .pass { color: #070; }
img { max-width: 100%; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else _e(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], text_columns: int = 1) -> str:
    """An HTML table; the first `text_columns` columns left-aligned, numbers right-aligned."""
    def cell(tag: str, index: int, value: Any) -> str:
        css = ' class="text"' if index < text_columns else ""
        return f"<{tag}{css}>{value}</{tag}>"
    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def figure_html(figure, alt: str) -> str:
    """The matplotlib figure as an embedded PNG (closed afterwards)."""
    from matplotlib import pyplot

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    pyplot.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def agg_pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display): the report's and
    the comparison page's plots."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    return pyplot


# ----------------------------------------------------------------------------------- the data

def split_statistics(statistics_uri: str) -> Dict[str, Any]:
    """{split: DatasetFeatureStatistics} of a StatisticsGen output."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    result = {}
    for path in sorted(glob.glob(os.path.join(statistics_uri, "Split-*", "FeatureStats.pb"))):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with open(path, "rb") as f:
            stats.ParseFromString(f.read())
        if stats.datasets:
            result[os.path.basename(os.path.dirname(path))[len("Split-"):]] = stats.datasets[0]
    return result


def _feature(dataset, name: str):
    for feature in dataset.features:
        if feature.name == name or (feature.path.step and feature.path.step[-1] == name):
            return feature
    return None


def anomalies(anomalies_uri: str) -> List[Tuple[str, str, str]]:
    """(split, feature, description) of every anomaly ExampleValidator found."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = []
    for path in sorted(glob.glob(os.path.join(anomalies_uri, "Split-*", "SchemaDiff.pb"))):
        proto = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        for feature, info in sorted(proto.anomaly_info.items()):
            found.append((split, feature, info.description or info.short_description))
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            found.append((split, "(dataset)", info.description or info.short_description))
    return found


def data_section(artifacts: Dict[str, Dict[str, str]],
                 counts: Optional[Dict[str, Any]] = None) -> str:
    """Per split ratings, users and titles, ExampleGen's record `counts`, the histograms and
    the anomalies."""
    statistics_uri = artifacts.get("StatisticsGen", {}).get("statistics")
    if not statistics_uri:
        return "<p class='note'>No statistics: the run stopped before StatisticsGen.</p>"
    splits = split_statistics(statistics_uri)
    rows = []
    for split, dataset in splits.items():
        users, titles = _feature(dataset, names.USER_ID), _feature(dataset, names.MOVIE_TITLE)
        rows.append([_e(split), _number(int(dataset.num_examples)),
                     _number(int(users.string_stats.unique)) if users else "—",
                     _number(int(titles.string_stats.unique)) if titles else "—"])
    parts = [table(["split", "ratings", "users", "titles"], rows)]
    if counts is not None:
        line = record_counts.RecordCounts.from_dict(counts).summary()
        parts.append(f"<p>Record counts: {_e(line)} (StatisticsGen, Transform, the Trainer "
                     f"and the Evaluator each consumed exactly these).</p>")
    figure, (ratings_axis, tail_axis) = agg_pyplot().subplots(1, 2, figsize=(11, 3.6))
    for split, dataset in splits.items():
        rating = _feature(dataset, names.USER_RATING)
        if rating is not None:
            buckets = [b for h in rating.num_stats.histograms if h.type == h.STANDARD
                       for b in h.buckets]
            ratings_axis.bar([(b.low_value + b.high_value) / 2 for b in buckets],
                             [b.sample_count for b in buckets], alpha=0.6, label=split,
                             width=max((b.high_value - b.low_value for b in buckets),
                                       default=0.4) * 0.9)
        for name, style in ((names.USER_ID, "-"), (names.MOVIE_TITLE, "--")):
            feature = _feature(dataset, name)
            if feature is None or not feature.string_stats.rank_histogram.buckets:
                continue
            counts = [b.sample_count for b in feature.string_stats.rank_histogram.buckets]
            tail_axis.plot(range(1, len(counts) + 1), counts, style,
                           label=f"{'per user' if name == names.USER_ID else 'per title'} "
                                 f"({split})")
    ratings_axis.set(title="Rating histogram", xlabel="rating", ylabel="ratings")
    ratings_axis.legend()
    tail_axis.set(title="Ratings per user and per title, by rank (long tail)",
                  xlabel="rank", ylabel="ratings", xscale="log", yscale="log")
    tail_axis.legend(fontsize="small")
    parts.append(figure_html(figure, "rating histogram and long tail"))
    anomalies_uri = artifacts.get("ExampleValidator", {}).get("anomalies")
    if anomalies_uri:
        found = anomalies(anomalies_uri)
        parts.append(table(["split", "feature", "anomaly"],
                            [[_e(s), _e(f), _e(d)] for s, f, d in found], text_columns=3)
                     if found else "<p>Anomalies: none (the data matches the curated schema).</p>")
    return "".join(parts)


# ------------------------------------------------------------------------------- training

def training_log(model_run: str) -> Optional[Dict[str, Any]]:
    """The Trainer's `training_log.json` in its ModelRun folder (epochs trained, early
    stopping's kept epoch, the Keras history), or None before the Trainer wrote it."""
    path = os.path.join(model_run, names.TRAINING_LOG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def training_section(artifacts: Dict[str, Dict[str, str]]) -> str:
    model_run = artifacts.get(names.TRAINER_ID, {}).get("model_run")
    log = training_log(model_run) if model_run else None
    if log is None:
        return "<p class='note'>No training log: the Trainer did not run to its end.</p>"
    history: Dict[str, List[float]] = log.get("history", {})
    curves = sorted(name for name in history
                    if not name.startswith(("val_", "refit_", names.RATING_HEAD_HISTORY_PREFIX))
                    and name not in ("regularization_loss", "total_loss"))
    figure, axes = agg_pyplot().subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4),
                                         squeeze=False)
    best = log.get("best_epoch")
    for axis, name in zip(axes[0], curves):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], "o-", label="train")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], "s--", label="validation")
        if f"refit_{name}" in history:  # the exported model: all of train, `best` epochs
            axis.plot(range(1, len(history[f"refit_{name}"]) + 1), history[f"refit_{name}"],
                      "^-", label="refit on all of train")
        head_start = best or len(history[name])  # the rating head alone, after the joint
        head = names.RATING_HEAD_HISTORY_PREFIX
        for prefix, style, label in ((head, "o-", "rating head alone"),
                                     (f"{head}val_", "s--", "rating head alone (validation)")):
            if f"{prefix}{name}" in history:
                values = history[f"{prefix}{name}"]
                axis.plot(range(head_start + 1, head_start + len(values) + 1), values, style,
                          label=label)
        if best:
            axis.axvline(best, color="gray", linestyle=":", label=f"kept epoch {best}")
        axis.set(title=name, xlabel="epoch")
        axis.legend(fontsize="small")
    if log.get("refitted"):
        held_out = _number(log.get("validation_examples"))
        note = (f"{log.get('epochs_trained')} epoch(s) with {held_out} examples held out; "
                f"early stopping chose epoch {best}, then a model was trained on all "
                f"{_number(log.get('fit_examples'))} train examples for {best}")
    else:
        note = (f"{log.get('epochs_trained')} epoch(s) on {_number(log.get('fit_examples'))} "
                f"examples" + (f"; early stopping kept epoch {best}" if best else ""))
    if log.get("rating_head_epochs"):
        note += (f"; then {log['rating_head_epochs']} epoch(s) of the rating head alone, "
                 "the towers frozen")
    return f"<p>{_e(note)}</p>" + figure_html(figure, "training curves")


# ----------------------------------------------------------------------------- evaluation

def _baseline_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The baseline model's overall metrics in a TFMA result (empty when there was none)."""
    from runner.run_summary import load_eval_metrics

    try:
        return load_eval_metrics(evaluation_uri, model_name="baseline")
    except Exception:  # noqa: BLE001 (no baseline evaluated: TFMA may not know the name)
        return {}


def _thresholds(config: Dict[str, Any]) -> Dict[str, str]:
    """{summary metric key: the thresholds on it, in words} from the run's config."""
    thresholds = (config or {}).get("thresholds") or {}
    words: Dict[str, List[str]] = defaultdict(list)
    rules = {"max_rmse": (names.TFMA_RMSE, "≤ {}"),
             "min_top_100_accuracy": (names.tfma_top_k(100), "≥ {}"),
             "max_rmse_increase": (names.TFMA_RMSE, "at most +{} vs baseline"),
             "max_top_100_decrease": (names.tfma_top_k(100), "at most −{} vs baseline"),
             "min_ndcg_at_10": (names.ndcg_metric(10), "≥ {}"),
             "min_ndcg_lift_over_popularity": (names.ndcg_metric(10), "≥ {}× popularity")}
    for field, (metric, template) in rules.items():
        value = thresholds.get(field)
        if value is not None and value >= 0:
            words[metric].append(template.format(value))
    return {metric: "; ".join(texts) for metric, texts in words.items()}


def evaluation_section(summary: Dict[str, Any]) -> str:
    metrics = summary.get("eval_metrics")
    if not metrics:
        return "<p class='note'>No evaluation: the run stopped before the Evaluator.</p>"
    evaluation_uri = summary.get("artifacts", {}).get(names.EVALUATOR_ID, {}).get("evaluation")
    baseline = _baseline_metrics(evaluation_uri) if evaluation_uri else {}
    thresholds = _thresholds(summary.get("config", {}))
    # TFMA reports each change against the baseline as a metric of its own, `<name>_diff`.
    rows = [[_e(name), _number(value), _number(baseline.get(name)),
             _number(metrics.get(f"{name}_diff")), _e(thresholds.get(name, ""))]
            for name, value in sorted(metrics.items()) if not name.endswith("_diff")]
    parts = ["<h3>TFMA, eval split</h3>",
             table(["metric", "candidate", "baseline (served model)", "change", "threshold"],
                    rows)]
    if not baseline:
        parts.append("<p class='note'>No baseline: no model was being served, so only the "
                     "value thresholds applied.</p>")
    model = summary.get("user_ranking_metrics") or {}
    popularity = summary.get("popularity_ranking_metrics") or {}
    if model:
        def shown(name: str, value: Optional[float]) -> str:
            return _number(int(value) if name == names.RANKED_USERS and value is not None
                           else value)

        rows = [[_e(name), shown(name, value), shown(name, popularity.get(name)),
                 _e(thresholds.get(name, ""))] for name, value in sorted(model.items())]
        parts += ["<h3>Per user, the user's train titles removed (the Trainer)</h3>",
                  table(["metric", "model", "popularity baseline", "threshold"], rows)]
    groups = summary.get("ranking_by_user_group") or {}
    shown_groups = [name for name in names.USER_GROUPS if name in groups]
    if shown_groups:
        rankers = [ranker for ranker in names.RANKERS
                   if any(ranker in groups[group] for group in shown_groups)]
        names_in_order = sorted({name for group in shown_groups
                                 for name in groups[group].get(names.MODEL_RANKER) or {}})
        headers = ["metric"] + [f"{group.replace('_', ' ')}: {who.replace('_', ' ')}"
                                for group in shown_groups for who in rankers]
        rows = [[_e(name)] + [_number((groups[group].get(who) or {}).get(name))
                              for group in shown_groups for who in rankers]
                for name in names_in_order]
        parts += ["<h3>Known users (with train ratings), new users given their first "
                  f"{names.FOLD_IN_RATINGS} eval ratings as history, new users with fewer</h3>",
                  table(headers, rows)]
    return "".join(parts)


# ------------------------------------------------------------------------ recommendations

def _served_model(summary: Dict[str, Any]) -> Optional[str]:
    path = summary.get("pushed_model") or summary.get("already_serving")
    return path if path and os.path.isdir(path) else None


def _sample_users(examples_uri: str) -> Dict[str, List[Tuple[float, str]]]:
    """The SAMPLE_USERS users with the most ratings in the train split's first
    SAMPLE_EXAMPLES examples, with those (rating, title)s."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_uri, "Split-train", "*")))
    if not files:
        return {}
    spec = {names.USER_ID: tf.io.FixedLenFeature([], tf.string),
            names.MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
            names.USER_RATING: tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}
    dataset = (tf.data.TFRecordDataset(files, compression_type="GZIP").take(SAMPLE_EXAMPLES)
               .batch(4096).map(lambda records: tf.io.parse_example(records, spec)))
    rated: Dict[str, List[Tuple[float, str]]] = defaultdict(list)
    for batch in dataset.as_numpy_iterator():
        for user, title, rating in zip(batch[names.USER_ID], batch[names.MOVIE_TITLE],
                                       batch[names.USER_RATING]):
            rated[user.decode()].append((float(rating), title.decode()))
    busiest = [user for user, _ in Counter({u: len(r) for u, r in rated.items()})
               .most_common(SAMPLE_USERS)]
    return {user: sorted(rated[user], reverse=True) for user in busiest}


def recommendations_section(summary: Dict[str, Any]) -> str:
    model_dir = _served_model(summary)
    examples_uri = summary.get("artifacts", {}).get("MovieLensExampleGen", {}).get("examples")
    if model_dir is None or not examples_uri:
        return "<p class='note'>No served model to ask.</p>"
    from serving.client import LocalClient, recommend_request

    users = _sample_users(examples_uri)
    if not users:
        return "<p class='note'>No train examples to pick users from.</p>"
    client = LocalClient(model_dir)
    # The model refuses a k over its serving_max_k: ask for as many as it allows.
    max_k = ((summary.get("config") or {}).get("training") or {}).get("serving_max_k")
    parts = [f"<p>From the served model ({_e(model_dir)}), <code>recommend</code>, leaving out "
             f"the titles each user rated in the sample; beside them the titles the user rated "
             f"highest in train (of the split's first {SAMPLE_EXAMPLES:,} examples).</p>"]
    for user, rated in users.items():
        seen = {title for _, title in rated}
        k = min(RECOMMENDED + len(seen), max_k or RECOMMENDED + len(seen))
        response = client.call(recommend_request([user], k))
        recommended = [t for t in response[names.TITLES_OUTPUT][0] if t not in seen]
        recommended = recommended[:RECOMMENDED]
        liked = [f"{title} ({rating:g}★)" for rating, title in rated[:RECOMMENDED]]
        rows = [[_e(r), _e(liked[i]) if i < len(liked) else ""]
                for i, r in enumerate(recommended)]
        parts.append(f"<h3>User {_e(user)} ({len(rated)} ratings in the sample)</h3>"
                     + table(["recommended", "rated highest in train"], rows, text_columns=2))
    return "".join(parts)


# ------------------------------------------------------------------------------- timeline

def timeline_section(components: List[Dict[str, Any]]) -> str:
    if not components:
        return "<p class='note'>No component ran.</p>"
    figure, axis = agg_pyplot().subplots(figsize=(10, 0.35 * len(components) + 1))
    colours = {"executed": "tab:blue", "cached": "tab:green", "failed": "tab:red"}
    for row, component in enumerate(components):
        axis.barh(row, max(component["wall_seconds"], 0.2),
                  left=component.get("started_seconds", 0.0),
                  color=colours.get(component["state"], "tab:gray"))
    axis.set_yticks(range(len(components)),
                    [f"{c['component']} ({c['state']})" for c in components])
    axis.invert_yaxis()
    axis.set(xlabel="seconds since the first component started")
    rows = [[_e(c["component"]), _e(c["state"]), f"{c['wall_seconds']:.1f}"] for c in components]
    return (figure_html(figure, "component timeline")
            + table(["component", "state", "seconds"], rows, text_columns=2))


# ---------------------------------------------------------------------------------- page

def _verdict(summary: Dict[str, Any], error: Optional[str]) -> str:
    if error:
        failed = [c["component"] for c in summary.get("components", []) if c["state"] == "failed"]
        where = f" in {', '.join(failed)}" if failed else ""
        return (f"<div class='verdict no'>The run stopped{_e(where)}.</div>"
                f"<pre class='fail'>{_e(error)}</pre>")
    blessed = summary.get("blessed")
    pushed = summary.get("pushed_model")
    if pushed:
        text, css = f"Blessed and pushed: {pushed}", "ok"
    elif summary.get("already_serving"):
        text, css = f"Blessed; already serving {summary['already_serving']}", "ok"
    elif blessed:
        text, css = "Blessed, not pushed", "no"
    else:
        why = summary.get("blessing_withdrawn") or summary.get("load_check_error") or (
            "below a threshold or worse than the baseline (see Evaluation)")
        text, css = f"Not blessed: {why}", "no"
    return f"<div class='verdict {css}'>{_e(text)}</div>"


def _section(title: str, render, *args) -> str:
    """A section; one that cannot be drawn says why instead of failing the whole page."""
    try:
        body = render(*args)
    except Exception as error:  # noqa: BLE001 (the page is a report, not the run's outcome)
        body = f"<p class='fail'>This section could not be drawn: {_e(repr(error))}</p>"
    return f"<h2>{_e(title)}</h2>{body}"


def render(summary: Dict[str, Any], error: Optional[str] = None) -> str:
    """The whole page, from a run summary (run_summary.collect plus wall_seconds and config)
    and, for a failed run, the error it stopped with."""
    artifacts = summary.get("artifacts", {})
    title = f"Pipeline run {summary.get('pipeline_run', '')}"
    wall = summary.get("wall_seconds")
    sections = [
        _section("Data", data_section, artifacts, summary.get("record_counts")),
        _section("Training", training_section, artifacts),
        _section("Evaluation", evaluation_section, summary),
        _section("Sample recommendations", recommendations_section, summary),
        _section("Timeline", timeline_section, summary.get("components", [])),
    ]
    return page(title, (f"<p class='note'>{wall:.1f} s</p>" if wall is not None else "")
                + _verdict(summary, error) + "".join(sections))


def page(title: str, body: str) -> str:
    """A whole page in the report's style: the title as heading, `body` (HTML) below it."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>")


def write_failed(summary_so_far: Callable[[], Dict[str, Any]], error: BaseException,
                 path: str) -> None:
    """The page of a run that raised `error`: what MLMD holds of it (if anything) and why it
    stopped, a data error in its own words (runner/errors.py), anything else as raised."""
    from runner import errors

    try:
        summary = summary_so_far()
    except Exception:  # noqa: BLE001 (nothing in MLMD yet: the page still says why)
        summary = {"components": []}
    message = errors.data_error_message(error) or f"{type(error).__name__}: {error}"
    write(summary, path, error=message)


def write(summary: Dict[str, Any], path: str, error: Optional[str] = None) -> None:
    """Writes the page atomically (temp file + rename), as the run summary is written."""
    from runner.run_summary import write_atomically

    write_atomically(render(summary, error), path)
