"""Training steps in TensorFlow: ``tf.GradientTape`` and ``tf.Variable`` s (``function``, ``xla``).

``mlp_train_step(options, mode, adapter, arrays)`` returns a function that
takes one training step and returns ``(loss,)``: the ``mlp_train`` kind's
contract (:mod:`fwbench.kinds.mlp_train`), one module per framework as Keras 3
keeps ``backend/<framework>/``.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.adapters.base import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON


def mlp_train_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
    tf = adapter.tf
    batches = [(arrays[0][i], arrays[1][i]) for i in range(arrays[0].shape[0])]
    variables = [tf.Variable(array) for array in arrays[2:]]
    moments = [(tf.Variable(tf.zeros_like(a)), tf.Variable(tf.zeros_like(a))) for a in arrays[2:]]
    t = tf.Variable(0.0, dtype=arrays[2].dtype)
    relu = options["activation"] == "relu"
    classification = options["task"] == "classification"
    rate, adam = options["learning_rate"], options["optimizer"] == "adam"

    def train_step(x, y):
        with tf.GradientTape() as tape:
            h = x
            for w, b in zip(variables[0:-2:2], variables[1:-2:2]):
                h = tf.nn.relu(h @ w + b) if relu else tf.math.tanh(h @ w + b)
            logits = h @ variables[-2] + variables[-1]
            if classification:
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
            else:
                loss = tf.reduce_mean(tf.square(logits - y))
        gradients = tape.gradient(loss, variables)
        if not adam:
            for variable, gradient in zip(variables, gradients):
                variable.assign_sub(rate * gradient)
            return loss
        t.assign_add(1.0)
        correction1, correction2 = 1 - ADAM_BETA1**t, 1 - ADAM_BETA2**t
        for variable, gradient, (m, v) in zip(variables, gradients, moments):
            m.assign(ADAM_BETA1 * m + (1 - ADAM_BETA1) * gradient)
            v.assign(ADAM_BETA2 * v + (1 - ADAM_BETA2) * gradient * gradient)
            variable.assign_sub(rate * (m / correction1) / (tf.sqrt(v / correction2) + ADAM_EPSILON))
        return loss

    if mode == "function":
        train_step = tf.function(train_step)
    elif mode == "xla":
        train_step = tf.function(train_step, jit_compile=True)
    counter = {"step": 0}

    def step():
        x, y = batches[counter["step"] % len(batches)]
        counter["step"] += 1
        return (train_step(x, y),)

    return step
