"""The run report (`<output>/report.html`), as a person looks at it: the verdict, the data,
training, the evaluation against baseline and thresholds, recommendations and the timeline, on
one page that needs no network; rendered in headless Chromium."""

import base64
import html.parser
import os
import shutil

import pytest

import names

SECTIONS = ("Data", "Training", "Evaluation", "Sample recommendations", "Timeline")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How the project's machines start Chromium: as root, headless, nothing phoning home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


class _Page(html.parser.HTMLParser):
    """The page's headings, image sources, every URL it references, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.headings, self.images, self.urls, self.text = [], [], [], []
        self._in_heading = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._in_heading = tag == "h2"
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        self.urls += [value for name, value in attrs.items() if name in ("src", "href")]

    def handle_data(self, data):
        self.text.append(data)
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


@pytest.mark.pipeline
def test_the_report_has_the_verdict_every_section_and_only_embedded_images(first_run,
                                                                          pipeline_config):
    page = _Page(first_run["written_report"])
    text = " ".join(page.text)
    assert "Blessed and pushed: " + first_run["pushed_model"] in text
    assert page.headings == list(SECTIONS)
    assert "could not be drawn" not in text and "No served model" not in text
    # The figures a person looks for, with this run's values.
    assert f"{first_run['eval_metrics'][names.TFMA_RMSE]:.4f}" in text
    assert f"{first_run['user_ranking_metrics'][names.ndcg_metric(10)]:.4f}" in text
    thresholds = pipeline_config.thresholds  # the fixture's value thresholds
    assert f"≤ {thresholds.max_rmse}" in text and f"≥ {thresholds.min_top_100_accuracy}" in text
    assert text.count("ratings in the sample)") == 3  # three sample users, a table each
    for component in first_run["components"]:
        assert component["component"] in text
    # Data, training, timeline: PNGs inside the page; nothing fetched from anywhere.
    assert len(page.images) == 3
    for source in page.images:
        assert source.startswith("data:image/png;base64,")
        png = base64.b64decode(source.split(",", 1)[1])
        assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000
    assert all(url.startswith("data:") for url in page.urls)


@pytest.mark.pipeline
def test_the_report_renders_in_headless_chromium(first_run, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium on PATH: `make test` installs Debian's (scripts/"
                    "ensure_chromium.sh) where it runs as root with apt-get")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is in requirements-dev.txt")
    report = tmp_path / "report.html"
    report.write_text(first_run["written_report"], encoding="utf-8")
    screenshot = tmp_path / "report.png"
    requested = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map("
                                   "i => [i.complete, i.naturalWidth, i.naturalHeight])")
            text = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert len(images) == 3
    assert all(complete and width > 100 and height > 100 for complete, width, height in images)
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    assert "Blessed and pushed" in text
    assert f"{first_run['eval_metrics'][names.TFMA_RMSE]:.4f}" in text
    assert screenshot.stat().st_size > 20_000
    print(f"screenshot: {screenshot}")  # shown with -s; pytest keeps tmp_path a while


def test_a_section_that_cannot_be_drawn_says_so_and_the_page_still_renders(tmp_path):
    from runner import report

    summary = {"pipeline_run": "r1", "components": [],
               "artifacts": {"Trainer": {"model_run": str(tmp_path)}},
               "eval_metrics": {names.TFMA_RMSE: 1.0}, "config": {"thresholds": "unreadable"}}
    (tmp_path / names.TRAINING_LOG_FILE).write_text("{not json")
    page = report.render(summary)
    assert page.count("This section could not be drawn") == 2  # training, evaluation
    assert "No statistics: the run stopped before StatisticsGen." in page
    assert os.path.basename(report.REPORT_FILE) == "report.html"


def test_the_evaluation_table_sets_the_candidate_beside_the_baseline_and_the_change(
        monkeypatch):
    from runner import report

    monkeypatch.setattr(report, "_baseline_metrics", lambda uri: {names.TFMA_RMSE: 1.25})
    summary = {"eval_metrics": {names.TFMA_RMSE: 1.0, f"{names.TFMA_RMSE}_diff": -0.25},
               "artifacts": {names.EVALUATOR_ID: {"evaluation": "somewhere"}},
               "config": {"thresholds": {"max_rmse": 1.2, "max_rmse_increase": 0.05}}}
    page = _Page(report.evaluation_section(summary))
    cells = [text.strip() for text in page.text if text.strip()]
    row = cells[cells.index(names.TFMA_RMSE):][:5]
    assert row == [names.TFMA_RMSE, "1.0000", "1.2500", "-0.2500",
                   "≤ 1.2; at most +0.05 vs baseline"]
    assert f"{names.TFMA_RMSE}_diff" not in cells  # a column, not a row of its own


def test_the_training_section_shows_the_rating_head_epochs_after_the_joint_ones(tmp_path):
    import json

    from runner import report
    head = names.RATING_HEAD_HISTORY_PREFIX
    log = {"epochs_trained": 4, "best_epoch": 3, "fit_examples": 900,
           "rating_head_epochs": 2, "history": {
               "loss": [3.0, 2.0, 1.5, 1.4], "val_loss": [3.1, 2.2, 1.8, 1.9],
               f"{head}loss": [1.2, 1.1, 1.15], f"{head}val_loss": [1.7, 1.6, 1.65]}}
    (tmp_path / names.TRAINING_LOG_FILE).write_text(json.dumps(log))
    section = report.training_section({names.TRAINER_ID: {"model_run": str(tmp_path)}})
    assert "then 2 epoch(s) of the rating head alone, the towers frozen" in section
    assert section.count("<img") == 1  # the curves drew
