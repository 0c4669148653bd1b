"""GatedEvaluator's own threshold, on the Trainer's per-user NDCG@10 (not a TFMA metric)."""

import json
import os

import pytest
from tfx.types import standard_artifacts

import names
from components.eval_config import EvalThresholds, make_eval_config
from components.gated_evaluator import apply_ranking_threshold
from models.hparams import ConfigError, TrainingConfig


def _blessing(tmp_path, blessed: bool):
    """A ModelBlessing as TFX's Evaluator leaves it."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


def _model_run(tmp_path, ndcg_at_10):
    folder = tmp_path / "model_run"
    folder.mkdir()
    if ndcg_at_10 is not None:
        (folder / names.RANKING_METRICS_FILE).write_text(json.dumps(
            {"ndcg_at_10": ndcg_at_10, "recall_at_10": 0.5}))
    return str(folder)


@pytest.mark.parametrize("ndcg, threshold, blessed, reason", [
    (0.30, 0.25, True, None),  # above: TFMA's blessing stands
    (0.25, 0.25, True, None),  # at the bound
    (0.20, 0.25, False, "per-user ndcg_at_10 0.2000 is below min_ndcg_at_10 0.25"),
    (float("nan"), 0.25, False, "per-user ndcg_at_10 nan is below"),
    (None, 0.25, False, "the Trainer reported no ndcg_at_10"),
    (0.20, None, True, None),  # threshold off
])
def test_a_blessing_is_withdrawn_below_the_ndcg_threshold(tmp_path, ndcg, threshold, blessed,
                                                          reason):
    blessing = _blessing(tmp_path, blessed=True)
    apply_ranking_threshold(blessing, _model_run(tmp_path, ndcg), threshold)
    assert blessing.get_int_custom_property("blessed") == int(blessed)
    files = sorted(os.listdir(blessing.uri))
    assert files == (["BLESSED"] if blessed else ["NOT_BLESSED"])  # what the Pusher reads
    if reason:
        assert reason in blessing.get_string_custom_property(names.RANKING_GATE_KEY)


@pytest.mark.parametrize("ndcg, popularity, lift, blessed, reason", [
    (0.30, 0.20, 1.0, True, None),  # beats popularity
    (0.30, 0.15, 2.0, True, None),  # 2x, at the bound
    (0.30, 0.25, 1.5, False, "below min_ndcg_lift_over_popularity 1.5 x the popularity "
                             "baseline's 0.2500"),
    (0.30, None, 1.0, False, "the Trainer reported no popularity ndcg_at_10"),
])
def test_a_blessing_can_require_beating_popularity(tmp_path, ndcg, popularity, lift, blessed,
                                                   reason):
    blessing = _blessing(tmp_path, blessed=True)
    model_run = _model_run(tmp_path, ndcg)
    if popularity is not None:
        with open(os.path.join(model_run, names.POPULARITY_METRICS_FILE), "w") as f:
            json.dump({"ndcg_at_10": popularity}, f)
    apply_ranking_threshold(blessing, model_run, None, lift)
    assert blessing.get_int_custom_property("blessed") == int(blessed)
    if reason:
        assert reason in blessing.get_string_custom_property(names.RANKING_GATE_KEY)


def test_a_model_tfma_did_not_bless_stays_unblessed(tmp_path):
    blessing = _blessing(tmp_path, blessed=False)
    apply_ranking_threshold(blessing, _model_run(tmp_path, 0.9), 0.25)
    assert blessing.get_int_custom_property("blessed") == 0
    assert not blessing.get_string_custom_property(names.RANKING_GATE_KEY)


def test_the_ndcg_threshold_needs_ndcg_at_10():
    with pytest.raises(ConfigError, match="recall_ks"):
        make_eval_config(TrainingConfig(recall_ks=(50, 100)),
                         EvalThresholds(min_ndcg_at_10=0.1))
    make_eval_config(TrainingConfig(), EvalThresholds(min_ndcg_at_10=0.1))
