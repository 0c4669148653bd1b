"""The Evaluator's baseline: the model being served, other than the one being evaluated.

Not TFX's LatestBlessedModelStrategy, for two reasons. A blessed model is not always served
(the LoadCheck may refuse it), and the change thresholds must compare a candidate with what
users get now. And that strategy does not know the candidate: after a model is blessed, a
re-run with nothing changed reuses the cached Trainer output, the resolver returns that same
model as the baseline, the Evaluator's inputs differ from last time, and it runs again
(comparing the model with itself). Excluding the candidate gives the re-run the baseline the
first run had, so every component is cached.

The served model is the newest PushedModel that was pushed (or found already serving) by
AtomicPusher, which records the Model's MLMD id on it (`names.PUSHED_MODEL_ID_KEY`).
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

import names

CANDIDATE_KEY = "candidate"  # the model about to be evaluated (the Trainer's output)
MODEL_KEY = "model"  # every Model in MLMD
BLESSING_KEY = "model_blessing"  # every ModelBlessing in MLMD
PUSHED_KEY = "pushed_model"  # every PushedModel in MLMD

# The custom properties TFX's Evaluator writes on a ModelBlessing, and its Pusher on a
# PushedModel.
_BLESSED = "blessed"
_CURRENT_MODEL_ID = "current_model_id"
_PUSHED = "pushed"


def _serves(push: types.Artifact) -> bool:
    """Whether this push left its model serving: pushed, or found the same model serving."""
    return (push.get_int_custom_property(_PUSHED) == 1
            or bool(push.get_string_custom_property(names.ALREADY_SERVING_KEY)))


def served_model_other_than(candidates: List[types.Artifact], models: List[types.Artifact],
                            blessings: List[types.Artifact], pushes: List[types.Artifact]
                            ) -> Dict[str, List[types.Artifact]]:
    """{model, model_blessing, pushed_model}: the most recently served model that is not a
    candidate, its blessing and the push that served it (all empty when there is none);
    `candidate` passed through (TFX wants every input key back)."""
    excluded = {model.id for model in candidates}
    model_by_id = {model.id: model for model in models}
    blessing_of = {b.get_int_custom_property(_CURRENT_MODEL_ID): b for b in blessings
                   if b.get_int_custom_property(_BLESSED) == 1}
    for push in sorted(pushes, key=lambda p: p.id, reverse=True):
        model_id = push.get_int_custom_property(names.PUSHED_MODEL_ID_KEY)
        if (_serves(push) and model_id not in excluded and model_id in model_by_id
                and model_id in blessing_of):
            return {MODEL_KEY: [model_by_id[model_id]], BLESSING_KEY: [blessing_of[model_id]],
                    PUSHED_KEY: [push], CANDIDATE_KEY: candidates}
    return {MODEL_KEY: [], BLESSING_KEY: [], PUSHED_KEY: [], CANDIDATE_KEY: candidates}


class ServedModelStrategy(resolver.ResolverStrategy):
    """Resolves `model`/`model_blessing` to the served model that is not `candidate`."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        for key, artifact_type in ((CANDIDATE_KEY, standard_artifacts.Model),
                                   (MODEL_KEY, standard_artifacts.Model),
                                   (BLESSING_KEY, standard_artifacts.ModelBlessing),
                                   (PUSHED_KEY, standard_artifacts.PushedModel)):
            if any(not isinstance(a, artifact_type) for a in input_dict.get(key, [])):
                raise RuntimeError(f"{key} must hold {artifact_type.TYPE_NAME} artifacts")
        return served_model_other_than(input_dict.get(CANDIDATE_KEY, []),
                                       input_dict.get(MODEL_KEY, []),
                                       input_dict.get(BLESSING_KEY, []),
                                       input_dict.get(PUSHED_KEY, []))
