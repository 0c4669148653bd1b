#!/usr/bin/env python3
"""Log-log plot of wall time against dataset size from `make bench-scale`'s scale.json.

    python bench/plot_scale.py bench_results/scale.json docs/scale.png

Lines: the whole process and the main components (median of the runs of each size), and a
dotted "linear" reference through the smallest size's process time.
"""

import json
import statistics
import sys
from typing import Dict, List, Tuple

COMPONENTS = ("MovieLensExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")
COLOURS = ("#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#888888")


def series(scale: dict) -> Dict[str, List[Tuple[int, float]]]:
    out: Dict[str, List[Tuple[int, float]]] = {"process": []}
    for size in scale["sizes"]:
        runs = [r for r in size.get("runs", []) if r["exit_code"] == 0]
        if not runs:
            continue
        n = size["interactions"]
        out["process"].append((n, statistics.median(r["wall_seconds"] for r in runs)))
        for name in COMPONENTS:
            values = [r["components"][name]["wall_seconds"] for r in runs
                      if name in r.get("components", {})]
            if values:
                out.setdefault(name, []).append((n, max(0.01, statistics.median(values))))
    if out["process"]:
        n0, t0 = out["process"][0]
        out["linear (reference)"] = [(n, t0 * n / n0) for n, _ in out["process"]]
    return out


def write_png(data, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, points), colour in zip(data.items(), COLOURS):
        xs, ys = zip(*points)
        ax.loglog(xs, ys, ":" if "reference" in name else "o-", color=colour, label=name)
    ax.set_xlabel("interactions")
    ax.set_ylabel("wall seconds (cold run)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        data = series(json.load(f))
    if not data["process"]:
        print("no successful run in", argv[0], file=sys.stderr)
        return 1
    write_png(data, argv[1])
    print("wrote", argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
