"""Run as a script: answers TF Serving-style requests with only TensorFlow importable.

    python tests/serving_check.py MODEL_DIR REQUESTS.json  → one JSON line of answers

REQUESTS.json holds the REST request bodies the client sends. The training stack (TFRS, TFT,
TFX, Keras, our model code) is blocked, as it is absent from TF Serving. The model's warm-up
file is replayed too.
"""

import importlib.abc
import json
import os
import sys

BLOCKED = ("tensorflow_recommenders", "tensorflow_transform", "tfx", "tfx_bsl", "tf_keras",
           "tensorflow_model_analysis", "apache_beam", "models", "components", "pipeline")
# (Keras 3 is not blocked: `import tensorflow` 2.16 itself probes and loads parts of it.)


class _Block(importlib.abc.MetaPathFinder):
    """Refuses the blocked packages and remembers every attempt to import one."""

    def __init__(self):
        self.refused = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            self.refused.append(name)
            raise ImportError(f"{name} is blocked: TF Serving has no Python")
        return None


def main(model_dir: str, requests_file: str) -> None:
    blocker = _Block()
    sys.meta_path.insert(0, blocker)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from serving.client import LocalClient, ServingError

    client = LocalClient(model_dir)
    with open(requests_file) as f:
        requests = json.load(f)
    answers = []
    for request in requests:
        try:
            answers.append({"outputs": client.call(request)})
        except ServingError as error:
            answers.append({"error": str(error)})

    warmup = []
    path = os.path.join(model_dir, "assets.extra", "tf_serving_warmup_requests")
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        function = client.model.signatures[request.model_spec.signature_name]
        outputs = function(**{name: tf.constant(tf.make_ndarray(tensor))
                              for name, tensor in request.inputs.items()})
        warmup.append({"signature": request.model_spec.signature_name,
                       "outputs": sorted(outputs)})
    print(json.dumps({"answers": answers, "warmup": warmup,
                      "blocked_imports_attempted": sorted(set(blocker.refused))}))


if __name__ == "__main__":
    main(*sys.argv[1:])
