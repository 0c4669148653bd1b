"""The runners' training flags, made from the TrainingConfig fields (models.hparams.lever)."""

import argparse
import dataclasses
import functools
import typing

import pytest

from models.hparams import LEVER_GROUPS, PRESETS, TrainingConfig
from runner.flags import add_training_flags, training_config_from_args, training_flags

FIELDS = dataclasses.fields(TrainingConfig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_training_flags(parser)
    return parser


def test_every_field_is_a_lever_with_its_help_and_group():
    for field in FIELDS:
        assert field.metadata["help"].strip(), field.name
        assert field.metadata["group"] in LEVER_GROUPS, field.name
        assert field.metadata["flag"], field.name
    assert set(training_flags()) == {"--" + f.name.replace("_", "-") for f in FIELDS}


def test_help_explains_every_field_flag_with_its_default_and_the_presets():
    parser = _parser()
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=10_000)  # unwrapped
    text = parser.format_help()
    actions = parser._option_string_actions
    for flag, field in training_flags().items():
        assert flag in text
        help_text = actions[flag].help % {}
        assert help_text.startswith(field.metadata["help"]) and "(default: " in help_text
        assert help_text in text
    for group in LEVER_GROUPS:
        assert f"training: {group}:" in text
    epochs = actions["--epochs"].help
    assert f"default: {TrainingConfig().epochs}" in epochs
    assert f"--preset best: {PRESETS['best'].epochs}" in epochs
    assert "--preset best" not in actions["--seed"].help  # the same in every preset
    assert "default: 256 128; --preset best: 1024 512" in actions["--rating-layers"].help
    assert "default: on" in actions["--jit-compile"].help
    assert "{adagrad,adam,sgd}" in text


def _other_value(field: dataclasses.Field):
    """A command-line value for the field other than its default, and the value it parses to."""
    default = field.default
    if field.type is bool:
        return [], not default
    if typing.get_origin(field.type) is tuple:
        return ["7", "3"], [7, 3]
    if field.metadata["choices"]:
        value = next(c for c in field.metadata["choices"] if c != default)
        return [value], value
    value = field.type(0.5 if field.type is float and default != 0.5 else default + 1)
    return [str(value)], value


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
def test_each_generated_flag_sets_its_field(field):
    flag = "--" + field.name.replace("_", "-")
    values, parsed = _other_value(field)
    if field.type is bool:
        flag = flag if parsed else "--no-" + flag[2:]
    args = _parser().parse_args([flag, *values])
    assert getattr(args, field.name) == parsed
    assert type(getattr(args, field.name)) is type(parsed)
    unset = _parser().parse_args([])
    assert all(getattr(unset, f.name) is None for f in FIELDS)  # the preset's value is kept


# Command lines and the configs the hand-written flag table gave them (every flag it had).
COMMAND_LINES = {
    "every flag": (
        ["--rating-weight", "0.5", "--retrieval-weight", "2", "--epochs", "5",
         "--learning-rate", "0.05", "--embedding-dim", "16", "--seed", "7", "--optimizer", "adam",
         "--train-batch-size", "1024", "--embedding-l2", "0.001",
         "--retrieval-temperature", "0.5", "--validation-percent", "10",
         "--early-stopping-patience", "2", "--early-stopping-monitor", "rmse",
         "--label-fraction", "0.5", "--warm-start-epochs", "2", "--user-id-dropout", "0.1",
         "--user-feature-dropout", "0.2", "--retrieval-negatives", "in_batch",
         "--rating-factors", "8", "--rating-factor-l2", "0.01", "--rating-bias-l2", "0.02",
         "--weight-averaging", "0.9", "--rating-dropout", "0.1", "--rating-head-epochs", "3",
         "--rating-head-learning-rate", "0.01", "--rating-head-dropout", "0.2",
         "--rating-biases", "--sampling-bias-correction", "--remove-accidental-hits",
         "--no-jit-compile", "--warm-start", "--movie-genres", "--user-features", "--refit",
         "--rating-history", "--rating-clip", "--rating-mlp-product"],
        TrainingConfig(
            rating_weight=0.5, retrieval_weight=2.0, epochs=5, learning_rate=0.05,
            embedding_dim=16, seed=7, optimizer="adam", train_batch_size=1024,
            embedding_l2=0.001, retrieval_temperature=0.5, validation_percent=10,
            early_stopping_patience=2, early_stopping_monitor="rmse", label_fraction=0.5,
            warm_start_epochs=2, user_id_dropout=0.1, user_feature_dropout=0.2,
            rating_factors=8, rating_factor_l2=0.01, rating_bias_l2=0.02, weight_averaging=0.9,
            rating_dropout=0.1, rating_head_epochs=3, rating_head_learning_rate=0.01,
            rating_head_dropout=0.2, rating_biases=True, sampling_bias_correction=True,
            remove_accidental_hits=True, jit_compile=False, warm_start=True, movie_genres=True,
            user_features=True, refit=True, rating_history=True, rating_clip=True,
            rating_mlp_product=True)),
    "best, switches and JSON": (
        ["--preset", "best", "--title-tokens", "--rating-time-bias", "--query-time",
         "--retrieval-negatives", "catalog", "--no-sampling-bias-correction", "--no-rating-clip",
         "--training-config-json",
         '{"rating_layers": [64, 32], "top_ks": [10, 100], "epochs": 9}'],
        TrainingConfig(
            optimizer="adam", learning_rate=0.001, embedding_dim=128, train_batch_size=2048,
            epochs=9, rating_biases=True, movie_genres=True, title_tokens=True,
            rating_factors=128, rating_factor_l2=0.1, rating_history=True,
            validation_percent=10, early_stopping_patience=2, early_stopping_monitor="top_100",
            refit=True, weight_averaging=0.99, rating_head_epochs=40, rating_layers=(64, 32),
            rating_head_dropout=0.2, rating_time_bias=True, query_time=True,
            retrieval_negatives="catalog", top_ks=(10, 100))),
    "best, one epoch count": (
        ["--preset", "best", "--epochs", "7", "--no-refit", "--learning-rate", "0.01"],
        PRESETS["best"].with_overrides({"epochs": 7, "refit": False, "learning_rate": 0.01})),
    "= forms": (["--epochs=4", "--rating-weight=0", "--jit-compile", "--no-movie-genres"],
                TrainingConfig(epochs=4, rating_weight=0.0)),
}


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_a_command_line_gives_the_config_it_always_gave(line):
    argv, expected = COMMAND_LINES[line]
    config = training_config_from_args(_parser().parse_args(argv))
    assert config == expected
    assert config.to_json() == expected.to_json()  # the same types: 2.0, not 2


def test_the_flags_new_to_a_field_take_its_values():
    config = training_config_from_args(_parser().parse_args(
        ["--rating-layers", "64", "--top-ks", "10", "100", "--recall-ks", "--eval-batch-size",
         "512", "--serving-max-k", "20", "--rerank-depth", "20"]))
    assert config == TrainingConfig(rating_layers=(64,), top_ks=(10, 100), recall_ks=(),
                                    eval_batch_size=512, serving_max_k=20, rerank_depth=20)
    with pytest.raises(ValueError, match="top_ks must be positive"):
        training_config_from_args(_parser().parse_args(["--top-ks"]))
