"""A 2-D convolution with each framework's own conv op (fwbench ``kind: python`` example).

Inputs are NHWC images and HWIO filters (TensorFlow's layout, the only one its CPU kernels take); each
function is what a user of that framework writes.  PyTorch's conv2d wants NCHW: ``permute`` gives it
NCHW views of the same memory (channels-last, which its CPU kernels handle natively), without a copy.
NumPy has no convolution: the idiomatic route is a sliding-window view and ``tensordot``.
"""

import numpy as np

IMAGE = 32  # height and width
CHANNELS_IN = 16
CHANNELS_OUT = 32
KERNEL = 3


def inputs(params, rng):
    x = rng.standard_normal((params["batch"], IMAGE, IMAGE, CHANNELS_IN), dtype=np.float32)
    w = rng.standard_normal((KERNEL, KERNEL, CHANNELS_IN, CHANNELS_OUT), dtype=np.float32)
    return {"x": x, "w": w / np.float32(np.sqrt(KERNEL * KERNEL * CHANNELS_IN))}


def _numpy_conv(x, w):
    windows = np.lib.stride_tricks.sliding_window_view(x, (KERNEL, KERNEL), axis=(1, 2))  # n, h, w, c, i, j
    return np.tensordot(windows, w, axes=([4, 5, 3], [0, 1, 2]))


def reference(x, w):
    return _numpy_conv(x, w)  # called with float64 arrays


def numpy(x, w):
    return _numpy_conv(x, w)


def jax(x, w):
    from jax import lax

    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def torch(x, w):
    import torch.nn.functional as functional

    return functional.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1)).permute(0, 2, 3, 1)


def tensorflow(x, w):
    import tensorflow as tf

    return tf.nn.conv2d(x, w, strides=1, padding="VALID")


def flops(params):
    out = IMAGE - KERNEL + 1
    return 2 * params["batch"] * out * out * CHANNELS_OUT * CHANNELS_IN * KERNEL * KERNEL


def bytes(params):  # noqa: A001 - the name fwbench looks for
    out = IMAGE - KERNEL + 1
    return 4 * (params["batch"] * IMAGE * IMAGE * CHANNELS_IN + KERNEL * KERNEL * CHANNELS_IN * CHANNELS_OUT
                + params["batch"] * out * out * CHANNELS_OUT)
