"""The ``keras`` kind's architectures (:func:`build_model`) and its reference: the numpy backend's figures,
made in a process of its own.

A worker has Keras imported with its own backend and cannot switch, so the
reference runs ``python -m fwbench.kinds.keras_reference DIR`` with
``KERAS_BACKEND=numpy``: it reads ``DIR/task.json`` (the kind's options and
sizes) and ``DIR/inputs.npz`` (the batch, the labels and the initial
weights), builds the same architecture, sets the weights, and writes
``DIR/reference.npy``: the prediction (``predict``) or the loss of a
training-mode forward pass (``fit``), in float64.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT_S = 600


def build_model(keras: Any, options: dict[str, Any], batch: int, size: int) -> Any:
    """The architecture, with ``weights=None``: the same in every backend (the reference process too)."""
    name, classes = options["model"], options["classes"]
    shape = (size, size, 3)
    if name == "mobilenet_v3_small":
        return keras.applications.MobileNetV3Small(weights=None, input_shape=shape, classes=classes,
                                                   dropout_rate=0.0, include_preprocessing=False)
    if name == "mobilenet_v3_large":
        return keras.applications.MobileNetV3Large(weights=None, input_shape=shape, classes=classes,
                                                   dropout_rate=0.0, include_preprocessing=False)
    if name == "resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=shape, classes=classes)
    width, heads = options["width"], options["heads"]
    zeros = {"kernel_initializer": "zeros"}  # replaced by the seed's weights: random draws only cost time here
    inputs = keras.Input((size, width))
    x = inputs
    for _ in range(options["depth"]):
        attention = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=width // heads, **zeros)(x, x)
        x = keras.layers.LayerNormalization()(x + attention)
        hidden = keras.layers.Dense(2 * width, activation="relu", **zeros)(x)
        x = keras.layers.LayerNormalization()(x + keras.layers.Dense(width, **zeros)(hidden))
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", **zeros)(x))


def numpy_backend_reference(options: dict[str, Any], batch: int, size: int, inputs: list[Any]) -> Any:
    """The numpy backend's figures for ``inputs``, as a float64 array: in this process when Keras runs on the
    numpy backend here (the numpy worker), else from a process of its own."""
    import numpy as np

    if "keras" in sys.modules and sys.modules["keras"].backend.backend() == "numpy":
        return compute(sys.modules["keras"], options, batch, size, inputs)

    with tempfile.TemporaryDirectory(prefix="fwbench-keras-") as directory:
        folder = Path(directory)
        (folder / "task.json").write_text(json.dumps({"options": options, "batch": batch, "size": size}))
        np.savez(folder / "inputs.npz", *[np.asarray(array) for array in inputs])
        environment = dict(os.environ, KERAS_BACKEND="numpy", JAX_PLATFORMS="cpu")
        finished = subprocess.run([sys.executable, "-m", "fwbench.kinds.keras_reference", str(folder)],
                                  env=environment, capture_output=True, text=True, timeout=TIMEOUT_S)
        if finished.returncode != 0:
            raise RuntimeError("the numpy backend's reference failed: "
                               + " ".join(finished.stderr.strip().splitlines()[-3:]))
        return np.load(folder / "reference.npy")


def compute(keras: Any, options: dict[str, Any], batch: int, size: int, arrays: list[Any]) -> Any:
    """With ``keras`` on the numpy backend: the prediction, or the training-mode forward loss, in float64."""
    import numpy as np

    model = build_model(keras, options, batch, size)
    model.set_weights([np.asarray(array) for array in arrays[2:]])
    x, y = np.asarray(arrays[0]), np.asarray(arrays[1])
    if options["task"] == "predict":
        return np.asarray(model.predict_on_batch(x), dtype=np.float64)
    loss = keras.losses.CategoricalCrossentropy()(y, model(x, training=True))
    return np.asarray([float(np.asarray(loss))], dtype=np.float64)


def main(directory: str) -> int:
    import keras
    import numpy as np

    folder = Path(directory)
    task = json.loads((folder / "task.json").read_text())
    with np.load(folder / "inputs.npz") as stored:
        arrays = [stored[f"arr_{index}"] for index in range(len(stored.files))]
    np.save(folder / "reference.npy", compute(keras, task["options"], task["batch"], task["size"], arrays))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
