"""An exponential moving average of the trained weights, validated and kept instead of them.

Adam at a small batch leaves the weights jittering around a good point (ML-100K's validation
RMSE moves by ±0.005 from one epoch to the next, docs/experiments.md); the average of the
recent steps' weights sits nearer its middle. This is Polyak averaging as
`tf.train.ExponentialMovingAverage` does it, as a Keras callback: training steps move the raw
weights, while validation, early stopping's choice of epoch and the weights a fit ends with
(the exported ones) are the average's.
"""

from typing import List

import tensorflow as tf


class WeightAverage(tf.keras.callbacks.Callback):
    """Keeps `average = decay * average + (1 - decay) * weights` after every training step, with
    the decay ramped up as TF's ExponentialMovingAverage does for its first steps
    (min(decay, (1 + n) / (10 + n))), so the start's random weights fade out fast.

    The model holds the average from the start of each epoch's validation (or, without one,
    from the epoch's end) until the next epoch begins, when the raw weights come back for
    training: the callbacks after this one (early stopping's restore_best_weights, TensorBoard)
    see the average, and so does whoever reads the model after `fit`. Only the trainable
    variables are averaged; the optimizer's state follows the raw weights.
    """

    def __init__(self, decay: float) -> None:
        super().__init__()
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self._supports_tf_logs = True  # reads no logs: no per-step copy to NumPy
        self._decay = decay
        self._weights: List[tf.Variable] = []
        self._averages: List[tf.Variable] = []
        self._raw: List[tf.Variable] = []
        self._steps = None
        self._holds_average = False
        self._update = self._swap_in = self._swap_out = None

    def on_train_begin(self, logs=None) -> None:
        self._weights = list(self.model.trainable_variables)
        with self.model.distribute_strategy.scope():
            self._averages = [tf.Variable(w, trainable=False) for w in self._weights]
            self._raw = [tf.Variable(w, trainable=False) for w in self._weights]
            self._steps = tf.Variable(0.0, trainable=False)
        self._holds_average = False
        # Graphs, not one eager op per variable per step.
        self._update = tf.function(self._update_averages)
        self._swap_in = tf.function(self._hold_averages)
        self._swap_out = tf.function(self._restore_raw)

    def _update_averages(self) -> None:
        self._steps.assign_add(1.0)
        decay = tf.minimum(self._decay, (1.0 + self._steps) / (10.0 + self._steps))
        for average, weight in zip(self._averages, self._weights):
            average.assign_sub((1.0 - decay) * (average - weight))

    def _hold_averages(self) -> None:
        for raw, average, weight in zip(self._raw, self._averages, self._weights):
            raw.assign(weight)
            weight.assign(average)

    def _restore_raw(self) -> None:
        for raw, weight in zip(self._raw, self._weights):
            weight.assign(raw)

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._update()

    def on_test_begin(self, logs=None) -> None:  # fit's validation
        self._hold_average()

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # an epoch without validation
        self._hold_average()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if self._holds_average:
            self._swap_out()
            self._holds_average = False

    def _hold_average(self) -> None:
        if not self._holds_average:
            self._swap_in()
            self._holds_average = True
