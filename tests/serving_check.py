"""Run as a script: loads a SavedModel with only TensorFlow importable and calls its signatures.

    python tests/serving_check.py MODEL_DIR REQUEST.json  → prints the outputs as JSON

The model's own training stack is blocked, as it is absent from TF Serving.
"""

import importlib.abc
import json
import sys

BLOCKED = ("tensorflow_recommenders", "tensorflow_transform", "tfx", "tfx_bsl", "tf_keras",
           "tensorflow_model_analysis", "apache_beam", "models", "components", "pipeline")


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: TF Serving has no Python")
        return None


def main(model_dir: str, request_file: str) -> None:
    sys.meta_path.insert(0, _Block())
    sys.path = [p for p in sys.path if not p.endswith("/tests")]
    import tensorflow as tf

    with open(request_file) as f:
        request = json.load(f)  # {"signature": name, "examples": [base64 tf.Example, ...]}
    loaded = tf.saved_model.load(model_dir)
    examples = tf.constant([bytes.fromhex(e) for e in request["examples"]])
    outputs = {}
    for name, function in loaded.signatures.items():
        result = function(examples=examples)
        outputs[name] = {key: value.numpy().tolist() for key, value in result.items()}
    loaded_modules = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"signatures": outputs, "blocked_modules_loaded": loaded_modules}))


if __name__ == "__main__":
    main(*sys.argv[1:])
