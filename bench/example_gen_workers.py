"""ExampleGen alone on one GroupLens folder, with 1 and with N DirectRunner worker processes.

    python bench/example_gen_workers.py --data /tmp/movierec-bench-scale/synthetic-1000000

Each setting runs the component's executor in a fresh process (`multi_processing` mode: the
workers are processes, each reading its own byte ranges of the ratings file), one after the
other, alternating for `--repeats`; prints the wall times and the speed-up of the medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(data: str, workers: int, log) -> float:
    """Wall seconds of one ExampleGen execution in a child process."""
    code = f"""
import os, sys, tempfile
sys.path.insert(0, {ROOT!r})
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.types import standard_artifacts
from components.movielens_example_gen import executor
from components.movielens_example_gen.component import MovieLensExampleGen
component = MovieLensExampleGen(input_base={data!r})
properties = dict(component.exec_properties)
examples = standard_artifacts.Examples()
examples.uri = tempfile.mkdtemp()
beam_args = ["--direct_running_mode=multi_processing", "--direct_num_workers={workers}"]
if {workers} == 1:
    beam_args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
context = BaseBeamExecutor.Context(beam_pipeline_args=beam_args, tmp_dir=tempfile.mkdtemp())
executor.Executor(context).Do({{}}, {{"examples": [examples]}}, properties)
"""
    started = time.time()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=log)
    return time.time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="an extracted GroupLens folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    times = {1: [], args.workers: []}
    log = open(os.path.join(tempfile.gettempdir(), "example_gen_workers.log"), "w")
    for _ in range(args.repeats):
        for workers in times:
            times[workers].append(run_once(os.path.abspath(args.data), workers, log))
            print(f"{workers} worker(s): {times[workers][-1]:.1f} s", flush=True)
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    print(json.dumps({"seconds": times, "speedup": round(one / many, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
