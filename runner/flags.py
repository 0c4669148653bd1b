"""Command-line flags shared by the runners: the training hyperparameters a user sets.

`--preset NAME` picks a named TrainingConfig (models.hparams.PRESETS; `seed` is the TFRS
tutorial); the other training flags override single fields of it when given. Those flags are
made from the TrainingConfig fields themselves (models.hparams.lever): `--rating-head-epochs`
sets `rating_head_epochs`, with the field's help, grouped as the field is; a boolean field is
`--x` / `--no-x`, a tuple takes its values one by one (`--top-ks 10 100`).
"""

import argparse
import dataclasses
import json
import typing
from typing import Any, Dict

import names
from models.hparams import LEVER_GROUPS, PRESETS, ConfigError, TrainingConfig
from pipeline.configs import EvalThresholds, PipelineConfig

DEFAULT_PRESET = "seed"


def training_flags() -> Dict[str, dataclasses.Field]:
    """Flag → the TrainingConfig field it sets: every field made a flag (`lever(flag=True)`)."""
    return {"--" + field.name.replace("_", "-"): field
            for field in dataclasses.fields(TrainingConfig) if field.metadata.get("flag")}


def _command_line(value: Any) -> str:
    """A field's value as one would write it on the command line."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) or "none"
    return str(value)


def _lever_help(field: dataclasses.Field) -> str:
    """The field's help, then its default (the default preset's value), the tutorial's when
    that differs, and each other preset's that differs."""
    default = getattr(PRESETS[DEFAULT_PRESET], field.name)
    values = [f"default: {_command_line(default)}"]
    if field.default != default:
        values.append(f"tutorial: {_command_line(field.default)}")
    values += [f"--preset {name}: {_command_line(getattr(preset, field.name))}"
               for name, preset in sorted(PRESETS.items())
               if name != DEFAULT_PRESET and getattr(preset, field.name) != default]
    text = f"{field.metadata['help']} ({'; '.join(values)})"
    return text.replace("%", "%%")  # argparse formats help with %


_METAVARS = {int: "N", float: "X", str: "VALUE"}


def _add_lever(group: argparse._ArgumentGroup, flag: str, field: dataclasses.Field) -> None:
    """The flag of one TrainingConfig field, its type from the field's annotation; unset it
    is None (the preset's value is kept)."""
    kwargs: Dict[str, Any] = {"dest": field.name, "default": None, "help": _lever_help(field)}
    if field.type is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(field.type) is tuple:
        (kwargs["type"], _) = typing.get_args(field.type)  # Tuple[int, ...]
        kwargs.update(nargs="*", metavar="N")
    elif field.type in _METAVARS:
        kwargs["type"] = field.type
        kwargs["metavar"] = ("{" + ",".join(field.metadata["choices"]) + "}"
                             if field.metadata.get("choices") else _METAVARS[field.type])
    else:
        raise TypeError(f"TrainingConfig.{field.name}: no flag for a {field.type}")
    group.add_argument(flag, **kwargs)


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    training = parser.add_argument_group(
        "training", "the model and its training: a preset, then any of its fields "
                    "(models/hparams.py), grouped below")
    training.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                          help=f"named training config (default {DEFAULT_PRESET}: the TFRS "
                               "multitask tutorial; best: the tuned model, "
                               "docs/experiments.md); the flags below override its fields")
    training.add_argument("--training-config-json", default=None, metavar="JSON",
                          help="JSON object of further TrainingConfig overrides, applied "
                               "after the flags, e.g. '{\"rating_layers\": [64]}'")
    groups = {name: parser.add_argument_group(f"training: {name}", description)
              for name, description in LEVER_GROUPS.items()}
    for flag, field in training_flags().items():
        _add_lever(groups[field.metadata["group"]], flag, field)


def training_config_from_args(args: argparse.Namespace) -> TrainingConfig:
    overrides = {field.name: getattr(args, field.name) for field in training_flags().values()
                 if getattr(args, field.name) is not None}
    if args.training_config_json:
        try:
            overrides.update(json.loads(args.training_config_json))
        except (ValueError, TypeError) as error:
            raise ConfigError(f"--training-config-json is not a JSON object: {error}") from None
    return PRESETS[args.preset].with_overrides(overrides)


# Flag → EvalThresholds field and what it gates; a negative value turns a threshold off.
_THRESHOLD_FLAGS = {
    "--max-rmse": ("max_rmse", "bless no model whose eval RMSE is above this"),
    "--min-top-100": ("min_top_100_accuracy",
                      "bless no model whose eval top-100 accuracy is below this"),
    "--max-rmse-increase": ("max_rmse_increase",
                            "bless no model whose eval RMSE is more than this above the last "
                            "blessed model's; not checked on the first run"),
    "--max-top-100-decrease": ("max_top_100_decrease",
                               "bless no model whose eval top-100 accuracy is more than this "
                               "below the last blessed model's; not checked on the first run"),
    "--min-ndcg-at-10": ("min_ndcg_at_10",
                         "bless no model whose per-user NDCG@10 (rated titles removed) is "
                         "below this"),
    "--min-ndcg-lift-over-popularity": (
        "min_ndcg_lift_over_popularity",
        "bless no model whose per-user NDCG@10 is below this multiple of the popularity "
        "baseline's (by the same code): 1.0 = it must beat the most-rated titles")}


def add_threshold_flags(parser: argparse.ArgumentParser) -> None:
    defaults = EvalThresholds().as_parameters()
    thresholds = parser.add_argument_group(
        "blessing thresholds", "what the Evaluator asks of a model before the Pusher serves "
                               "it; a task's thresholds apply when its loss weight is > 0")
    for flag, (field, what) in _THRESHOLD_FLAGS.items():
        thresholds.add_argument(flag, dest=field, type=float, default=defaults[field],
                                metavar="X", help=f"{what} (default {defaults[field]}; < 0 = off)")


def thresholds_from_args(args: argparse.Namespace) -> EvalThresholds:
    return EvalThresholds.from_parameters(
        {field: getattr(args, field) for field, _ in _THRESHOLD_FLAGS.values()})


def add_beam_flag(parser) -> None:
    """--beam-arg, on a parser or an argument group."""
    parser.add_argument(
        "--beam-arg", action="append", default=[], metavar="OPTION",
        help="a Beam pipeline option for every Beam component (repeatable; replaces the "
             "defaults), e.g. --beam-arg=--direct_num_workers=2")


def add_beam_workers_flag(parser) -> None:
    """--beam-workers, on a parser or an argument group; its default is PipelineConfig's."""
    parser.add_argument(
        "--beam-workers", type=int, default=PipelineConfig.beam_workers, metavar="N",
        help="default 1: every Beam stage runs in one in-memory process. N > 1 runs "
             "ExampleGen, StatisticsGen and the Evaluator on Beam's multi-process "
             "DirectRunner with N workers (their record counts are reconciled, and a "
             "mismatch fails the run); Transform always runs in-memory locally (a "
             "multi-process Transform once lost users at 10M ratings: docs/benchmarks.md)")


def beam_args_from_args(args: argparse.Namespace):
    return tuple(args.beam_arg) or PipelineConfig.beam_pipeline_args


def add_tuner_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tune", type=int, default=0, metavar="TRIALS",
                        help="run the Tuner (models/tuner.py) with this many trials before the "
                             "Trainer (default 0: off; slow)")


def add_span_flags(parser: argparse.ArgumentParser) -> None:
    """--span and --window: continuous training on a drops folder (local runs only)."""
    spans = parser.add_argument_group(
        "spans (continuous training)",
        "with --data a drops folder: span-1/, span-2/, ... (or span-1.zip, ...), one GroupLens "
        "dataset per span; each run ingests one span (--split time recommended: a span's eval "
        "is then its latest ratings)")
    spans.add_argument("--span", type=int, default=None, metavar="N",
                       help="the span to ingest (default: the newest)")
    spans.add_argument("--window", type=int, default=1, metavar="N",
                       help="train on the train splits of the last N spans up to the ingested "
                            "one (default 1: that span alone); Transform's vocabularies cover "
                            "every span so far; evaluation scores the ingested span's eval split")
    spans.add_argument("--drift-mode", choices=names.DRIFT_MODES, default="stop",
                       help="past a drift threshold between this span and the previous accepted "
                            "one: stop the run before Transform (default) or only warn")


def span_fields_from_args(args: argparse.Namespace) -> dict:
    """The DataConfig fields the span flags set."""
    return {"span": args.span, "window": args.window}


def drift_mode_from_args(args: argparse.Namespace) -> str:
    return args.drift_mode


def add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
    """The flags both runners take: training, blessing thresholds, Beam and the Tuner."""
    add_training_flags(parser)
    add_threshold_flags(parser)
    beam = parser.add_argument_group(
        "Beam", "how the Beam components (ExampleGen, StatisticsGen, Transform, the Evaluator) "
                "run")
    add_beam_flag(beam)
    add_beam_workers_flag(beam)
    add_tuner_flag(parser)


def pipeline_fields_from_args(args: argparse.Namespace) -> dict:
    """The PipelineConfig fields those flags set."""
    return {"training": training_config_from_args(args),
            "thresholds": thresholds_from_args(args),
            "beam_pipeline_args": beam_args_from_args(args),
            "beam_workers": args.beam_workers,
            "tuner_trials": args.tune}
