"""The Evaluator's cost: TFMA on a model's eval split, the former way against the current one.

    python bench/evaluator_cost.py --model <pipeline_root>/Trainer/model/N/Format-Serving \\
        --examples '<pipeline_root>/MovieLensExampleGen/examples/N/Split-eval/*'

Former: TFMA runs `serving_default`, which returns each example's score for every catalog
title, and Keras's SparseTopKCategoricalAccuracy ranks them in TFMA's workers. Current: TFMA
runs `evaluate_examples`, which returns the rank of the example's own title (computed in the
model), and TopKAccuracyFromRank counts ranks below K (components/eval_config.py). Both in
this process, one after the other, on the same examples; prints the seconds of each and the
metrics, which must agree.

A model exported before `evaluate_examples` existed gets it from a thin wrapper (its own
`serving_default` and `transform_features` outputs, ranked by models.eval_metrics.catalog_rank:
the computation the exported signature does), so older runs' models can be measured too.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Dict

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402
import tensorflow_model_analysis as tfma  # noqa: E402

import names  # noqa: E402
from components.eval_config import EvalThresholds, make_eval_config  # noqa: E402
from models.eval_metrics import catalog_rank  # noqa: E402
from models.hparams import TrainingConfig  # noqa: E402
from runner.run_summary import load_eval_metrics  # noqa: E402


def former_eval_config(training: TrainingConfig) -> tfma.EvalConfig:
    """The EvalConfig the pipeline used before evaluate_examples (no thresholds)."""
    top_k = [tfma.MetricConfig(class_name="SparseTopKCategoricalAccuracy",
                               config=json.dumps({"k": k, "name": names.top_k_metric(k)}))
             for k in training.top_ks]
    rmse = tfma.MetricConfig(class_name="RootMeanSquaredError",
                             config=json.dumps({"name": names.RMSE_METRIC}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=names.SERVING_SIGNATURE,
            preprocessing_function_names=[names.TRANSFORM_SIGNATURE],
            label_keys={names.RATING_OUTPUT: names.USER_RATING,
                        names.RETRIEVAL_OUTPUT: names.MOVIE_INDEX})],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(output_names=[names.RATING_OUTPUT], metrics=[rmse]),
                       tfma.MetricsSpec(output_names=[names.RETRIEVAL_OUTPUT], metrics=top_k)])


class _WithRank(tf.Module):
    """An older SavedModel plus `evaluate_examples` built from its own two signatures."""

    def __init__(self, loaded) -> None:
        super().__init__()
        self.loaded = loaded

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluate_examples(self, examples: tf.Tensor) -> Dict[str, tf.Tensor]:
        outputs = self.loaded.signatures[names.SERVING_SIGNATURE](examples=examples)
        index = self.loaded.signatures[names.TRANSFORM_SIGNATURE](
            examples=examples)[names.MOVIE_INDEX]
        return {names.RATING_OUTPUT: outputs[names.RATING_OUTPUT],
                names.RETRIEVAL_OUTPUT: catalog_rank(outputs[names.RETRIEVAL_OUTPUT], index)}


def with_eval_signature(model_dir: str, work: str) -> str:
    """`model_dir` if it has evaluate_examples, else a copy that has it (under `work`)."""
    loaded = tf.saved_model.load(model_dir)
    if names.EVAL_SIGNATURE in loaded.signatures:
        return model_dir
    module = _WithRank(loaded)
    target = os.path.join(work, "with_rank")
    tf.saved_model.save(module, target, signatures={
        names.SERVING_SIGNATURE: loaded.signatures[names.SERVING_SIGNATURE],
        names.TRANSFORM_SIGNATURE: loaded.signatures[names.TRANSFORM_SIGNATURE],
        names.EVAL_SIGNATURE: module.evaluate_examples.get_concrete_function()})
    return target


def evaluate(model_dir: str, eval_config: tfma.EvalConfig, examples: str, output: str
             ) -> Dict[str, object]:
    """TFMA over `examples` (DirectRunner, this process): seconds and overall metrics."""
    shared = tfma.default_eval_shared_model(eval_saved_model_path=model_dir,
                                            eval_config=eval_config)
    started = time.perf_counter()
    tfma.run_model_analysis(eval_shared_model=shared, eval_config=eval_config,
                            data_location=examples, output_path=output)
    return {"seconds": round(time.perf_counter() - started, 1),
            "metrics": load_eval_metrics(output)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Trainer's Format-Serving folder")
    parser.add_argument("--examples", required=True, help="the eval split's files (a glob)")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    training = TrainingConfig()
    work = tempfile.mkdtemp(prefix="evaluator-cost-")
    current_model = with_eval_signature(args.model, work)
    result = {
        "former": evaluate(args.model, former_eval_config(training), args.examples,
                           os.path.join(work, "former")),
        "current": evaluate(current_model, make_eval_config(
            training, EvalThresholds(None, None, None, None), gate=False),
            args.examples, os.path.join(work, "current")),
    }
    result["speed-up"] = round(result["former"]["seconds"] / result["current"]["seconds"], 2)
    print(json.dumps(result, indent=1, sort_keys=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
