"""The ``mlp_train`` kind: one training step of a multilayer perceptron, per call.

Example::

    - name: mlp_small
      kind: mlp_train
      layers: [64, 128, 10]        # input, hidden..., output widths (ints or sweep symbols)
      activation: relu             # relu | tanh
      batch: b                     # int or sweep symbol
      task: classification         # classification (softmax cross-entropy) | regression (MSE)
      optimizer: adam              # sgd | adam (beta1 0.9, beta2 0.999, eps 1e-8)
      learning_rate: 0.001
      steps: 10                    # the loss trajectory checked against NumPy float64
      num_batches: 4               # distinct batches, used in order, cyclically
      sweep: {b: [32, 256]}

Every framework starts from the same weights and sees the same batches in the
same order: both are made once in NumPy from the seed and handed to every
worker (``inputs_sha256`` in each row proves it).  The maths is identical:
the same loss, and SGD or Adam written out exactly (``torch.optim`` with the
same hyper-parameters follows the same formula).

Idiomatic code per framework: NumPy with hand-written backprop (also the
float64 reference), JAX with ``jax.value_and_grad`` and a jitted update,
PyTorch with ``torch.nn`` modules, autograd and ``torch.optim`` (``compile``
compiles the model and the optimizer step), TensorFlow with
``tf.GradientTape`` and ``tf.Variable``s (``function``, ``xla``).

Correctness: the losses of the first ``steps`` steps from the initial weights
must match the float64 reference trajectory within a dtype-aware relative
tolerance.  Each timed call is one more step; the trajectory is the losses of
the first ``steps`` calls (the first call, warm-up and samples), read back
after timing.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from fwbench.kinds.base import ITEMSIZES, Cost, Kind, Reference, Verification
from fwbench.spec.fields import FieldReader, check_sweep_used, take_size

ACTIVATIONS = ("relu", "tanh")
TASKS = ("classification", "regression")
OPTIMIZERS = ("sgd", "adam")
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
LOSS_TOLERANCES = {"float16": 5e-2, "bfloat16": 1e-1, "float32": 1e-3, "float64": 1e-9}


class MLPTrainKind(Kind):
    NAME = "mlp_train"
    FIELDS = ("layers", "activation", "batch", "task", "optimizer", "learning_rate", "steps",
              "num_batches", "dtype")
    REQUIRED_FIELDS = ("layers", "batch")

    # ------------------------------------------------------------------ spec

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        layers = reader.raw("layers")
        if not isinstance(layers, list) or len(layers) < 2:
            raise reader.error("layers", f"got {layers!r}, expected a list of at least two widths "
                                         "(input, ..., output)")
        used = {take_size(reader, "batch", sweep)}
        for width in layers:
            used.add(take_size(FieldReader({"layers": width}, file=reader.file, workload=reader.workload),
                               "layers", sweep))
        check_sweep_used(reader, sweep, used, "'layers' or 'batch'")
        return {
            "layers": layers,
            "batch": reader.raw("batch"),
            "activation": reader.take_choice("activation", ACTIVATIONS, "relu"),
            "task": reader.take_choice("task", TASKS, "classification"),
            "optimizer": reader.take_choice("optimizer", OPTIMIZERS, "sgd"),
            "learning_rate": reader.take_float("learning_rate", 0.01),
            "steps": reader.take_int("steps", 10, minimum=1, maximum=1000),
            "num_batches": reader.take_int("num_batches", 4, minimum=1, maximum=1000),
            "dtype": reader.take_choice("dtype", ("float32", "float64"), "float32"),
        }

    @property
    def dtype(self) -> str:
        return self.options["dtype"]

    def widths(self, params: dict[str, int]) -> list[int]:
        return [params[w] if isinstance(w, str) else w for w in self.options["layers"]]

    def batch(self, params: dict[str, int]) -> int:
        batch = self.options["batch"]
        return params[batch] if isinstance(batch, str) else batch

    def tolerance(self, params: dict[str, int]) -> float:
        if self.workload.tolerance is not None:
            return self.workload.tolerance
        if self.matmul_precision == "high" and self.dtype == "float32":
            return max(LOSS_TOLERANCES[self.dtype], HIGH_PRECISION_TOLERANCE)
        return LOSS_TOLERANCES[self.dtype]

    def cost(self, params: dict[str, int]) -> Cost:
        """Per step: 6*B*sum(in*out) matmul FLOPs (forward, and two products backward) plus the
        optimizer's per-parameter arithmetic; bytes: the batch read once, the parameters (and Adam's
        two moments) read and written once."""
        widths, batch, itemsize = self.widths(params), self.batch(params), ITEMSIZES[self.dtype]
        weights = sum(a * b for a, b in zip(widths, widths[1:]))
        parameters = weights + sum(widths[1:])
        per_parameter = 12 if self.options["optimizer"] == "adam" else 2
        state = 3 if self.options["optimizer"] == "adam" else 1
        batch_bytes = batch * (widths[0] + widths[-1]) * itemsize
        fused = batch_bytes + 2 * state * parameters * itemsize
        activations = batch * sum(widths[1:]) * itemsize
        data = self.options["num_batches"] * batch * (widths[0] + widths[-1])
        return Cost(
            flops=6 * batch * weights + per_parameter * parameters,
            fused_bytes=fused,
            unfused_bytes=fused + 4 * activations,
            memory_bytes=(data + parameters * (2 + 2 * state)) * (itemsize + 8) + 8 * activations * 8,
        )

    def describe(self, params: dict[str, int]) -> str:
        widths = "-".join(str(w) for w in self.widths(params))
        return (self.workload.description
                or f"MLP {widths}, batch {self.batch(params)}, {self.options['optimizer']}")

    # ------------------------------------------------------------------ data

    def make_inputs(self, params: dict[str, int], seed: int) -> list[Any]:
        """``[X, Y, W1, b1, W2, b2, ...]``: X is (num_batches, batch, in), Y (num_batches, batch, out)."""
        import numpy as np

        widths, batch, count = self.widths(params), self.batch(params), self.options["num_batches"]
        generator = np.random.default_rng(np.random.SeedSequence([seed, 0]))
        features = generator.standard_normal((count, batch, widths[0]), dtype=np.float32)
        teacher = generator.standard_normal((widths[0], widths[-1]), dtype=np.float32) / np.float32(
            math.sqrt(widths[0]))
        scores = features @ teacher
        if self.options["task"] == "classification":
            targets = np.eye(widths[-1], dtype=np.float32)[np.argmax(scores, axis=-1)]
        else:
            targets = np.tanh(scores) + np.float32(0.1) * generator.standard_normal(scores.shape, dtype=np.float32)
        arrays = [features, targets.astype(np.float32)]
        for fan_in, fan_out in zip(widths, widths[1:]):
            scale = np.float32(math.sqrt(2.0 / fan_in))
            arrays.append(generator.standard_normal((fan_in, fan_out), dtype=np.float32) * scale)
            arrays.append(np.zeros(fan_out, dtype=np.float32))
        return [np.ascontiguousarray(a.astype(self.dtype, copy=False)) for a in arrays]

    def reference(self, params: dict[str, int], inputs: list[Any]) -> Reference:
        import numpy as np

        trainer = NumpyTrainer(self.options, [np.asarray(a, dtype=np.float64) for a in inputs])
        losses = [float(trainer.step()) for _ in range(self.options["steps"])]
        return Reference(np.asarray(losses, dtype=np.float64), 1.0)

    # ------------------------------------------------------------------ implementations

    def build(self, params: dict[str, int], framework: str, mode: str, adapter: Any,
              device_inputs: list[Any]) -> Callable[[], Any]:
        builders = {"numpy": _numpy_step, "jax": _jax_step, "torch": _torch_step, "tensorflow": _tensorflow_step}
        step = builders[framework](self.options, mode, adapter, device_inputs)
        return _RecordingStep(step, self.options["steps"], adapter)

    def check(self, params: dict[str, int], adapter: Any, call: Callable[[], Any], last_output: Any,
              reference: Reference) -> Verification:
        losses = call.trajectory()
        expected = reference.value
        tolerance = self.tolerance(params)
        errors = [abs(got - want) / max(abs(want), 1e-12) for got, want in zip(losses, expected)]
        worst = max(errors)
        finite = all(math.isfinite(loss) for loss in losses)
        detail = "" if finite else "the loss became non-finite"
        return Verification(max(abs(g - w) for g, w in zip(losses, expected)), worst, tolerance,
                            finite and worst <= tolerance, detail)

    def extra_fields(self, params: dict[str, int], call: Callable[[], Any]) -> dict[str, Any]:
        return {"loss_trajectory": call.trajectory(), "final_loss": call.last_loss(),
                "steps_taken": call.count, "batch_size": self.batch(params)}

    def samples_per_call(self, params: dict[str, int]) -> int:
        return self.batch(params)


class _RecordingStep:
    """Calls ``step`` and keeps the loss (still on the device) of the first ``keep`` calls."""

    def __init__(self, step: Callable[[], Any], keep: int, adapter: Any) -> None:
        self.step, self.keep, self.adapter = step, keep, adapter
        self.count = 0
        self.losses: list[Any] = []
        self.last: Any = None

    def __call__(self) -> Any:
        output = self.step()
        if self.count < self.keep:
            self.losses.append(output[0])
        self.count += 1
        self.last = output
        return output

    def trajectory(self) -> list[float]:
        while self.count < self.keep:
            self()
        return [float(self.adapter.to_host(loss)) for loss in self.losses]

    def last_loss(self) -> float | None:
        return None if self.last is None else float(self.adapter.to_host(self.last[0]))


# ---------------------------------------------------------------------- NumPy


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


def _numpy_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
    trainer = NumpyTrainer(options, arrays)
    return lambda: (trainer.step(),)


# ---------------------------------------------------------------------- JAX


def _jax_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
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


# ---------------------------------------------------------------------- PyTorch


def _torch_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
    torch = adapter.torch
    nn = torch.nn
    batches = [(arrays[0][i], arrays[1][i]) for i in range(arrays[0].shape[0])]
    layers: list[Any] = []
    weights = arrays[2::2]
    for index, (w, b) in enumerate(zip(weights, arrays[3::2])):
        linear = nn.Linear(w.shape[0], w.shape[1], device=w.device, dtype=w.dtype)
        with torch.no_grad():
            linear.weight.copy_(w.T)  # nn.Linear stores (out, in)
            linear.bias.copy_(b)
        layers.append(linear)
        if index < len(weights) - 1:
            layers.append(nn.ReLU() if options["activation"] == "relu" else nn.Tanh())
    model = nn.Sequential(*layers)
    loss_fn = nn.CrossEntropyLoss() if options["task"] == "classification" else nn.MSELoss()
    if options["optimizer"] == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=options["learning_rate"],
                                     betas=(ADAM_BETA1, ADAM_BETA2), eps=ADAM_EPSILON)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=options["learning_rate"])
    forward, optimizer_step = model, optimizer.step
    if mode == "compile":
        torch._dynamo.reset()
        forward = torch.compile(model)
        optimizer_step = torch.compile(optimizer.step)
    counter = {"step": 0}

    def step():
        x, y = batches[counter["step"] % len(batches)]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(x), y)
        loss.backward()
        optimizer_step()
        counter["step"] += 1
        return (loss.detach(),)

    return step


# ---------------------------------------------------------------------- TensorFlow


def _tensorflow_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
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
