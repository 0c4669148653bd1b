"""Run as a script: answers TF Serving-style requests with only TensorFlow importable.

    python tests/serving_check.py MODEL_DIR REQUESTS.json  → one JSON line of answers

REQUESTS.json holds the REST request bodies the client sends. The training stack (TFRS, TFT,
TFX, Keras, our model code) is blocked, as it is absent from TF Serving. The model's warm-up
file is replayed too.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from serving.tf_only_load import block_training_stack, replay_warmup  # noqa: E402


def main(model_dir: str, requests_file: str) -> None:
    blocker = block_training_stack()
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
    print(json.dumps({"answers": answers, "warmup": replay_warmup(client.model, model_dir),
                      "blocked_imports_attempted": sorted(set(blocker.refused))}))


if __name__ == "__main__":
    main(*sys.argv[1:])
