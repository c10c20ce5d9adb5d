"""The ``keras`` kind: a Keras 3 model's training step (``fit``) or prediction (``predict``) on the backend of
each worker, the method of the Keras 3 benchmark table with fwbench's rigour.

Example::

    - name: encoder_fit
      kind: keras
      model: transformer_encoder   # transformer_encoder | mobilenet_v3_small | mobilenet_v3_large | resnet50
      task: fit                    # fit (one train_on_batch a call) | predict (one predict_on_batch a call)
      batch: b                     # int or sweep symbol
      input_size: 32               # image side (applications) or sequence length (encoder); int or symbol
      classes: 10
      width: 64                    # encoder only: model width, layers (depth) and attention heads
      depth: 2
      heads: 4
      optimizer: sgd               # sgd | adam
      learning_rate: 0.01
      sweep: {b: [16]}

Every backend runs in its own worker, with ``KERAS_BACKEND`` set and Keras
imported once before the cells fork (:meth:`KerasKind.prepare_worker`): jax
(modes ``eager``: ``run_eagerly=True``; ``jit``: ``jit_compile=True``),
tensorflow (``eager``; ``function``: ``jit_compile=False``; ``xla``:
``jit_compile=True``), torch (``eager``: ``jit_compile=False``;
``compile``: ``jit_compile=True``, torch.compile) and numpy (``eager``,
predict only: the numpy backend has no gradients).

The same model everywhere: the architecture is built with ``weights=None``
(never downloaded: a spec asking for other weights is refused), and its
initial weights are drawn once from the seed in NumPy, in the order of
``model.weights`` (kernels ``N(0, 1/fan_in)``, scales and variances 1, the
rest 0) and handed to every worker with the batch (``inputs_sha256`` covers
them).  Dropout is off (``dropout_rate=0``), so a training step is
deterministic up to rounding.  Float32 throughout, the run's matmul precision.

Checks: ``predict`` against the numpy backend's prediction from the same
weights; ``fit`` the first step's loss (the forward pass before the update)
against the numpy backend's training-mode forward loss, and every loss
finite.  The numpy backend's figures are made in a separate process
(:mod:`fwbench.kinds.keras_reference`) and cached for the run.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

from fwbench.kinds.base import HIGH_PRECISION_TOLERANCE, Cost, Kind, Reference, Verification
from fwbench.kinds.fields import FieldReader, check_sweep_used, take_size
from fwbench.kinds.keras_reference import build_model, numpy_backend_reference

MODELS = ("transformer_encoder", "mobilenet_v3_small", "mobilenet_v3_large", "resnet50")
TASKS = ("fit", "predict")
OPTIMIZERS = ("sgd", "adam")
# Published per-image forward FLOPs at 224x224 (multiply-adds x 2) and parameter counts, for the cost estimate.
APPLICATION_COSTS = {"mobilenet_v3_small": (0.12e9, 2.5e6), "mobilenet_v3_large": (0.44e9, 5.5e6),
                     "resnet50": (8.2e9, 25.6e6)}
TOLERANCE = 1e-3  # float32 models: relative difference from the numpy backend allowed (outputs and first loss)
STEPS_KEPT = 5  # losses of the first steps recorded (loss_trajectory)
MODE_SETTINGS = {
    ("jax", "eager"): {"run_eagerly": True, "jit_compile": False},
    ("jax", "jit"): {"run_eagerly": False, "jit_compile": True},
    ("tensorflow", "eager"): {"run_eagerly": True, "jit_compile": False},
    ("tensorflow", "function"): {"run_eagerly": False, "jit_compile": False},
    ("tensorflow", "xla"): {"run_eagerly": False, "jit_compile": True},
    ("torch", "eager"): {"run_eagerly": False, "jit_compile": False},
    ("torch", "compile"): {"run_eagerly": False, "jit_compile": True},
    ("numpy", "eager"): {"run_eagerly": False, "jit_compile": False},
}


def initial_weights(model: Any, generator: Any) -> list[Any]:
    """One array per ``model.weights`` entry, drawn from ``generator`` in that order."""
    import numpy as np

    arrays = []
    for variable in model.weights:
        shape, path = tuple(variable.shape), variable.path
        if "gamma" in path or "moving_variance" in path:
            arrays.append(np.ones(shape, np.float32))
        elif len(shape) <= 1:
            arrays.append(np.zeros(shape, np.float32))
        else:
            fan_in = int(np.prod(shape[:-1]))
            arrays.append((generator.standard_normal(shape, dtype=np.float32) / np.float32(math.sqrt(fan_in))))
    return arrays


def make_optimizer(keras: Any, options: dict[str, Any]) -> Any:
    if options["optimizer"] == "adam":
        return keras.optimizers.Adam(learning_rate=options["learning_rate"])
    return keras.optimizers.SGD(learning_rate=options["learning_rate"])


class KerasKind(Kind):
    NAME = "keras"
    FIELDS = ("model", "task", "batch", "input_size", "classes", "weights", "optimizer", "learning_rate",
              "width", "depth", "heads")
    REQUIRED_FIELDS = ("model", "batch")
    OWN_WORKER = True

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        weights = reader.raw("weights", None)
        if weights not in (None, "none"):
            raise reader.error("weights", f"got {weights!r}, but fwbench never downloads weights: models are "
                                          "built with weights=None and initialised from the seed",
                               hint="remove 'weights' (or set it to null)")
        model = reader.take_choice("model", MODELS)
        used = {take_size(reader, "batch", sweep)}
        if "input_size" in reader.mapping:
            used.add(take_size(reader, "input_size", sweep))
        check_sweep_used(reader, sweep, used, "'batch' or 'input_size'")
        options = {
            "model": model,
            "task": reader.take_choice("task", TASKS, "fit"),
            "batch": reader.raw("batch"),
            "input_size": reader.raw("input_size", 32 if model == "transformer_encoder" else 64),
            "classes": reader.take_int("classes", 10, minimum=2, maximum=100_000),
            "optimizer": reader.take_choice("optimizer", OPTIMIZERS, "sgd"),
            "learning_rate": reader.take_float("learning_rate", 0.01),
            "width": reader.take_int("width", 64, minimum=8, maximum=8192),
            "depth": reader.take_int("depth", 2, minimum=1, maximum=64),
            "heads": reader.take_int("heads", 4, minimum=1, maximum=128),
        }
        if options["width"] % options["heads"]:
            raise reader.error("heads", f"got {options['heads']}, which does not divide the width "
                                        f"{options['width']}", hint="choose heads that divide width")
        return options

    # ------------------------------------------------------------------ sizes and cost

    @property
    def dtype(self) -> str:
        return "float32"

    def _value(self, key: str, params: dict[str, int]) -> int:
        value = self.options[key]
        return params[value] if isinstance(value, str) else value

    def batch(self, params: dict[str, int]) -> int:
        return self._value("batch", params)

    def size(self, params: dict[str, int]) -> int:
        return self._value("input_size", params)

    def input_shape(self, params: dict[str, int]) -> tuple[int, ...]:
        if self.options["model"] == "transformer_encoder":
            return (self.batch(params), self.size(params), self.options["width"])
        return (self.batch(params), self.size(params), self.size(params), 3)

    def cost(self, params: dict[str, int]) -> Cost:
        """An estimate: published per-image FLOPs scaled by the image area (the encoder's from its layers);
        a training step counts three forward passes."""
        batch, size, options = self.batch(params), self.size(params), self.options
        if options["model"] == "transformer_encoder":
            width = options["width"]
            per_layer = 2 * size * (4 * width * width + 4 * width * width) + 4 * size * size * width
            flops, parameters = options["depth"] * per_layer, options["depth"] * 8 * width * width  # 4w² + 2·w·2w
        else:
            per_image, parameters = APPLICATION_COSTS[options["model"]]
            flops = per_image * (size / 224) ** 2
        flops *= batch * (3 if options["task"] == "fit" else 1)
        data = 4 * math.prod(self.input_shape(params)) + 4 * batch * options["classes"]
        fused = int(4 * parameters * (3 if options["task"] == "fit" else 1) + data)
        return Cost(flops=int(flops), fused_bytes=fused, unfused_bytes=fused,
                    memory_bytes=int(16 * parameters + 64 * data + 2**28))

    def describe(self, params: dict[str, int]) -> str:
        options = self.options
        what = (f"encoder {options['depth']}x{options['width']}, {options['heads']} heads, sequence "
                f"{self.size(params)}" if options["model"] == "transformer_encoder"
                else f"{options['model']} {self.size(params)}x{self.size(params)}")
        return self.workload.description or f"Keras {what}, batch {self.batch(params)}, {options['task']}"

    def samples_per_call(self, params: dict[str, int]) -> int:
        return self.batch(params)

    def skip(self, params: dict[str, int], framework: str, mode: str, device: str) -> str | None:
        if framework == "numpy" and self.options["task"] == "fit":
            return "the Keras numpy backend cannot train (it has no gradients): it runs predict only"
        if (framework, mode) not in MODE_SETTINGS:
            return f"mode unsupported: Keras on {framework} has no mode {mode}"
        return None

    def tolerance(self, params: dict[str, int]) -> float:
        if self.workload.tolerance is not None:
            return self.workload.tolerance
        return max(TOLERANCE, HIGH_PRECISION_TOLERANCE) if self.matmul_precision == "high" else TOLERANCE

    # ------------------------------------------------------------------ the worker's side

    @classmethod
    def prepare_worker(cls, framework: str) -> dict[str, Any]:
        os.environ["KERAS_BACKEND"] = framework
        import keras

        return {"keras": keras.__version__, "keras_backend": keras.backend.backend()}

    def _model(self, params: dict[str, int]) -> Any:
        import keras

        key = tuple(sorted(params.items()))
        cache = self.__dict__.setdefault("_models", {})
        if key not in cache:
            cache[key] = build_model(keras, self.options, self.batch(params), self.size(params))
        return cache[key]

    def make_inputs(self, params: dict[str, int], seed: int) -> list[Any]:
        """The batch (inputs, one-hot labels), then the model's initial weights in ``model.weights`` order."""
        import numpy as np

        generator = np.random.default_rng(np.random.SeedSequence([seed, 0]))
        x = generator.standard_normal(self.input_shape(params), dtype=np.float32)
        y = np.eye(self.options["classes"], dtype=np.float32)[
            generator.integers(0, self.options["classes"], self.batch(params))]
        return [x, y, *initial_weights(self._model(params), generator)]

    def build(self, params: dict[str, int], framework: str, mode: str, adapter: Any,
              device_inputs: list[Any]) -> Callable[[], Any]:
        import keras
        import numpy as np

        model = self._model(params)
        model.set_weights([np.asarray(adapter.to_host(array)) for array in device_inputs[2:]])
        model.compile(optimizer=make_optimizer(keras, self.options), loss="categorical_crossentropy",
                      **MODE_SETTINGS[(framework, mode)])
        x, y = device_inputs[0], device_inputs[1]
        if self.options["task"] == "predict":
            return lambda: model.predict_on_batch(x)
        return _RecordingFit(lambda: model.train_on_batch(x, y))

    def reference(self, params: dict[str, int], inputs: list[Any]) -> Reference:
        """The numpy backend's prediction, or its training-mode forward loss, from a process of its own."""
        value = numpy_backend_reference(self.options, self.batch(params), self.size(params), inputs)
        import numpy as np

        return Reference(value, float(np.max(np.abs(value))) or 1.0)

    def check(self, params: dict[str, int], adapter: Any, call: Callable[[], Any], last_output: Any,
              reference: Reference) -> Verification:
        if self.options["task"] == "predict":  # predict_on_batch returns host arrays in every backend
            import numpy as np

            return self.verify(np.asarray(last_output), reference, params)
        losses, expected = call.losses, float(reference.value.reshape(-1)[0])
        tolerance = self.tolerance(params)
        if not losses or not all(math.isfinite(loss) for loss in losses):
            return Verification(math.inf, math.inf, tolerance, False, "a loss was not finite")
        error = abs(losses[0] - expected)
        relative = error / max(abs(expected), 1e-12)
        return Verification(error, relative, tolerance, relative <= tolerance,
                            "" if relative <= tolerance else
                            f"first loss {losses[0]:.6g} against the numpy backend's {expected:.6g}")

    def extra_fields(self, params: dict[str, int], call: Callable[[], Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"batch_size": self.batch(params)}
        if self.options["task"] == "fit":
            fields.update(loss_trajectory=call.losses, final_loss=call.last, steps_taken=call.count)
        return fields


class _RecordingFit:
    """One ``train_on_batch`` a call; keeps the losses of the first steps (``train_on_batch`` returns the
    loss of the forward pass before the update, as a host number: the call is synchronous)."""

    def __init__(self, step: Callable[[], Any]) -> None:
        self.step, self.count, self.losses, self.last = step, 0, [], None

    def __call__(self) -> Any:
        loss = self.step()
        value = float(loss[0] if isinstance(loss, (list, tuple)) else loss)
        if self.count < STEPS_KEPT:
            self.losses.append(value)
        self.count += 1
        self.last = value
        return loss


__all__ = ["KerasKind", "MODELS"]
