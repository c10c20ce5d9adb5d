"""A natural Keras script: the encoder of workloads/models.yaml (2 layers, width 64, 4 heads, sequence 32,
batch 16), one train_on_batch or predict_on_batch timed with timeit, to hold fwbench's keras cells against.

    python bench/natural_keras.py BACKEND fit|predict [tensors]

BACKEND is jax, torch, tensorflow or numpy (predict only); jit_compile is on except for torch, as in the
Keras benchmark table; ``tensors`` hands torch tensors instead of NumPy arrays.  Prints the median and the
fastest of seven timeit repeats.
"""
import os
import sys
import timeit

backend, task = sys.argv[1], sys.argv[2]
os.environ["KERAS_BACKEND"] = backend
import keras  # noqa: E402
import numpy as np  # noqa: E402

if backend == "torch":
    import torch
    torch.set_num_threads(2)
inputs = keras.Input((32, 64))
x = inputs
for _ in range(2):
    a = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16)(x, x)
    x = keras.layers.LayerNormalization()(x + a)
    h = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.LayerNormalization()(x + keras.layers.Dense(64)(h))
x = keras.layers.GlobalAveragePooling1D()(x)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy", jit_compile=backend != "torch")
rng = np.random.default_rng(0)
xb = rng.standard_normal((16, 32, 64), dtype=np.float32)
yb = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 16)]
if backend == "torch" and len(sys.argv) > 3:
    xb, yb = torch.from_numpy(xb), torch.from_numpy(yb)
step = (lambda: model.train_on_batch(xb, yb)) if task == "fit" else (lambda: model.predict_on_batch(xb))
step()
step()
timer = timeit.Timer(step)
loops, _ = timer.autorange()
runs = [t / loops for t in timer.repeat(repeat=7, number=loops)]
print(backend, task, f"median {sorted(runs)[3]*1e3:.2f} ms, min {min(runs)*1e3:.2f} ms ({loops} loops x 7)")
