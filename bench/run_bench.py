#!/usr/bin/env python3
"""`make bench` / `make bench-scale`: the pipeline's cost, measured in subprocesses.

    python bench/run_bench.py --data ../shared/data/ml-100k --repeats 3          # make bench
    python bench/run_bench.py --scale 100000,1000000 --repeats 1                 # make bench-scale

**bench** (one dataset, the joint (1, 1) seed config): each repetition runs, one after the other
(never two at a time):
1. the notebook script (`bench/notebook_baseline.py`), cold, in its own process;
2. `python local_runner.py` cold, in a fresh output folder (every component executes);
3. `python local_runner.py` again on that folder, nothing changed (the cached re-run).

**bench-scale**: for each size, `bench/synthetic_movielens.py` writes a dataset (seeded; kept
and reused under --work), then one cold `local_runner.py` run on it.

Measured, per process: wall time (a monotonic clock around the subprocess, interpreter start to
exit), peak RSS (GNU `/usr/bin/time -v`'s "Maximum resident set size": the largest of the
process and its waited-for children; without `/usr/bin/time`, `getrusage(RUSAGE_CHILDREN)` in a
wrapper process — the same figure); per component: `run_summary.json`'s wall time (MLMD's
execution create → last update). Trainer throughput: from the Trainer's TensorBoard event file,
the wall time of each epoch's end (`epoch_loss`); epoch 1 = file creation (`on_train_begin`,
1 s resolution) → its end and includes tf.function tracing, epochs 2.. are exact; examples/s =
train examples (StatisticsGen's `num_examples` of Split-train) / median epoch time of epochs 2...

Writes <out>/bench.json and <out>/bench.md (or scale.json / scale.md) and prints the Markdown.
Medians over repetitions; ratios are taken within one repetition, then their median.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import names  # noqa: E402

GNU_TIME = "/usr/bin/time"
RESOLVER_NODES = (names.BASELINE_RESOLVER_ID,)  # system nodes: "executed" each run, in 0 s
TARGETS = {"cold_over_notebook_train_evaluate": 1.0, "cached_process_seconds": 15.0,
           "cached_components_executed": 0, "peak_rss_gb": 3.0, "scale_peak_rss_gb": 8.0}


# ----------------------------------------------------------------------------- measuring

def measure(argv: List[str], log_path: str, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Runs argv to completion; its wall seconds, peak RSS (GB) and exit code. Output → log_path.

    Every measured program, the notebook script included, runs with the pipeline's TensorFlow
    environment (names.TF_ENVIRONMENT, or what the caller set): the same runtime for both sides.
    """
    env = {**names.TF_ENVIRONMENT, **os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONWARNINGS": "ignore::FutureWarning", **(env or {})}
    with tempfile.NamedTemporaryFile("r", suffix=".rss", delete=False) as rss_file:
        rss_path = rss_file.name
    if os.path.exists(GNU_TIME):
        command = [GNU_TIME, "-v", "-o", rss_path] + argv
    else:
        command = [sys.executable, "-m", "bench.rss_wrapper", rss_path] + argv
    with open(log_path, "w") as log:
        started = time.perf_counter()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        wall = time.perf_counter() - started
    peak_kb = None
    with open(rss_path) as f:
        for line in f:
            if "Maximum resident set size" in line:
                peak_kb = int(line.rsplit(":", 1)[1])
    os.unlink(rss_path)
    result = {"wall_seconds": round(wall, 2), "exit_code": code,
              "peak_rss_gb": round(peak_kb / 1024 ** 2, 3) if peak_kb else None, "log": log_path}
    if code != 0:
        result["log_tail"] = _tail(log_path)
    return result


def _tail(path: str, lines: int = 15) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def _events(path: str):
    """(wall_time, step, tag or kind) of each record of a TensorBoard event file."""
    from tensorboard.compat.proto import event_pb2  # protos only, no TensorFlow import

    with open(path, "rb") as f:
        data = f.read()
    position = 0
    while position + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[position:position + 8])
        event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
        position += 12 + length + 4
        tags = [v.tag for v in event.summary.value] or [event.WhichOneof("what")]
        for tag in tags:
            yield event.wall_time, event.step, tag


def trainer_figures(pipeline_root: str) -> Dict[str, Any]:
    """Epoch times and examples/s of the newest Trainer execution under pipeline_root."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    runs = glob.glob(os.path.join(pipeline_root, "Trainer", "model_run", "*", "train",
                                  "events.out.tfevents.*"))
    stats = glob.glob(os.path.join(pipeline_root, "StatisticsGen", "statistics", "*",
                                   "Split-train", "FeatureStats.pb"))
    if not runs or not stats:
        return {}
    events = max(runs, key=lambda p: int(p.split(os.sep)[-3]))
    stat = max(stats, key=lambda p: int(p.split(os.sep)[-3]))
    with open(stat, "rb") as f:
        train_examples = statistics_pb2.DatasetFeatureStatisticsList.FromString(
            f.read()).datasets[0].num_examples
    records = list(_events(events))
    begin = min(w for w, _, tag in records if tag == "file_version")
    ends = sorted((step, w) for w, step, tag in records if tag == "epoch_loss")
    epoch_seconds, previous = [], begin
    for _, wall in ends:
        epoch_seconds.append(round(wall - previous, 3))
        previous = wall
    steady = epoch_seconds[1:] or epoch_seconds
    phases_file = os.path.join(os.path.dirname(os.path.dirname(events)), names.TRAINER_PHASES_FILE)
    phases = {}
    if os.path.exists(phases_file):
        with open(phases_file) as f:
            phases = json.load(f)
    return {"phases": phases,
            "train_examples": int(train_examples), "epoch_seconds": epoch_seconds,
            "first_epoch_seconds": epoch_seconds[0] if epoch_seconds else None,
            "steady_epoch_seconds": round(statistics.median(steady), 3) if steady else None,
            "examples_per_second": (round(train_examples / statistics.median(steady), 1)
                                    if steady and statistics.median(steady) > 0 else None)}


def run_pipeline(data: str, output_dir: str, log_path: str, extra: List[str]) -> Dict[str, Any]:
    """One `python local_runner.py` process; its measures, components and eval metrics."""
    argv = [sys.executable, os.path.join(ROOT, "local_runner.py"), "--data", data,
            "--output-dir", output_dir] + extra
    result = measure(argv, log_path)
    summary_path = os.path.join(output_dir, "run_summary.json")
    if result["exit_code"] == 0 and os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        result["in_pipeline_seconds"] = summary["wall_seconds"]
        result["components"] = {c["component"]: {"state": c["state"],
                                                 "wall_seconds": c["wall_seconds"]}
                                for c in summary["components"]}
        result["executed"] = [c["component"] for c in summary["components"]
                              if c["state"] == "executed" and c["component"] not in RESOLVER_NODES]
        result["eval_metrics"] = summary["eval_metrics"]
        result["blessed"] = summary["blessed"]
    return result


def run_notebook(data: str, json_path: str, log_path: str) -> Dict[str, Any]:
    argv = [sys.executable, os.path.join(ROOT, "bench", "notebook_baseline.py"), "--data", data,
            "--json", json_path]
    result = measure(argv, log_path)
    if result["exit_code"] == 0:
        with open(json_path) as f:
            result.update(json.load(f))
    return result


# ----------------------------------------------------------------------------- the two modes

def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def bench(args: argparse.Namespace, data: str) -> Dict[str, Any]:
    work = args.work or tempfile.mkdtemp(prefix="movierec-bench-")
    os.makedirs(work, exist_ok=True)
    logs = os.path.join(args.out, "logs")
    os.makedirs(logs, exist_ok=True)
    repetitions = []
    for rep in range(1, args.repeats + 1):
        entry: Dict[str, Any] = {"repetition": rep}
        if not args.no_notebook:
            print(f"[bench] repetition {rep}/{args.repeats}: notebook script", flush=True)
            entry["notebook"] = run_notebook(data, os.path.join(work, f"notebook_{rep}.json"),
                                             os.path.join(logs, f"notebook_{rep}.log"))
        output_dir = os.path.join(work, f"pipeline_{rep}")
        shutil.rmtree(output_dir, ignore_errors=True)
        print(f"[bench] repetition {rep}/{args.repeats}: pipeline cold", flush=True)
        entry["cold"] = run_pipeline(data, output_dir, os.path.join(logs, f"cold_{rep}.log"),
                                     args.pipeline_arg)
        entry["cold"]["trainer"] = trainer_figures(os.path.join(output_dir, "pipeline_root"))
        print(f"[bench] repetition {rep}/{args.repeats}: pipeline cached re-run", flush=True)
        entry["cached"] = run_pipeline(data, output_dir, os.path.join(logs, f"cached_{rep}.log"),
                                       args.pipeline_arg)
        notebook = entry.get("notebook")
        if notebook and notebook.get("seconds") and entry["cold"]["exit_code"] == 0:
            entry["ratios"] = {
                "cold_process_over_notebook_process": round(
                    entry["cold"]["wall_seconds"] / notebook["wall_seconds"], 3),
                "cold_process_over_notebook_train_evaluate": round(
                    entry["cold"]["wall_seconds"] / notebook["seconds"]["train_evaluate"], 3),
                "cold_trainer_over_notebook_train_evaluate": round(
                    entry["cold"]["components"]["Trainer"]["wall_seconds"]
                    / notebook["seconds"]["train_evaluate"], 3),
            }
        repetitions.append(entry)
        if not args.keep:
            shutil.rmtree(output_dir, ignore_errors=True)
    if not args.work and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"mode": "bench", "data": data, "repeats": args.repeats,
            "pipeline_args": args.pipeline_arg, "environment": environment(),
            "repetitions": repetitions, "medians": bench_medians(repetitions)}


def bench_medians(reps: List[Dict[str, Any]]) -> Dict[str, Any]:
    ok = [r for r in reps if r["cold"]["exit_code"] == 0]
    medians: Dict[str, Any] = {
        "cold_process_seconds": _median([r["cold"]["wall_seconds"] for r in ok]),
        "cold_in_pipeline_seconds": _median([r["cold"].get("in_pipeline_seconds") for r in ok]),
        "cold_peak_rss_gb": _median([r["cold"]["peak_rss_gb"] for r in ok]),
        "cold_max_peak_rss_gb": max([r["cold"]["peak_rss_gb"] or 0 for r in ok], default=None),
        "cached_process_seconds": _median([r["cached"]["wall_seconds"] for r in ok]),
        "cached_peak_rss_gb": _median([r["cached"]["peak_rss_gb"] for r in ok]),
        "cached_components_executed": _median([len(r["cached"].get("executed", [])) for r in ok]),
        "cached_executed_names": sorted({n for r in ok for n in r["cached"].get("executed", [])}),
        "components": {},
    }
    names = [n for n in (ok[0]["cold"].get("components", {}) if ok else {})]
    for name in names:
        medians["components"][name] = _median(
            [r["cold"]["components"].get(name, {}).get("wall_seconds") for r in ok])
    trainer = [r["cold"].get("trainer") or {} for r in ok]
    medians["trainer"] = {key: _median([t.get(key) for t in trainer])
                          for key in ("first_epoch_seconds", "steady_epoch_seconds",
                                      "examples_per_second")}
    notebooks = [r["notebook"] for r in reps if r.get("notebook", {}).get("seconds")]
    if notebooks:
        medians["notebook"] = {
            "process_seconds": _median([n["wall_seconds"] for n in notebooks]),
            "peak_rss_gb": _median([n["peak_rss_gb"] for n in notebooks]),
            **{phase: _median([n["seconds"][phase] for n in notebooks])
               for phase in ("imports", "load", "train", "evaluate", "train_evaluate")},
            "first_epoch_seconds": _median([n["seconds"]["epochs"][0] for n in notebooks]),
            "steady_epoch_seconds": _median(
                [statistics.median(n["seconds"]["epochs"][1:] or n["seconds"]["epochs"])
                 for n in notebooks]),
            "examples_per_second": _median([n["train_examples_per_second"] for n in notebooks]),
        }
        ratios = [r["ratios"] for r in reps if "ratios" in r]
        medians["ratios"] = ({key: _median([r[key] for r in ratios]) for key in ratios[0]}
                             if ratios else {})
    return medians


def scale(args: argparse.Namespace) -> Dict[str, Any]:
    from bench import synthetic_movielens

    work = args.work or os.path.join(tempfile.gettempdir(), "movierec-bench-scale")
    logs = os.path.join(args.out, "logs")
    os.makedirs(logs, exist_ok=True)
    rows = []
    for size in [int(float(s)) for s in args.scale.split(",")]:
        data = os.path.join(work, f"synthetic-{size}")
        shape_file = os.path.join(data, "shape.json")
        entry: Dict[str, Any] = {"interactions": size}
        if not os.path.exists(shape_file):  # generation is deterministic: reuse a finished one
            print(f"[scale] generating {size:,} interactions into {data}", flush=True)
            entry["generator"] = measure(
                [sys.executable, os.path.join(ROOT, "bench", "synthetic_movielens.py"),
                 "--interactions", str(size), "--seed", str(args.seed), "--out", data],
                os.path.join(logs, f"generate_{size}.log"))
            if entry["generator"]["exit_code"] != 0:
                rows.append(entry)
                continue
            users, movies = synthetic_movielens.default_shape(size)
            with open(shape_file, "w") as f:
                json.dump({"interactions": size, "users": users, "movies": movies,
                           "seed": args.seed}, f)
        with open(shape_file) as f:
            entry["shape"] = json.load(f)
        for rep in range(1, args.repeats + 1):
            output_dir = os.path.join(work, f"pipeline-{size}-{rep}")
            shutil.rmtree(output_dir, ignore_errors=True)
            print(f"[scale] {size:,}: pipeline cold, repetition {rep}/{args.repeats}", flush=True)
            run = run_pipeline(data, output_dir, os.path.join(logs, f"scale_{size}_{rep}.log"),
                               args.pipeline_arg)
            run["trainer"] = trainer_figures(os.path.join(output_dir, "pipeline_root"))
            entry.setdefault("runs", []).append(run)
            if not args.keep:
                shutil.rmtree(output_dir, ignore_errors=True)
        rows.append(entry)
        _write(args, {"mode": "scale", "environment": environment(), "sizes": rows}, partial=True)
    return {"mode": "scale", "environment": environment(), "sizes": rows}


def environment() -> Dict[str, Any]:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "python": platform.python_version(),
            "packages": {n: version(n) for n in ("tfx", "tensorflow", "tensorflow-recommenders",
                                                 "apache-beam", "tensorflow-transform")},
            "peak_rss_source": GNU_TIME + " -v" if os.path.exists(GNU_TIME)
            else "getrusage(RUSAGE_CHILDREN)"}


# ----------------------------------------------------------------------------- reporting

def _fmt(value, digits=1, unit=""):
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def _status(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def bench_markdown(result: Dict[str, Any]) -> str:
    m, env = result["medians"], result["environment"]
    nb = m.get("notebook", {})
    ratios = m.get("ratios", {})
    lines = [f"## `make bench` — {result['data']}", "",
             f"{env['date']}, commit {env['commit']}, {env['cpus']} CPUs, load average at start "
             f"{', '.join(f'{x:.2f}' for x in env['load_average'])}; {result['repeats']} "
             f"repetition(s), medians; peak RSS from {env['peak_rss_source']}.", "",
             "| process | wall s | peak RSS GB | notes |", "|---|---|---|---|"]
    if nb:
        lines.append(f"| notebook script (imports + load + train + evaluate) | "
                     f"{_fmt(nb['process_seconds'])} | {_fmt(nb['peak_rss_gb'], 2)} | imports "
                     f"{_fmt(nb['imports'])} s, load {_fmt(nb['load'])} s, "
                     f"train {_fmt(nb['train'])} s, "
                     f"evaluate {_fmt(nb['evaluate'])} s |")
    lines.append(f"| `local_runner.py` cold | {_fmt(m['cold_process_seconds'])} | "
                 f"{_fmt(m['cold_peak_rss_gb'], 2)} (max {_fmt(m['cold_max_peak_rss_gb'], 2)}) | "
                 f"{_fmt(m['cold_in_pipeline_seconds'])} s inside LocalDagRunner |")
    executed = ", ".join(m["cached_executed_names"]) or "none"
    lines.append(f"| `local_runner.py` cached re-run | {_fmt(m['cached_process_seconds'])} | "
                 f"{_fmt(m['cached_peak_rss_gb'], 2)} | components executed: "
                 f"{_fmt(m['cached_components_executed'], 0)} ({executed}) |")
    lines += ["", "Cold run, per component (median s): " + ", ".join(
        f"{name} {_fmt(value)}" for name, value in m["components"].items()
        if name not in RESOLVER_NODES), ""]
    t = m["trainer"]
    lines += ["| training (3 epochs, batch 8192) | epoch 1 s | later epochs s "
              "| examples/s (later epochs) |",
              "|---|---|---|---|",
              f"| pipeline Trainer (top-K off in training) | {_fmt(t['first_epoch_seconds'])} | "
              f"{_fmt(t['steady_epoch_seconds'], 2)} | {_fmt(t['examples_per_second'], 0)} |"]
    if nb:
        lines.append(f"| notebook (FactorizedTopK on in training) | "
                     f"{_fmt(nb['first_epoch_seconds'])} | "
                     f"{_fmt(nb['steady_epoch_seconds'], 2)} | "
                     f"{_fmt(nb['examples_per_second'], 0)} |")
    lines.append("")
    if ratios:
        lines += ["| ratio (per repetition, then median) | value |", "|---|---|"]
        lines += [f"| {key.replace('_', ' ')} | {_fmt(value, 2)} |"
                  for key, value in ratios.items()]
        lines.append("")
    targets = [
        ("cold pipeline process ≤ 1.0× notebook train+evaluate",
         _fmt(ratios.get("cold_process_over_notebook_train_evaluate"), 2) + "×",
         None if ratios.get("cold_process_over_notebook_train_evaluate") is None
         else (ratios["cold_process_over_notebook_train_evaluate"]
               <= TARGETS["cold_over_notebook_train_evaluate"])),
        ("cached re-run ≤ 15 s process wall", _fmt(m["cached_process_seconds"]) + " s",
         None if m["cached_process_seconds"] is None
         else m["cached_process_seconds"] <= TARGETS["cached_process_seconds"]),
        ("cached re-run executes 0 components", _fmt(m["cached_components_executed"], 0),
         None if m["cached_components_executed"] is None else m["cached_components_executed"] == 0),
        ("peak RSS ≤ 3 GB (largest cold run)", _fmt(m["cold_max_peak_rss_gb"], 2) + " GB",
         None if not m["cold_max_peak_rss_gb"]
         else m["cold_max_peak_rss_gb"] <= TARGETS["peak_rss_gb"]),
    ]
    lines += ["| target | measured | status |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {_status(ok)} |" for name, value, ok in targets]
    metrics = [(r["cold"].get("eval_metrics"), r.get("notebook", {}).get("metrics"))
               for r in result["repetitions"]][:1]
    if metrics and metrics[0][0]:
        pipe, note = metrics[0]
        lines += ["", "Same weighting, repetition 1 (different splits: hash 80/20 vs shuffled "
                  "take/skip): "
                  f"pipeline (TFMA) RMSE {pipe.get(names.TFMA_RMSE, 0):.4f}, "
                  f"top-100 {pipe.get(names.tfma_top_k(100), 0):.4f}"
                  + (f"; notebook RMSE {note[names.RMSE_METRIC]:.4f}, top-100 "
                     f"{note[names.TOP_100_METRIC]:.4f}" if note else "")
                  + "."]
    return "\n".join(lines) + "\n"


def scale_markdown(result: Dict[str, Any]) -> str:
    env = result["environment"]
    lines = ["## `make bench-scale` — synthetic MovieLens", "",
             f"{env['date']}, commit {env['commit']}, {env['cpus']} CPUs; one cold run per size "
             f"unless stated; peak RSS from {env['peak_rss_source']}.", ""]
    sizes = [s for s in result["sizes"] if s.get("runs")]
    names: List[str] = []
    for s in sizes:
        for name in s["runs"][0].get("components", {}):
            if name not in names and name not in RESOLVER_NODES:
                names.append(name)
    lines += ["| interactions | users | movies | process s | peak RSS GB | " + " | ".join(names)
              + " | Trainer ex/s |",
              "|---" * (6 + len(names)) + "|"]
    previous = None
    growth = []
    for s in sizes:
        runs = [r for r in s["runs"] if r["exit_code"] == 0]
        failed = [r for r in s["runs"] if r["exit_code"] != 0]
        wall = _median([r["wall_seconds"] for r in runs]) if runs else None
        rss = max([r["peak_rss_gb"] or 0 for r in s["runs"]], default=None)
        comps = [_fmt(_median([r["components"].get(n, {}).get("wall_seconds") for r in runs]))
                 if runs else "—" for n in names]
        throughput = _median([r.get("trainer", {}).get("examples_per_second") for r in runs])
        shape = s.get("shape", {})
        status = "" if runs else f" (failed: exit {failed[0]['exit_code']})" if failed else ""
        lines.append(f"| {s['interactions']:,}{status} | {shape.get('users', '—'):,} | "
                     f"{shape.get('movies', '—'):,} | {_fmt(wall)} | {_fmt(rss, 2)} | "
                     + " | ".join(comps) + f" | {_fmt(throughput, 0)} |")
        if previous and wall:
            import math
            time_ratio, data_ratio = wall / previous[1], s["interactions"] / previous[0]
            growth.append(f"{previous[0]:,} → {s['interactions']:,}: time ×{time_ratio:.2f} "
                          f"for ×{data_ratio:.0f} data (exponent "
                          f"{math.log(time_ratio) / math.log(data_ratio):.2f})")
        if wall:
            previous = (s["interactions"], wall)
    if growth:
        lines += ["", "Growth of the process wall time: " + "; ".join(growth) + "."]
    for s in sizes:  # the Trainer's phases (models/run_fn.py) of each size's first good run
        phases = next((r.get("trainer", {}).get("phases") for r in s["runs"]
                       if r["exit_code"] == 0 and r.get("trainer", {}).get("phases")), None)
        if phases:
            lines += ["", f"Trainer at {s['interactions']:,}: " + "; ".join(
                f"{phase} {record['seconds']:.1f} s (peak RSS {record['peak_rss_gb']:.2f} GB)"
                for phase, record in phases.items()) + "."]
    return "\n".join(lines) + "\n"


def _write(args, result, partial=False) -> str:
    os.makedirs(args.out, exist_ok=True)
    name = "scale" if result["mode"] == "scale" else "bench"
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    text = scale_markdown(result) if name == "scale" else bench_markdown(result)
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="GroupLens folder or .zip for `bench` "
                                       "(default: ML-100K, downloaded once like `make run`)")
    parser.add_argument("--scale", help="comma-separated sizes (interactions) for bench-scale")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench_results"))
    parser.add_argument("--work", help="where outputs and generated data go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the pipeline output folders")
    parser.add_argument("--no-notebook", action="store_true")
    parser.add_argument("--pipeline-arg", action="append", default=[],
                        help="extra local_runner.py flag, repeatable "
                             "(e.g. --pipeline-arg=--epochs=1)")
    args = parser.parse_args(argv)
    if args.scale:
        result = scale(args)
    else:
        from movielens.grouplens import ARCHIVE_SHA256
        from movielens.source import ML_100K_URL, download
        from pipeline import configs

        data = args.data or download(ML_100K_URL,
                                     os.path.join(configs.PipelineConfig.cache_dir, "downloads"),
                                     ARCHIVE_SHA256[ML_100K_URL])
        result = bench(args, os.path.abspath(data))
    print(_write(args, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
