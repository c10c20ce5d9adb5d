"""Training steps in NumPy: hand-written forward, backprop and optimizer (also the float64 reference).

``mlp_train_step(options, mode, adapter, arrays)`` returns a function that
takes one training step and returns ``(loss,)``: the ``mlp_train`` kind's
contract (:mod:`fwbench.kinds.mlp_train`), one module per framework as Keras 3
keeps ``backend/<framework>/``.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.adapters.base import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON


class NumpyTrainer:
    """Hand-written forward, backprop and optimizer in NumPy; the float64 reference too."""

    def __init__(self, options: dict[str, Any], arrays: list[Any]) -> None:
        import numpy as np

        self.np = np
        self.options = options
        self.features, self.targets = arrays[0], arrays[1]
        self.parameters = [array.copy() for array in arrays[2:]]
        self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in self.parameters]
        self.t = 0

    def step(self) -> Any:
        np = self.np
        index = self.t % len(self.features)
        x, y = self.features[index], self.targets[index]
        weights, biases = self.parameters[0::2], self.parameters[1::2]
        activations, pre = [x], []
        for layer, (w, b) in enumerate(zip(weights, biases)):
            z = activations[-1] @ w + b
            pre.append(z)
            if layer < len(weights) - 1:
                activations.append(np.maximum(z, 0) if self.options["activation"] == "relu" else np.tanh(z))
        logits = pre[-1]
        if self.options["task"] == "classification":
            shifted = logits - logits.max(axis=-1, keepdims=True)
            log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            loss = -(y * log_probabilities).sum(axis=-1).mean()
            delta = (np.exp(log_probabilities) - y) / x.shape[0]
        else:
            loss = ((logits - y) ** 2).mean()
            delta = 2 * (logits - y) / logits.size
        gradients: list[Any] = [None] * len(self.parameters)
        for layer in range(len(weights) - 1, -1, -1):
            gradients[2 * layer] = activations[layer].T @ delta
            gradients[2 * layer + 1] = delta.sum(axis=0)
            if layer:
                back = delta @ weights[layer].T
                if self.options["activation"] == "relu":
                    delta = back * (pre[layer - 1] > 0)
                else:
                    delta = back * (1 - activations[layer] ** 2)
        self.t += 1
        self._update(gradients)
        return loss

    def _update(self, gradients: list[Any]) -> None:
        np, rate = self.np, self.options["learning_rate"]
        if self.options["optimizer"] == "sgd":
            for parameter, gradient in zip(self.parameters, gradients):
                parameter -= rate * gradient
            return
        correction1 = 1 - ADAM_BETA1**self.t
        correction2 = 1 - ADAM_BETA2**self.t
        for parameter, gradient, (m, v) in zip(self.parameters, gradients, self.moments):
            m *= ADAM_BETA1
            m += (1 - ADAM_BETA1) * gradient
            v *= ADAM_BETA2
            v += (1 - ADAM_BETA2) * gradient * gradient
            parameter -= rate * (m / correction1) / (np.sqrt(v / correction2) + ADAM_EPSILON)


def mlp_train_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
    trainer = NumpyTrainer(options, arrays)
    return lambda: (trainer.step(),)
