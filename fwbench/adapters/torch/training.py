"""Training steps in PyTorch: ``torch.nn`` modules, autograd and ``torch.optim`` (``compile`` compiles both).

``mlp_train_step(options, mode, adapter, arrays)`` returns a function that
takes one training step and returns ``(loss,)``: the ``mlp_train`` kind's
contract (:mod:`fwbench.kinds.mlp_train`), one module per framework as Keras 3
keeps ``backend/<framework>/``.
"""

from __future__ import annotations

from typing import Any, Callable

from fwbench.adapters.base import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON


def mlp_train_step(options: dict[str, Any], mode: str, adapter: Any, arrays: list[Any]) -> Callable[[], Any]:
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
