"""Loads a SavedModel the way TF Serving does: TensorFlow alone, then its warm-up requests.

    python -m serving.tf_only_load MODEL_DIR   → one JSON line; exit status 0 = it loads and
                                               answers every warm-up request, 1 = it does not

The training stack (TFRS, TFT, TFX, Keras, Beam, our model code) is blocked from importing, as
it is absent from TF Serving: a model that needs any of it fails here. This is not TFX's
InfraValidator, which starts a real TF Serving (a binary or Docker image, neither available
where this project is tested); it is the closest check a Python process can make, run as the
pipeline's LoadCheck step and by the serving tests.
"""

import importlib.abc
import json
import os
import sys
from typing import Any, Dict, List

import names  # imports nothing: signature and file names only

# Top-level packages TF Serving does not have. (Keras 3 is not blocked: `import tensorflow`
# 2.16 itself probes and loads parts of it.)
BLOCKED = ("tensorflow_recommenders", "tensorflow_transform", "tfx", "tfx_bsl", "tf_keras",
           "tensorflow_model_analysis", "apache_beam", "models", "components", "pipeline")


class ImportBlocker(importlib.abc.MetaPathFinder):
    """Refuses the BLOCKED packages and remembers every attempt to import one."""

    def __init__(self) -> None:
        self.refused: List[str] = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            self.refused.append(name)
            raise ImportError(f"{name} is blocked: TF Serving has no Python")
        return None


def child_environment() -> Dict[str, str]:
    """This process's environment for a load-check process: the project importable, and
    without TF_USE_LEGACY_KERAS, which would make TensorFlow import tf_keras (a training
    library TF Serving does not have) when the SavedModel loads."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [names.PROJECT_ROOT,
                                                      env.get("PYTHONPATH")]))
    return env


def block_training_stack() -> ImportBlocker:
    """Installs an ImportBlocker first on sys.meta_path (before TensorFlow is imported)."""
    blocker = ImportBlocker()
    sys.meta_path.insert(0, blocker)
    return blocker


def replay_warmup(model: Any, model_dir: str) -> List[Dict[str, Any]]:
    """Calls each warm-up request's signature, as TF Serving does at load time; raises on the
    first failure. Returns [{"signature", "outputs"}] in file order."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(model_dir, names.WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} does not exist: the export writes warm-up requests")
    replayed = []
    for record in tf.data.TFRecordDataset(path):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        signature = request.model_spec.signature_name
        if signature not in model.signatures:
            raise KeyError(f"warm-up request for signature {signature!r}, which the model "
                           f"does not have (it has {sorted(model.signatures)})")
        outputs = model.signatures[signature](**{
            name: tf.constant(tf.make_ndarray(tensor)) for name, tensor in request.inputs.items()})
        replayed.append({"signature": signature, "outputs": sorted(outputs)})
    if not replayed:
        raise ValueError(f"{path} holds no warm-up request")
    return replayed


def check(model_dir: str) -> Dict[str, Any]:
    """Loads `model_dir` with the training stack blocked and replays its warm-up requests.
    {"ok", "error" (when not ok), "signatures", "warmup", "blocked_imports_attempted"}."""
    blocker = block_training_stack()
    result: Dict[str, Any] = {"model_dir": model_dir}
    try:
        import tensorflow as tf

        model = tf.saved_model.load(model_dir)
        result["signatures"] = sorted(model.signatures)
        result["warmup"] = replay_warmup(model, model_dir)
        result["ok"] = True
    except Exception as error:  # noqa: BLE001 - any failure means "does not load": say which
        result.update(ok=False, error=f"{type(error).__name__}: {error}"[:2000])
    result["blocked_imports_attempted"] = sorted(set(blocker.refused))
    return result


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    result = check(argv[0])
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
