"""The `DoNotConvert('tf_keras')` rule: it pins AutoGraph's private rule table, so a
TensorFlow upgrade that moves it fails here instead of silently slowing training."""

import tensorflow as tf
from tensorflow.python.autograph.core import config as autograph_config
from tensorflow.python.autograph.impl import conversion

from models.keras_autograph import KERAS_PACKAGE, skip_keras_conversion
from models.model import MovieLensModel


def _keras_rules():
    return [rule for rule in autograph_config.CONVERSION_RULES
            if isinstance(rule, autograph_config.DoNotConvert) and rule.matches(KERAS_PACKAGE)]


def test_the_rule_table_is_where_the_rule_goes():
    # The table and the rule class this module relies on; the rule it mirrors is there.
    assert isinstance(autograph_config.CONVERSION_RULES, tuple)
    assert any(isinstance(rule, autograph_config.DoNotConvert) and rule.matches("keras")
               for rule in autograph_config.CONVERSION_RULES)
    assert tf.keras.Model.__module__.startswith(KERAS_PACKAGE + ".")  # Keras 2 is tf_keras


def test_keras_code_is_not_converted_and_ours_still_is():
    skip_keras_conversion()
    skip_keras_conversion()  # idempotent
    assert len(_keras_rules()) == 1
    assert autograph_config.CONVERSION_RULES[0] is _keras_rules()[0]
    # AutoGraph reads the table: Keras's training machinery is now left alone...
    assert conversion.is_allowlisted(tf.keras.Model.make_train_function)
    assert conversion.is_allowlisted(tf.keras.optimizers.Adagrad.apply_gradients)
    # ...while project code (and so TFRS's, a package of its own) is still converted.
    assert not conversion.is_allowlisted(MovieLensModel.compute_loss)
