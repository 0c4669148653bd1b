#!/usr/bin/env python3
"""Log-log plot of wall time against dataset size from `make bench-scale`'s scale.json.

    python bench/plot_scale.py bench_results/scale.json docs/scale.png   # needs matplotlib
    python bench/plot_scale.py bench_results/scale.json docs/scale.svg   # no dependency

A `.png` needs matplotlib (not among the project's pins); a `.svg` is written by hand here.
Lines: the whole process and the main components (median of the runs of each size), and a
dotted "linear" reference through the smallest size's process time.
"""

import json
import math
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


def write_svg(data, path: str) -> None:
    width, height, left, right, top, bottom = 720, 440, 70, 190, 20, 50
    xs = [n for points in data.values() for n, _ in points]
    ys = [t for points in data.values() for _, t in points]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def px(n):
        return left + (math.log10(n) - x0) / (x1 - x0) * (width - left - right)

    def py(t):
        return height - bottom - (math.log10(t) - y0) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for e in range(x0, x1 + 1):
        parts.append(f'<line x1="{px(10 ** e):.1f}" y1="{top}" x2="{px(10 ** e):.1f}" '
                     f'y2="{height - bottom}" stroke="#ddd"/><text x="{px(10 ** e):.1f}" '
                     f'y="{height - bottom + 16}" text-anchor="middle">1e{e}</text>')
    for e in range(y0, y1 + 1):
        parts.append(f'<line x1="{left}" y1="{py(10 ** e):.1f}" x2="{width - right}" '
                     f'y2="{py(10 ** e):.1f}" stroke="#ddd"/><text x="{left - 6}" '
                     f'y="{py(10 ** e) + 4:.1f}" text-anchor="end">{10 ** e:g} s</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" '
                 f'text-anchor="middle">interactions (log)</text>')
    for i, ((name, points), colour) in enumerate(zip(data.items(), COLOURS)):
        coords = " ".join(f"{px(n):.1f},{py(t):.1f}" for n, t in points)
        dash = ' stroke-dasharray="4,4"' if "reference" in name else ""
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"{dash}/>')
        if not dash:
            parts += [f'<circle cx="{px(n):.1f}" cy="{py(t):.1f}" r="3" fill="{colour}"/>'
                      for n, t in points]
        y = top + 16 * i + 10
        parts.append(f'<line x1="{width - right + 12}" y1="{y}" x2="{width - right + 32}" '
                     f'y2="{y}" stroke="{colour}" stroke-width="2"{dash}/><text '
                     f'x="{width - right + 38}" y="{y + 4}">{name}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


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
    if argv[1].endswith(".svg"):
        write_svg(data, argv[1])
    else:
        try:
            write_png(data, argv[1])
        except ImportError:
            print("matplotlib is not installed: write an .svg instead", file=sys.stderr)
            return 1
    print("wrote", argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
