#!/usr/bin/env python3
"""The benchmark's notebook script against the tutorial's own code, in alternating processes.

    python bench/paired_notebooks.py --data path/to/ml-100k --pairs 3 --out /tmp/paired

Runs bench/notebook_baseline.py (A) and bench/notebook_verbatim.py (B) as A B A B ..., each a
whole process measured as `make bench` measures its programs (run_bench.measure: wall seconds,
peak RSS, the same TensorFlow environment), and prints the medians of each phase and the
median of the per-pair ratios B / A. Alternating puts both sides under the same machine
conditions: the ratio within a pair is the figure to read, not the seconds.
"""

import argparse
import json
import os
import statistics
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.run_bench import ROOT, measure  # noqa: E402

SCRIPTS = {"baseline": "notebook_baseline.py", "verbatim": "notebook_verbatim.py"}
PHASES = ("imports", "load", "train", "evaluate", "train_evaluate")


def run_script(name: str, data: str, out: str, pair: int) -> Dict[str, Any]:
    """One whole process of a notebook script: measure()'s figures plus the script's JSON."""
    json_path = os.path.join(out, f"{name}_{pair}.json")
    argv = [sys.executable, os.path.join(ROOT, "bench", SCRIPTS[name]), "--data", data,
            "--json", json_path]
    result = measure(argv, os.path.join(out, f"{name}_{pair}.log"))
    if result["exit_code"] != 0:
        raise RuntimeError(f"{SCRIPTS[name]} failed (pair {pair}):\n{result.get('log_tail')}")
    with open(json_path) as f:
        result.update(json.load(f))
    return result


def summarize(pairs: List[Dict[str, Dict[str, Any]]]) -> Dict[str, Any]:
    """Per side, the median process seconds and phases; per pair, verbatim over baseline."""
    summary: Dict[str, Any] = {}
    for name in SCRIPTS:
        runs = [pair[name] for pair in pairs]
        summary[name] = {"process": statistics.median(r["wall_seconds"] for r in runs),
                         "peak_rss_gb": statistics.median(r["peak_rss_gb"] or 0 for r in runs),
                         **{phase: statistics.median(r["seconds"][phase] for r in runs)
                            for phase in PHASES}}
    ratios = {"process": [p["verbatim"]["wall_seconds"] / p["baseline"]["wall_seconds"]
                          for p in pairs]}
    for phase in PHASES:
        ratios[phase] = [p["verbatim"]["seconds"][phase] / p["baseline"]["seconds"][phase]
                         for p in pairs if p["baseline"]["seconds"][phase] > 0]
    summary["verbatim_over_baseline"] = {
        phase: {"median": round(statistics.median(values), 3),
                "pairs": [round(v, 3) for v in values]}
        for phase, values in ratios.items() if values}
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="GroupLens ml-100k folder or zip")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", required=True, help="folder for the logs and the JSON")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    pairs = []
    for pair in range(1, args.pairs + 1):
        runs = {}
        for name in SCRIPTS:
            print(f"[paired] pair {pair}/{args.pairs}: {name}", flush=True)
            runs[name] = run_script(name, args.data, args.out, pair)
        pairs.append(runs)
    summary = summarize(pairs)
    text = json.dumps({"pairs": pairs, "summary": summary}, indent=2, sort_keys=True)
    with open(os.path.join(args.out, "paired_notebooks.json"), "w") as f:
        f.write(text + "\n")
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
