"""A TF Serving client for the movie recommender: REST, gRPC, or a local SavedModel.

    python -m serving.client --rest http://localhost:8501 recommend --user 42 -k 10
    python -m serving.client --grpc localhost:8500 predict --user 42 --title "Heat (1995)"
    python -m serving.client --model-dir outputs/serving/movielens/1795812846 \\
        similar --title "Star Wars (1977)"
    python -m serving.client --rest http://localhost:8501 history --rated "Heat (1995)" -k 10

Requests use TF Serving's columnar ("inputs") format, since `k` is a scalar beside batched ids.
The local mode feeds the same JSON to the SavedModel the way TF Serving's REST API decodes it.
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Sequence

import names  # the model's contract: signature, input and output names (no TensorFlow)

DEFAULT_MODEL_NAME = names.MODEL_NAME


def predict_request(users: Sequence[str], titles: Sequence[str]) -> Dict[str, Any]:
    return {"signature_name": names.PREDICT_SIGNATURE,
            "inputs": {names.USER_ID: list(users), names.MOVIE_TITLE: list(titles)}}


def recommend_request(users: Sequence[str], k: int,
                      exclude: Optional[Sequence[Sequence[str]]] = None,
                      ranked: bool = False) -> Dict[str, Any]:
    """`recommend` (or `recommend_excluding` when titles are excluded); with `ranked`,
    `recommend_ranked`: the best retrieved titles ordered by predicted rating."""
    if not exclude and not ranked:
        return {"signature_name": names.RECOMMEND_SIGNATURE,
                "inputs": {names.USER_ID: list(users), names.K_INPUT: k}}
    exclude = exclude or [[""] for _ in users]
    width = max(len(row) for row in exclude)
    padded = [list(row) + [""] * (width - len(row)) for row in exclude]  # "" pads
    return {"signature_name": (names.RECOMMEND_RANKED_SIGNATURE if ranked
                               else names.RECOMMEND_EXCLUDING_SIGNATURE),
            "inputs": {names.USER_ID: list(users), names.K_INPUT: k,
                       names.EXCLUDE_INPUT: padded}}


def history_request(histories: Sequence[Sequence[str]], k: int) -> Dict[str, Any]:
    """`recommend_for_history`: for each row, a user the model never trained, from the titles
    they rated so far (a model trained with history_fold_in serves it)."""
    width = max(1, max(len(row) for row in histories))
    padded = [list(row) + [""] * (width - len(row)) for row in histories]  # "" pads
    return {"signature_name": names.RECOMMEND_FOR_HISTORY_SIGNATURE,
            "inputs": {names.HISTORY_INPUT: padded, names.K_INPUT: k}}


def similar_request(titles: Sequence[str], k: int) -> Dict[str, Any]:
    return {"signature_name": names.SIMILAR_SIGNATURE,
            "inputs": {names.MOVIE_TITLE: list(titles), names.K_INPUT: k}}


def _decode_json_value(value: Any) -> Any:
    """TF Serving's REST encoding: {"b64": ...} is binary, lists nest."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_json_value(v) for v in value]
    return value


def _encode_json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_encode_json_value(v) for v in value]
    return value


class ServingError(RuntimeError):
    """The server (or model) rejected the request; the message is its error text."""


class RestClient:
    def __init__(self, url: str, model_name: str = DEFAULT_MODEL_NAME, timeout: float = 10.0):
        self.endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
        self.timeout = timeout

    def call(self, request: Dict[str, Any]) -> Dict[str, Any]:
        body = json.dumps(request).encode("utf-8")
        http = urllib.request.Request(self.endpoint, data=body,
                                      headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as response:
                return json.loads(response.read())["outputs"]
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                message = json.loads(body).get("error", str(error))
            except ValueError:
                message = f"{error}: {body[:200]!r}"
            raise ServingError(message) from None
        except urllib.error.URLError as error:
            raise ServingError(f"cannot reach {self.endpoint}: {error.reason}") from None


class GrpcClient:
    def __init__(self, target: str, model_name: str = DEFAULT_MODEL_NAME, timeout: float = 10.0):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.model_name = model_name
        self.timeout = timeout
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(target))

    def call(self, request: Dict[str, Any]) -> Dict[str, Any]:
        import grpc
        import numpy as np
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        proto = predict_pb2.PredictRequest()
        proto.model_spec.name = self.model_name
        proto.model_spec.signature_name = request["signature_name"]
        for name, value in request["inputs"].items():
            value = _decode_json_value(value)
            array = np.array(value, dtype=np.int32 if name == names.K_INPUT else object)
            proto.inputs[name].CopyFrom(tf.make_tensor_proto(array))
        try:
            response = self.stub.Predict(proto, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(error.details()) from None
        return {name: _encode_json_value(tf.make_ndarray(tensor).tolist())
                for name, tensor in response.outputs.items()}


class LocalClient:
    """Answers requests with a SavedModel loaded in this process (TensorFlow only)."""

    def __init__(self, model_dir: str):
        import tensorflow as tf

        self._tf = tf
        self.model = tf.saved_model.load(model_dir)

    def call(self, request: Dict[str, Any]) -> Dict[str, Any]:
        tf = self._tf
        function = self.model.signatures[request["signature_name"]]
        specs = function.structured_input_signature[1]
        inputs = {name: tf.constant(_decode_json_value(value), dtype=specs[name].dtype)
                  for name, value in request["inputs"].items()}
        try:
            outputs = function(**inputs)
        except tf.errors.InvalidArgumentError as error:
            raise ServingError(error.message) from None
        return {name: _encode_json_value(value.numpy().tolist()) for name, value in outputs.items()}


def _print_ranked(outputs: Dict[str, Any], known_key: str, label: str) -> None:
    ranked = zip(outputs[names.TITLES_OUTPUT], outputs[names.SCORES_OUTPUT])
    for row, (titles, scores) in enumerate(ranked):
        if not outputs[known_key][row]:
            print(f"({label} not in the vocabulary: answered from the OOV embedding)")
        for rank, (title, score) in enumerate(zip(titles, scores), start=1):
            print(f"{rank:3d}. {score:8.4f}  {title}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--rest", help="TF Serving REST address, e.g. http://localhost:8501")
    where.add_argument("--grpc", help="TF Serving gRPC address, e.g. localhost:8500")
    where.add_argument("--model-dir", help="a pushed SavedModel version directory (local)")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--json", action="store_true", help="print the raw response")
    commands = parser.add_subparsers(dest="command", required=True)
    recommend = commands.add_parser("recommend", help="top-k titles for a user")
    recommend.add_argument("--user", required=True)
    recommend.add_argument("-k", type=int, default=10)
    recommend.add_argument("--exclude", nargs="*", default=[], help="titles to leave out")
    recommend.add_argument("--ranked", action="store_true",
                           help="order the best retrieved titles by predicted rating "
                                "(recommend_ranked; the scores are predicted ratings)")
    predict = commands.add_parser("predict", help="predicted rating of a title by a user")
    predict.add_argument("--user", required=True)
    predict.add_argument("--title", required=True)
    history = commands.add_parser(
        "history", help="top-k titles for a new user from the titles they rated "
                        "(recommend_for_history: a model trained with --history-fold-in)")
    history.add_argument("--rated", nargs="+", required=True, help="titles the user rated")
    history.add_argument("-k", type=int, default=10)
    similar = commands.add_parser("similar", help="titles nearest to a title")
    similar.add_argument("--title", required=True)
    similar.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)

    if args.model_dir:
        client = LocalClient(args.model_dir)
    elif args.grpc:
        client = GrpcClient(args.grpc, args.model_name)
    else:
        client = RestClient(args.rest, args.model_name)

    if args.command == "recommend":
        request = recommend_request([args.user], args.k, [args.exclude] if args.exclude else None,
                                    ranked=args.ranked)
    elif args.command == "predict":
        request = predict_request([args.user], [args.title])
    elif args.command == "history":
        request = history_request([args.rated], args.k)
    else:
        request = similar_request([args.title], args.k)
    try:
        outputs = client.call(request)
    except ServingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outputs))
    elif args.command == "recommend":
        _print_ranked(outputs, "user_known", f"user {args.user!r}")
    elif args.command == "similar":
        _print_ranked(outputs, "movie_known", f"title {args.title!r}")
    elif args.command == "history":
        _print_ranked(outputs, names.TITLES_KNOWN, "none of the rated titles is")
    else:
        print(f"predicted rating of {args.title!r} by user {args.user}: {outputs['rating'][0]:.2f}"
              + ("" if outputs["user_known"][0] and outputs["movie_known"][0]
                 else " (unknown id: OOV embedding)"))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
