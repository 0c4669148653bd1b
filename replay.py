#!/usr/bin/env python3
"""Replays a GroupLens dataset as if its ratings arrived over time: cuts it by time into spans,
runs the pipeline once per span (ingest the newest span, check drift against the previous one,
train on the window, evaluate on the newest span, push if blessed), and writes a table and a
plot of every run.

    python replay.py --data path/to/ml-100k.zip --work-dir replay-100k --spans 5 --window 2
    python replay.py --data path/to/ml-100k.zip --work-dir replay-fault --fault shift:4

Writes <work-dir>/replay.{md,json,png}; the pipeline's outputs are under <work-dir>/pipeline.
Flags after `--` go to every local_runner.py run (e.g. `-- --epochs 1`); each run already has
`--split time`, `--max-rmse 1.5` and `--min-top-100 0.05` (value floors for the time-honest
evaluation of small spans: runner/span_replay.py REPLAY_RUNNER_ARGS), which flags after `--`
override.
"""

import bootstrap

bootstrap.ensure_venv()  # before anything imports TensorFlow

import argparse  # noqa: E402
import sys  # noqa: E402
from typing import List, Optional  # noqa: E402

if __name__ == "__main__":
    from runner import console  # before TensorFlow loads: its import prints noise

    console.install_quiet_console()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a GroupLens .zip or extracted folder")
    parser.add_argument("--work-dir", required=True,
                        help="a new folder: the spans, the drops, the pipeline's outputs, the "
                             "table and plot")
    parser.add_argument("--spans", type=int, default=5, help="how many spans (default 5)")
    parser.add_argument("--first-percent", type=int, default=50,
                        help="the first span's share of the ratings (the history the service "
                             "starts with); the others share the rest equally (default 50)")
    parser.add_argument("--window", type=int, default=2,
                        help="how many of the newest spans the Trainer reads (default 2)")
    parser.add_argument("--fault", default=None,
                        help="corrupt one span: shift:K (ratings +2 stars) or swap:K (each "
                             "rating names another title); the table shows what the pipeline "
                             "did with it")
    parser.add_argument("runner_args", nargs="*", help="after --: local_runner.py flags")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from runner import span_replay, spans

    try:
        config = span_replay.ReplayConfig(
            source=args.data, work_dir=args.work_dir, num_spans=args.spans,
            first_percent=args.first_percent, window=args.window,
            fault=spans.Fault.parse(args.fault) if args.fault else None,
            runner_args=tuple(args.runner_args))
        rows = span_replay.replay(config, log=lambda line: print(line, flush=True))
    except (spans.SpanCutError, OSError, ValueError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    paths = span_replay.write(rows, config)
    print(span_replay.markdown(rows))
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
