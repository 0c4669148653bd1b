"""Keeps AutoGraph out of Keras 2's own code (tf_keras), which makes the first fit/evaluate
of a process much faster: first training step 26 s → 5 s; first epoch of the seed preset on
ML-100K 69 s → 38 s on 2 busy cores, with the same metrics (later epochs unchanged).

TensorFlow 2.16's AutoGraph skips modules named `keras` (a `DoNotConvert('keras')` rule), but
with TF_USE_LEGACY_KERAS=1 Keras 2 is the package `tf_keras`, which no rule names: the first
`fit`, `evaluate` or `predict` then converts Keras's training machinery (optimizer, metrics,
losses, data adapter) source file by source file. Keras's code is plain TensorFlow and needs
no conversion. Layers' `call`s (TFRS's included, whose `Retrieval.call` needs AutoGraph) are
still converted: Keras converts each `call` itself (`tf_convert` in `Layer.__call__`), and
`tf.function`'s top-level function always is.

There is no public API for this: the rule goes in front of AutoGraph's private rule table,
`tensorflow.python.autograph.core.config.CONVERSION_RULES`, which AutoGraph reads on every
call it has not cached. tests/test_keras_autograph.py fails if the table moves.
"""

from tensorflow.python.autograph.core import config as autograph_config

KERAS_PACKAGE = "tf_keras"


def _is_rule(rule: autograph_config.config_lib.Rule) -> bool:
    return isinstance(rule, autograph_config.DoNotConvert) and rule.matches(KERAS_PACKAGE)


def skip_keras_conversion() -> None:
    """Puts `DoNotConvert('tf_keras')` first in AutoGraph's rules, once per process.

    Call it before the first fit/evaluate: AutoGraph caches its decisions per function.
    """
    rules = autograph_config.CONVERSION_RULES
    if not any(_is_rule(rule) for rule in rules):
        autograph_config.CONVERSION_RULES = (
            autograph_config.DoNotConvert(KERAS_PACKAGE),) + tuple(rules)
