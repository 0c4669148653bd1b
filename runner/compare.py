"""Compare loss weightings: one experiment run per (rating_weight, retrieval_weight).

Each setting is a run of the same pipeline in experiment mode (Trainer and Evaluator only
re-run; ExampleGen, validation and Transform come from the cache; nothing is blessed or
pushed), tracked in MLMD like any run. Writes a Markdown table and a plot of RMSE against
top-100 accuracy with the Pareto front (lower RMSE and higher top-100 are better), and both on
one page in the run report's style (comparison.html).
"""

import dataclasses
import html
import json
import os
from typing import Any, Callable, Dict, List, Sequence, Tuple

import names
from pipeline.configs import ConfigError, PipelineConfig
from runner import report

Weights = Tuple[float, float]  # (rating_weight, retrieval_weight)
SEED_WEIGHTS: Tuple[Weights, ...] = ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0))  # the tutorial's three
COMPARISON_DIR = "comparison"


def parse_weights(text: str) -> Weights:
    """`"1,0.5"` → (1.0, 0.5), with a message naming the bad value."""
    parts = text.split(",")
    try:
        rating, retrieval = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"weights {text!r}: expected RATING,RETRIEVAL, e.g. 1,0.5") from None
    return rating, retrieval


def sweep(steps: int) -> List[Weights]:
    """`steps` settings from rating-only to retrieval-only: (1 - t, t) for t in [0, 1]."""
    if steps < 2:
        raise ConfigError(f"a sweep needs at least 2 steps, got {steps}")
    return [(round(1 - i / (steps - 1), 4), round(i / (steps - 1), 4)) for i in range(steps)]


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[bool]:
    """For (rmse, top_100) points: True where no other point is at least as good on both
    and better on one."""
    def dominates(a, b):
        return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])
    return [not any(dominates(other, point) for other in points) for point in points]


def _headers(top_ks: Sequence[int]) -> List[str]:
    return ["weights (rating, retrieval)", "RMSE", *[f"top-{k}" for k in top_ks], "Pareto"]


def _cells(row: Dict[str, Any], top_ks: Sequence[int]) -> List[str]:
    """One weighting's cells under `_headers`, as the Markdown table and the page show them."""
    metrics = row["metrics"]
    return [f"({row['rating_weight']:g}, {row['retrieval_weight']:g})",
            f"{metrics[names.TFMA_RMSE]:.4f}",
            *[f"{metrics[names.tfma_top_k(k)]:.4f}" for k in top_ks],
            "yes" if row["pareto"] else ""]


def markdown_table(rows: List[Dict[str, Any]], top_ks: Sequence[int]) -> str:
    header = _headers(top_ks)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cells(row, top_ks)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot(rows: List[Dict[str, Any]]):
    """RMSE (x, lower is better) against top-100 accuracy (y, higher is better), as a
    matplotlib figure: saved as the PNG and embedded in the page."""
    figure, axes = report.agg_pyplot().subplots(figsize=(6.4, 4.8), dpi=120)
    xs = [row["metrics"][names.TFMA_RMSE] for row in rows]
    ys = [row["metrics"][names.tfma_top_k(100)] for row in rows]
    axes.scatter(xs, ys, color=["tab:red" if row["pareto"] else "tab:gray" for row in rows])
    for row, x, y in zip(rows, xs, ys):
        axes.annotate(f"({row['rating_weight']:g}, {row['retrieval_weight']:g})", (x, y),
                      textcoords="offset points", xytext=(5, 5), fontsize=8)
    front = sorted((x, y) for row, x, y in zip(rows, xs, ys) if row["pareto"])
    axes.plot([x for x, _ in front], [y for _, y in front], color="tab:red", linewidth=1,
              label="Pareto front")
    axes.set_xlabel("RMSE on the eval split (lower is better)")
    axes.set_ylabel("top-100 accuracy over the catalog (higher is better)")
    axes.set_title("Loss weightings: rating vs retrieval")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def html_page(rows: List[Dict[str, Any]], top_ks: Sequence[int], figure) -> str:
    """The table and the plot on one self-contained page in the run report's style (the
    plot embedded; nothing fetched), closing `figure`."""
    headers = [*_headers(top_ks), "pipeline run"]
    cells = [[*_cells(row, top_ks), html.escape(row["pipeline_run"])] for row in rows]
    note = ("<p>One experiment run per weighting: the Trainer and the Evaluator re-run on the "
            "cached data and Transform, nothing is blessed or pushed. Eval split, candidates = "
            "the whole catalog; lower RMSE and higher top-K are better. On the Pareto front: no "
            "other weighting is at least as good on both RMSE and top-100.</p>")
    return report.page("Loss weightings compared",
                       note + report.table(headers, cells)
                       + report.figure_html(figure, "RMSE against top-100 accuracy"))


def compare(config: PipelineConfig, settings: Sequence[Weights],
            run: Callable[[PipelineConfig], Dict[str, Any]]) -> Dict[str, Any]:
    """Runs each setting with `run(config, experiment=True)`; writes and returns the results."""
    if not settings:
        raise ConfigError("no weight settings to compare")
    rows = []
    for rating_weight, retrieval_weight in settings:
        training = dataclasses.replace(config.training, rating_weight=rating_weight,
                                       retrieval_weight=retrieval_weight)
        summary = run(dataclasses.replace(config, training=training))
        rows.append({"rating_weight": rating_weight, "retrieval_weight": retrieval_weight,
                     "pipeline_run": summary["pipeline_run"], "metrics": summary["eval_metrics"],
                     "components": {c["component"]: c["state"] for c in summary["components"]}})
    front = pareto_front([(r["metrics"][names.TFMA_RMSE], r["metrics"][names.tfma_top_k(100)])
                          for r in rows])
    for row, on_front in zip(rows, front):
        row["pareto"] = on_front
    folder = os.path.join(config.output_dir, COMPARISON_DIR)
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, name) for name in (
        "comparison.md", "comparison.png", "comparison.json", "comparison.html")}
    table = markdown_table(rows, config.training.top_ks)
    with open(paths["comparison.md"], "w") as f:
        f.write(table)
    figure = plot(rows)
    figure.savefig(paths["comparison.png"])
    with open(paths["comparison.html"], "w", encoding="utf-8") as f:
        f.write(html_page(rows, config.training.top_ks, figure))
    with open(paths["comparison.json"], "w") as f:
        json.dump(rows, f, indent=2, sort_keys=True)
    return {"rows": rows, "table": table, "paths": paths}
