"""`local_runner.py --compare`: experiment runs per weighting, a table, a plot, the Pareto front."""

import base64
import html.parser
import json
import os

import pytest

import local_runner
import names
from components.atomic_pusher import directory_digest
from pipeline.configs import ConfigError
from runner import compare


def test_pareto_front_keeps_the_non_dominated_points():
    # (rmse, top_100): lower rmse and higher top-100 are better
    points = [(1.10, 0.06), (3.80, 0.24), (1.09, 0.24), (1.20, 0.10), (1.09, 0.24)]
    assert compare.pareto_front(points) == [False, False, True, False, True]


def test_weight_settings_are_parsed_and_swept():
    assert compare.parse_weights("1,0.25") == (1.0, 0.25)
    with pytest.raises(ConfigError, match="expected RATING,RETRIEVAL"):
        compare.parse_weights("1;0")
    assert compare.sweep(3) == [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    with pytest.raises(ConfigError, match="at least 2"):
        compare.sweep(1)


class _Page(html.parser.HTMLParser):
    """Every URL a page references (src, href), its images' sources, and its text."""

    def __init__(self, page):
        super().__init__()
        self.urls, self.images, self.text = [], [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [value for name, value in attrs.items() if name in ("src", "href")]
        if tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_data(self, data):
        self.text.append(data)


def _assert_self_contained(page, rows):
    """The table and the plot on a page that needs nothing but itself."""
    parsed = _Page(page)
    text = " ".join(parsed.text)
    for row in rows:
        assert f"({row['rating_weight']:g}, {row['retrieval_weight']:g})" in text
        assert f"{row['metrics'][names.TFMA_RMSE]:.4f}" in text
    assert len(parsed.images) == 1
    assert parsed.images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(parsed.images[0].split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert all(url.startswith("data:") for url in parsed.urls)
    assert "http://" not in page and "https://" not in page


def test_the_comparison_page_holds_the_table_and_the_plot_and_needs_no_network():
    rows = [{"rating_weight": w[0], "retrieval_weight": w[1], "pipeline_run": f"run-{i}",
             "pareto": i != 1, "metrics": {names.TFMA_RMSE: rmse,
                                           **{names.tfma_top_k(k): top for k in (10, 100)}}}
            for i, (w, rmse, top) in enumerate([((1, 0), 0.93, 0.05), ((1, 1), 0.97, 0.04),
                                                ((0, 1), 3.77, 0.24)])]
    page = compare.html_page(rows, (10, 100), compare.plot(rows))
    _assert_self_contained(page, rows)
    assert "Loss weightings compared" in page and "run-2" in page


@pytest.mark.pipeline
def test_compare_runs_experiments_that_touch_neither_serving_nor_the_baseline(
        pipeline_config, first_run):
    serving_before = directory_digest(pipeline_config.serving_dir)
    summary_path = os.path.join(pipeline_config.output_dir, local_runner.SUMMARY_FILE)
    with open(summary_path) as f:
        summary_before = f.read()

    status = local_runner.main([
        "--data", pipeline_config.data.source, "--output-dir", pipeline_config.output_dir,
        "--epochs", str(pipeline_config.training.epochs), "--weights", "1,0", "0,1",
        # the fixture's other training settings are not flags: these runs train anew
    ])
    assert status == 0
    folder = os.path.join(pipeline_config.output_dir, compare.COMPARISON_DIR)
    with open(os.path.join(folder, "comparison.json")) as f:
        rows = json.load(f)
    assert [(r["rating_weight"], r["retrieval_weight"]) for r in rows] == [(1, 0), (0, 1)]
    for row in rows:
        assert all(row["components"][c] == "cached" for c in (
            "MovieLensExampleGen", "StatisticsGen", "SchemaGen", "Transform")), row["components"]
        assert row["components"]["Trainer"] == "executed"
        assert {"Pusher", names.BASELINE_RESOLVER_ID}.isdisjoint(row["components"])
        assert row["metrics"][names.TFMA_RMSE] > 0
    # retrieval-only does not train the rating head: its RMSE is far worse (the seed's 3.77)
    assert rows[1]["metrics"][names.TFMA_RMSE] > rows[0]["metrics"][names.TFMA_RMSE]
    with open(os.path.join(folder, "comparison.md")) as f:
        table = f.read()
    assert table.count("\n") == 4 and "| (1, 0) |" in table and "| (0, 1) |" in table
    with open(os.path.join(folder, "comparison.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(folder, "comparison.html"), encoding="utf-8") as f:
        _assert_self_contained(f.read(), rows)

    assert directory_digest(pipeline_config.serving_dir) == serving_before
    with open(summary_path) as f:
        assert f.read() == summary_before
    rerun = local_runner.run(pipeline_config)  # experiments never become the baseline
    assert {c["state"] for c in rerun["components"]
            if c["component"] != names.BASELINE_RESOLVER_ID} == {"cached"}
