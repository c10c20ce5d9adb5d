"""Training steps in JAX: ``jax.value_and_grad`` and a jitted update.

``mlp_train_step(options, mode, adapter, arrays)`` returns a function that
takes one training step and returns ``(loss,)``: the ``mlp_train`` kind's
contract (:mod:`fwbench.kinds.mlp_train`), one module per framework as Keras 3
keeps ``backend/<framework>/``.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.adapters.base import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON


def mlp_train_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
    jax, jnp = adapter.jax, adapter.jnp
    batches = [(arrays[0][i], arrays[1][i]) for i in range(arrays[0].shape[0])]
    relu = options["activation"] == "relu"
    classification = options["task"] == "classification"
    rate, adam = options["learning_rate"], options["optimizer"] == "adam"

    def loss_fn(parameters, x, y):
        h = x
        for w, b in parameters[:-1]:
            h = jax.nn.relu(h @ w + b) if relu else jnp.tanh(h @ w + b)
        w, b = parameters[-1]
        logits = h @ w + b
        if classification:
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))
        return jnp.mean((logits - y) ** 2)

    def update(parameters, moments, t, x, y):
        loss, gradients = jax.value_and_grad(loss_fn)(parameters, x, y)
        if not adam:
            parameters = jax.tree.map(lambda p, g: p - rate * g, parameters, gradients)
            return loss, parameters, moments, t + 1
        t = t + 1
        m = jax.tree.map(lambda m, g: ADAM_BETA1 * m + (1 - ADAM_BETA1) * g, moments[0], gradients)
        v = jax.tree.map(lambda v, g: ADAM_BETA2 * v + (1 - ADAM_BETA2) * g * g, moments[1], gradients)
        correction1, correction2 = 1 - ADAM_BETA1**t, 1 - ADAM_BETA2**t
        parameters = jax.tree.map(
            lambda p, m, v: p - rate * (m / correction1) / (jnp.sqrt(v / correction2) + ADAM_EPSILON),
            parameters, m, v)
        return loss, parameters, (m, v), t

    if mode == "jit":
        # Donating the old parameters lets XLA update in place; the CPU backend cannot use it.
        on_cpu = all(device.platform == "cpu" for device in arrays[2].devices())
        update = jax.jit(update, donate_argnums=() if on_cpu else (0, 1))
    parameters = [(arrays[i], arrays[i + 1]) for i in range(2, len(arrays), 2)]
    zeros = jax.tree.map(jnp.zeros_like, parameters)
    # The step count has the parameters' dtype, so bias corrections never promote them.
    state = {"parameters": parameters, "moments": (zeros, jax.tree.map(jnp.zeros_like, parameters)),
             "t": jnp.asarray(0, dtype=arrays[2].dtype), "step": 0}

    def step():
        x, y = batches[state["step"] % len(batches)]
        loss, state["parameters"], state["moments"], state["t"] = update(
            state["parameters"], state["moments"], state["t"], x, y)
        state["step"] += 1
        return loss, state["parameters"]

    return step
