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

Idiomatic code per framework, each in ``fwbench/adapters/<framework>/training.py``:
NumPy with hand-written backprop (also the float64 reference), JAX with
``jax.value_and_grad`` and a jitted update, PyTorch with ``torch.nn`` modules,
autograd and ``torch.optim`` (``compile`` compiles the model and the optimizer
step), TensorFlow with ``tf.GradientTape`` and ``tf.Variable``s (``function``,
``xla``).

Correctness: the losses of the first ``steps`` steps from the initial weights
must match the float64 reference trajectory within a dtype-aware relative
tolerance.  Each timed call is one more step; the trajectory is the losses of
the first ``steps`` calls (the first call, warm-up and samples), read back
after timing.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable

from fwbench.kinds.base import HIGH_PRECISION_TOLERANCE, ITEMSIZES, Cost, Kind, Reference, Verification
from fwbench.kinds.fields import FieldReader, check_sweep_used, take_size

ACTIVATIONS = ("relu", "tanh")
TASKS = ("classification", "regression")
OPTIMIZERS = ("sgd", "adam")
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

        from fwbench.adapters.numpy.training import NumpyTrainer

        trainer = NumpyTrainer(self.options, [np.asarray(a, dtype=np.float64) for a in inputs])
        losses = [float(trainer.step()) for _ in range(self.options["steps"])]
        return Reference(np.asarray(losses, dtype=np.float64), 1.0)

    # ------------------------------------------------------------------ implementations

    def build(self, params: dict[str, int], framework: str, mode: str, adapter: Any,
              device_inputs: list[Any]) -> Callable[[], Any]:
        training = importlib.import_module(f"fwbench.adapters.{framework}.training")
        step = training.mlp_train_step(self.options, mode, adapter, device_inputs)
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


