"""The benchmark's reports from recorded results (no timing is asserted, nothing is run)."""

import json

import names
from bench import plot_scale, run_bench


def _pipeline(wall, executed, state="executed"):
    nodes = ["MovieLensExampleGen", names.BASELINE_RESOLVER_ID, "Transform", "Trainer",
             "Evaluator"]
    return {"exit_code": 0, "wall_seconds": wall, "peak_rss_gb": 2.5,
            "in_pipeline_seconds": wall - 10,
            "components": {n: {"state": state, "wall_seconds": wall / 10} for n in nodes},
            "executed": executed, "eval_metrics": {"rating/root_mean_squared_error": 1.1,
                                                   "retrieval/top_100_categorical_accuracy": 0.24},
            "trainer": {"first_epoch_seconds": 20.0, "steady_epoch_seconds": 0.6,
                        "examples_per_second": 130000.0}}


def _notebook(wall):
    return {"exit_code": 0, "wall_seconds": wall, "peak_rss_gb": 1.9,
            "seconds": {"imports": 4.0, "load": 1.5, "train": wall - 20, "evaluate": 6.0,
                        "train_evaluate": wall - 14, "epochs": [50.0, 33.0, 37.0]},
            "train_examples_per_second": 2400.0,
            "metrics": {"root_mean_squared_error": 1.08,
                        "factorized_top_k/top_100_categorical_accuracy": 0.239}}


def test_bench_medians_ratios_and_markdown():
    reps = []
    for rep, (cold, note) in enumerate([(150.0, 170.0), (140.0, 150.0), (160.0, 200.0)], start=1):
        reps.append({"repetition": rep, "notebook": _notebook(note), "cold": _pipeline(cold, []),
                     "cached": _pipeline(40.0, ["Evaluator"]),
                     "ratios": {"cold_process_over_notebook_train_evaluate":
                                round(cold / (note - 14), 3)}})
    medians = run_bench.bench_medians(reps)
    assert medians["cold_process_seconds"] == 150.0
    assert medians["cached_components_executed"] == 1
    assert medians["cached_executed_names"] == ["Evaluator"]
    assert medians["notebook"]["steady_epoch_seconds"] == 35.0
    assert medians["ratios"]["cold_process_over_notebook_train_evaluate"] == round(150 / 156, 3)
    text = run_bench.bench_markdown({"data": "ml-100k", "repeats": 3, "repetitions": reps,
                                     "medians": medians, "environment": _environment()})
    assert "| cached re-run executes 0 components | 1 | **not met** |" in text
    assert "| peak RSS ≤ 3 GB (largest cold run) | 2.50 GB | met |" in text


def test_scale_markdown_and_plot(tmp_path):
    sizes = [{"interactions": n, "shape": {"users": u, "movies": m},
              "runs": [_pipeline(wall, [])]}
             for n, u, m, wall in [(100_000, 943, 1682, 150.0), (1_000_000, 6040, 3706, 600.0)]]
    sizes.append({"interactions": 10_000_000, "shape": {"users": 69878, "movies": 10677},
                  "runs": [{"exit_code": 137, "wall_seconds": 999.0, "peak_rss_gb": 8.4}]})
    sizes[1]["runs"][0]["trainer"] = {"phases": {
        "fit": {"seconds": 150.04, "peak_rss_gb": 2.1},
        "export": {"seconds": 12.0, "peak_rss_gb": 2.42}}}
    result = {"mode": "scale", "environment": _environment(), "sizes": sizes}
    text = run_bench.scale_markdown(result)
    assert "10,000,000 (failed: exit 137)" in text
    assert ("Trainer at 1,000,000: fit 150.0 s (peak RSS 2.10 GB); export 12.0 s (peak RSS "
            "2.42 GB).") in text
    assert "exponent 0.60" in text
    path = tmp_path / "scale.json"
    path.write_text(json.dumps(result))
    assert plot_scale.main([str(path), str(tmp_path / "scale.png")]) == 0
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _environment():
    return {"date": "2026-11-27T00:00:00+00:00", "commit": "abc", "cpus": 2,
            "load_average": (1.0, 1.0, 1.0), "peak_rss_source": "/usr/bin/time -v"}
