"""The Evaluator's baseline is the served model (never the candidate), not merely the latest
blessed one: a blessed model that was not pushed must not become the bar."""

from tfx.types import standard_artifacts

import names
from components.baseline_resolver import served_model_other_than


def _model(model_id):
    model = standard_artifacts.Model()
    model.id = model_id
    return model


def _blessing(model_id, blessed=1):
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", blessed)
    return blessing


def _push(push_id, model_id, pushed=1, already_serving=""):
    push = standard_artifacts.PushedModel()
    push.id = push_id
    push.set_int_custom_property(names.PUSHED_MODEL_ID_KEY, model_id)
    push.set_int_custom_property("pushed", pushed)
    if already_serving:
        push.set_string_custom_property(names.ALREADY_SERVING_KEY, already_serving)
    return push


def _baseline(candidate, models, blessings, pushes):
    result = served_model_other_than([_model(candidate)], models, blessings, pushes)
    return [m.id for m in result["model"]], [b.get_int_custom_property("current_model_id")
                                            for b in result["model_blessing"]]


MODELS = [_model(i) for i in (1, 2, 3, 4)]


def test_a_blessed_model_that_was_not_pushed_is_not_the_baseline():
    # 1 served; 2 blessed but refused by the LoadCheck (not pushed); 3 is the candidate.
    blessings = [_blessing(1), _blessing(2)]
    pushes = [_push(10, 1), _push(11, 2, pushed=0)]
    assert _baseline(3, MODELS, blessings, pushes) == ([1], [1])


def test_the_newest_push_wins_and_the_candidate_is_never_its_own_baseline():
    blessings = [_blessing(1), _blessing(2)]
    pushes = [_push(10, 1), _push(12, 2)]
    assert _baseline(3, MODELS, blessings, pushes) == ([2], [2])
    resolved = served_model_other_than([_model(3)], MODELS, blessings, pushes)
    assert [p.id for p in resolved["pushed_model"]] == [12]  # every input key comes back
    # A re-run of 2 (cached Trainer): the baseline it had the first time.
    assert _baseline(2, MODELS, blessings, pushes) == ([1], [1])


def test_a_model_found_already_serving_counts_as_served():
    blessings = [_blessing(1), _blessing(2)]
    pushes = [_push(10, 1), _push(12, 2), _push(13, 1, pushed=0, already_serving="5")]
    assert _baseline(4, MODELS, blessings, pushes) == ([1], [1])


def test_no_served_model_means_no_baseline():
    assert _baseline(1, MODELS, [_blessing(1)], []) == ([], [])
    # A push record without its blessing, or of a model MLMD no longer lists, is skipped.
    assert _baseline(3, MODELS, [_blessing(1, blessed=0)], [_push(10, 1)]) == ([], [])
    assert _baseline(3, MODELS[1:], [_blessing(1)], [_push(10, 1)]) == ([], [])


def test_without_a_candidate_the_served_model_itself_resolves():
    """The warm start's base model, resolved before the Trainer (no candidate yet): the model
    being served, the same one the Evaluator will compare the new model with."""
    blessings = [_blessing(1), _blessing(2)]
    pushes = [_push(10, 1), _push(12, 2), _push(13, 3, pushed=0)]
    resolved = served_model_other_than([], MODELS, blessings, pushes)
    assert [m.id for m in resolved["model"]] == [2]
    assert served_model_other_than([], MODELS, [], [])["model"] == []  # a first run
