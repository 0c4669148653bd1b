#!/usr/bin/env python3
"""Runs the pipeline locally: LocalDagRunner, MLMD in SQLite under the output dir, caching on.

    python local_runner.py --data path/to/ml-100k.zip          # offline: a local copy
    python local_runner.py                                      # online: downloads ML-100K
    python local_runner.py --data path/to/drops --window 3      # the newest span, 3 in training

Ends with a short summary, also written as <output-dir>/run_summary.json.
"""

import bootstrap

bootstrap.ensure_venv()  # before anything imports TensorFlow: sets names.TF_ENVIRONMENT

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any, ContextManager, Dict, List, Optional  # noqa: E402

if __name__ == "__main__" and "--verbose" not in sys.argv[1:]:
    from runner import console  # before TensorFlow loads: its import prints noise

    console.install_quiet_console()


def console_is_quiet() -> bool:
    return "runner.console" in sys.modules and sys.modules["runner.console"].is_installed()

from pipeline import configs  # noqa: E402
from runner.flags import (  # noqa: E402
    add_pipeline_flags,
    add_span_flags,
    drift_mode_from_args,
    pipeline_fields_from_args,
    span_fields_from_args,
)

SUMMARY_FILE = "run_summary.json"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=configs.DEFAULT_DATA,
                        help="GroupLens .zip or folder, its URL, tfds:movielens/100k-ratings, or "
                             "a drops folder of spans (see --span, --window) (default: download "
                             "ML-100K from GroupLens)")
    parser.add_argument("--output-dir", default="outputs",
                        help="pipeline root, MLMD database, serving dir and run_summary.json")
    add_pipeline_flags(parser)
    parser.add_argument("--train-percent", type=int, default=configs.DataConfig.train_percent,
                        help="train's share of the ratings, the rest is eval (default "
                             f"{configs.DataConfig.train_percent})")
    parser.add_argument("--split", choices=configs.SPLIT_METHODS, default=configs.DataConfig.split,
                        help="hash: TFX's hash split (the tutorial's, default); time: train "
                             "before one cut-off time, eval after (no user's future in train)")
    parser.add_argument("--max-malformed-lines", type=int,
                        default=configs.DataConfig.max_malformed_lines,
                        help="ExampleGen fails on more malformed input lines than this (default "
                             f"{configs.DataConfig.max_malformed_lines})")
    add_span_flags(parser)
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    parser.add_argument("--verbose", action="store_true",
                        help="show every library message (by default known noise is "
                             "filtered) and the traceback of a data error")
    comparison = parser.add_argument_group(
        "comparing loss weightings", "train and evaluate several (rating, retrieval) weightings "
        "as experiment runs (shared cached data and Transform; nothing blessed or pushed); "
        "writes <output-dir>/comparison/comparison.{md,png,json,html}")
    comparison.add_argument("--compare", action="store_true",
                            help="compare the tutorial's (1,0), (0,1) and (1,1)")
    comparison.add_argument("--weights", nargs="+", metavar="RATING,RETRIEVAL",
                            help="compare these weightings instead, e.g. --weights 1,0 1,0.1")
    comparison.add_argument("--sweep", type=int, metavar="N",
                            help="compare N weightings from (1,0) to (0,1): (1-t, t)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> configs.PipelineConfig:
    return configs.PipelineConfig(
        output_dir=os.path.abspath(args.output_dir),
        data=configs.DataConfig(source=args.data, train_percent=args.train_percent,
                                max_malformed_lines=args.max_malformed_lines, split=args.split,
                                **span_fields_from_args(args)),
        enable_cache=not args.no_cache,
        drift_mode=drift_mode_from_args(args),
        **pipeline_fields_from_args(args),
    )


def run(config: configs.PipelineConfig, experiment: bool = False) -> Dict[str, Any]:
    """Runs the pipeline, then writes and returns its run summary. `experiment`: train and
    evaluate only (pipeline.Mode.EXPERIMENT)."""
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from movielens import source as data_source
    from pipeline.pipeline import Mode, create_pipeline
    from runner import direct_beam, report, run_lock, run_summary

    source = data_source.resolve(config.data.source, config.cache_dir, span=config.data.span,
                                 window=config.data.window)
    mode = Mode.EXPERIMENT if experiment else Mode.PRODUCTION

    summary_path = os.path.join(config.output_dir, SUMMARY_FILE)
    report_path = os.path.join(config.output_dir, report.REPORT_FILE)
    started = time.time()

    def summary_so_far() -> Dict[str, Any]:
        summary = run_summary.collect(config.metadata_path, config.serving_dir)
        summary["wall_seconds"] = round(time.time() - started, 2)
        summary["config"] = dataclasses.asdict(config)
        return summary

    with run_lock.exclusive(config.pipeline_root):
        for path in (summary_path, report_path):
            if os.path.exists(path) and not experiment:
                os.remove(path)  # a failed run must not leave the last ones looking current
        sqlite = metadata.sqlite_metadata_connection_config(config.metadata_path)
        direct_beam.skip_tfx_packaging_on_direct_runner()
        try:
            with _console_progress(config):
                LocalDagRunner().run(create_pipeline(config, source, mode, sqlite))
        except Exception as error:
            if not experiment:  # the page says where and why the run stopped
                report.write_failed(summary_so_far, error, report_path)
            raise
        summary = summary_so_far()
        if not experiment:  # experiments report through their comparison files
            run_summary.write(summary, summary_path)
            report.write(summary, report_path)
    return summary


def _console_progress(config: configs.PipelineConfig) -> ContextManager[None]:
    """On the quiet console: the running component, and each component's key figure read
    back from this run's MLMD (runner/figures.py). Nothing otherwise (--verbose, tests)."""
    if not console_is_quiet():
        return contextlib.nullcontext()
    from runner import console, figures

    return console.pipeline_running(figures.lookup(config.metadata_path, config.serving_dir))


def format_summary(summary: Dict[str, Any], components: bool = True) -> str:
    """The run's summary for the console; `components`: with a line per component (the quiet
    console has printed those already, each as it ended)."""
    lines = [f"Pipeline run {summary['pipeline_run']} ({summary['wall_seconds']:.1f} s)"]
    for component in summary["components"] if components else ():
        lines.append(f"  {component['component']:<32} {component['state']:<9} "
                     f"{component['wall_seconds']:7.1f} s")
    for name, value in sorted((summary["eval_metrics"] or {}).items()):
        # A count (TFMA's example_count, which the Evaluator reconciles) as the integer it is
        shown = f"{value:,.0f}" if name.endswith("example_count") else f"{value:.4f}"
        lines.append(f"  eval {name}: {shown}")
    model_ranking = summary.get("user_ranking_metrics") or {}
    popularity = summary.get("popularity_ranking_metrics") or {}
    for name, value in sorted(model_ranking.items()):
        baseline = (f" (popularity baseline {popularity[name]:.4f})" if name in popularity
                    else "")
        lines.append(f"  eval per-user {name} (rated titles removed): {value:.4f}{baseline}")
    import names

    groups = summary.get("ranking_by_user_group") or {}
    for group in [name for name in names.USER_GROUPS if name in groups]:
        measured, metric = groups[group], names.ndcg_metric(10)
        model_value = (measured.get(names.MODEL_RANKER) or {}).get(metric)
        if model_value is None:
            continue
        users = int((measured.get(names.MODEL_RANKER) or {}).get(names.RANKED_USERS, 0))
        baselines = ", ".join(
            f"{ranker.replace('_', ' ')} "
            f"{(measured.get(ranker) or {}).get(metric, float('nan')):.4f}"
            for ranker in names.RANKERS if ranker != names.MODEL_RANKER and ranker in measured)
        lines.append(f"  eval per-user {metric}, {group.replace('_', ' ')} ({users:,}): "
                     f"{model_value:.4f} ({baselines})")
    spans = summary.get("spans")
    if spans:
        lines.append(f"  span {spans.get('ingested')} ingested; trained on spans "
                     f"{spans.get('trained')}; vocabularies from spans {spans.get('vocabularies')}")
        window = (summary.get("config") or {}).get("data", {}).get("window", 1)
        if len(spans.get("trained") or []) < window:
            lines.append(f"  fewer spans than the window of {window} are in MLMD: a span enters "
                         f"windows once a run has ingested it (--span N)")
    pushed = summary["pushed_model"] or (
        f"nothing (already serving {summary['already_serving']})" if summary["already_serving"]
        else None)
    lines.append(f"  blessed: {summary['blessed']}; pushed: {pushed}")
    if summary.get("blessing_withdrawn"):
        lines.append(f"  not blessed: {summary['blessing_withdrawn']}")
    if summary.get("load_check_error"):
        lines.append(f"  not pushed: the model does not load as TF Serving would load it: "
                     f"{summary['load_check_error']}")
    if summary.get("served_model_missing"):
        lines.append(f"  not serving: {summary['served_model_missing']}, where an earlier run "
                     f"pushed this model, no longer exists; run again with --no-cache to "
                     f"train and push a model again")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    from movielens.source import DataSourceError
    from runner import compare, errors
    from runner.run_lock import PipelineBusyError

    args = parse_args(argv)
    if console_is_quiet():
        from runner import console

        console.hide_log_records_of(errors.DATA_ERRORS)
    config: Optional[configs.PipelineConfig] = None
    try:
        config = config_from_args(args)
        if args.compare or args.weights or args.sweep:
            settings = ([compare.parse_weights(w) for w in args.weights] if args.weights
                        else compare.sweep(args.sweep) if args.sweep else compare.SEED_WEIGHTS)
            results = compare.compare(config, settings,
                                      lambda setting: run(setting, experiment=True))
            print(results["table"])
            print("Written: " + ", ".join(results["paths"].values()))
            return 0
        summary = run(config)
    except (DataSourceError, configs.ConfigError, PipelineBusyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 (a bug keeps its traceback: re-raised below)
        message = errors.data_error_message(error)
        if message is None or args.verbose:
            raise
        print(f"error: {message}", file=sys.stderr)
        if config is not None:
            _print_report_path(config)
        return 1
    print(format_summary(summary, components=not console_is_quiet()))
    print(f"Summary written to {os.path.join(config.output_dir, SUMMARY_FILE)}")
    _print_report_path(config)
    return 0


def _print_report_path(config: configs.PipelineConfig) -> None:
    from runner.report import REPORT_FILE

    path = os.path.join(config.output_dir, REPORT_FILE)
    if os.path.exists(path):
        print(f"Report: {path}")


if __name__ == "__main__":
    sys.exit(main())
