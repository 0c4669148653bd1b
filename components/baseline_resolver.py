"""The Evaluator's baseline: the latest blessed model other than the one being evaluated.

TFX's LatestBlessedModelStrategy does not know the candidate. After a model is blessed, a
re-run with nothing changed reuses the cached Trainer output, the resolver now returns that
same model as the baseline, the Evaluator's inputs differ from last time, and it runs again
(comparing the model with itself). Excluding the candidate gives the re-run the baseline the
first run had, so every component is cached.
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

CANDIDATE_KEY = "candidate"  # the model about to be evaluated (the Trainer's output)
MODEL_KEY = "model"  # every Model in MLMD
BLESSING_KEY = "model_blessing"  # every ModelBlessing in MLMD

# The custom properties TFX's Evaluator writes on a ModelBlessing.
_BLESSED = "blessed"
_CURRENT_MODEL_ID = "current_model_id"


def latest_blessed_other_than(candidates: List[types.Artifact], models: List[types.Artifact],
                              blessings: List[types.Artifact]) -> Dict[str, List[types.Artifact]]:
    excluded = {model.id for model in candidates}
    blessing_of = {b.get_int_custom_property(_CURRENT_MODEL_ID): b for b in blessings
                   if b.get_int_custom_property(_BLESSED) == 1}
    for model in sorted(models, key=lambda m: m.id, reverse=True):
        if model.id in blessing_of and model.id not in excluded:
            return {MODEL_KEY: [model], BLESSING_KEY: [blessing_of[model.id]],
                    CANDIDATE_KEY: candidates}
    return {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: candidates}


class PreviousBlessedModelStrategy(resolver.ResolverStrategy):
    """Resolves `model`/`model_blessing` to the latest blessed model that is not `candidate`."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        for key, artifact_type in ((CANDIDATE_KEY, standard_artifacts.Model),
                                   (MODEL_KEY, standard_artifacts.Model),
                                   (BLESSING_KEY, standard_artifacts.ModelBlessing)):
            if any(not isinstance(a, artifact_type) for a in input_dict.get(key, [])):
                raise RuntimeError(f"{key} must hold {artifact_type.TYPE_NAME} artifacts")
        return latest_blessed_other_than(input_dict.get(CANDIDATE_KEY, []),
                                         input_dict.get(MODEL_KEY, []),
                                         input_dict.get(BLESSING_KEY, []))
