"""What an expression costs for concrete input shapes: its output shape, FLOPs, and the bytes an unfused and
a fused evaluation move.  Refusals (shapes that do not fit) raise :class:`ExpressionError` with the reason."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from fwbench.language.expression import (
    ELEMENTWISE_FUNCTIONS,
    JOINS,
    ORDERINGS,
    REARRANGEMENTS,
    REDUCTIONS,
    SCANS,
    SHAPE_FUNCTIONS,
    STATISTICS,
    TRANSPOSES,
    Binary,
    Bound,
    Call,
    Compare,
    Constant,
    ExpressionError,
    Input,
    Node,
    Sliced,
    Unary,
)


@dataclass(frozen=True)
class Analysis:
    """What evaluating the tree for concrete input shapes costs."""

    shape: tuple[int, ...]
    flops: int
    unfused_bytes: int  # every node reads its operands and writes its result
    fused_bytes: int  # each input read once, the output written once
    max_intermediate_bytes: int


def analyse(node: Node, shapes: Mapping[str, tuple[int, ...]], itemsize: int) -> Analysis:
    """Infer the output shape and count FLOPs and bytes for these input shapes."""
    totals = {"flops": 0, "unfused": 0, "largest": 0}
    seen: dict[int, tuple[int, ...] | None] = {}

    def size(shape: tuple[int, ...]) -> int:
        return math.prod(shape)

    def visit(current: Node) -> tuple[int, ...] | None:
        # A bound name is one node reached twice: count it once.
        key = id(current)
        if key not in seen:
            seen[key] = visit_once(current)
        return seen[key]

    def visit_once(current: Node) -> tuple[int, ...] | None:
        # Returns None for a scalar constant (it moves no memory).
        if isinstance(current, Input):
            return tuple(shapes[current.name])
        if isinstance(current, Constant):
            return None
        if isinstance(current, Bound):
            return visit(current.value)
        if isinstance(current, Unary):
            operand = visit(current.operand)
            if operand is None:
                return None
            totals["flops"] += size(operand)
            _add_traffic(totals, [operand], operand, itemsize)
            return operand
        if isinstance(current, Binary):
            left, right = visit(current.left), visit(current.right)
            if left is None and right is None:
                return None
            if current.operator == "@":
                result, flops = _matmul_shape(left, right)
            else:
                result = _broadcast(left or (), right or ())
                flops = size(result) * _elementwise_cost(current)
            totals["flops"] += flops
            _add_traffic(totals, [s for s in (left, right) if s is not None], result, itemsize)
            return result
        if isinstance(current, Sliced):
            operand = visit(current.operand)
            if operand is None:
                raise ExpressionError("a constant cannot be sliced")
            return _sliced_shape(operand, current.slices)  # a view in NumPy and PyTorch: no FLOPs, no traffic
        if isinstance(current, Compare):
            operands = [shape for shape in (visit(current.left), visit(current.right)) if shape is not None]
            if not operands:
                return None
            result = _broadcast(*operands)
            totals["flops"] += size(result)
            _add_traffic(totals, operands, result, itemsize, written_itemsize=1)  # one byte per boolean
            return result
        if isinstance(current, Call) and current.function == "where":
            condition, *values = [visit(argument) for argument in current.arguments]
            present = [shape for shape in values if shape is not None]
            if condition is None and not present:
                return None
            result = _broadcast(*(shape for shape in (condition, *values) if shape is not None))
            totals["flops"] += size(result)  # one select per element
            _add_traffic(totals, present, result, itemsize)
            totals["unfused"] += size(condition) if condition is not None else 0  # the booleans read
            return result
        if isinstance(current, Call) and current.function == "vecdot":
            left, right = (visit(argument) for argument in current.arguments)
            if left is None or right is None:
                raise ExpressionError("vecdot() takes arrays, not constants")
            both = _broadcast(left, right)
            axis = _axis_in(current.axis, len(both), "vecdot", both) if both else 0
            for shape in (left, right):
                if len(shape) < len(both) - axis or shape[axis - len(both)] != both[axis]:
                    raise ExpressionError(f"vecdot(axis={current.axis}) needs both arrays to have that axis at "
                                          f"one size, got {list(left)} and {list(right)}")
            result = both[:axis] + both[axis + 1:]
            totals["flops"] += 2 * size(both)
            _add_traffic(totals, [left, right], result, itemsize)
            return result
        if isinstance(current, Call) and current.function in (*SHAPE_FUNCTIONS, *REARRANGEMENTS, *JOINS, *ORDERINGS):
            operands = [visit(argument) for argument in current.arguments]
            if any(shape is None for shape in operands):
                raise ExpressionError(f"{current.function}() takes arrays, not constants")
            result = _manipulated_shape(current, operands)
            if current.function in ORDERINGS:
                length = result[current.axis] if result else 1
                totals["flops"] += size(result) * max(1, math.ceil(math.log2(max(length, 1))))  # comparisons
            if current.function not in SHAPE_FUNCTIONS:  # joins and sorts copy; the shape functions are views
                _add_traffic(totals, operands, result, itemsize)
            return result
        if isinstance(current, Call) and current.function == "einsum":
            operands = [visit(argument) for argument in current.arguments]
            if any(shape is None for shape in operands):
                raise ExpressionError("einsum() takes arrays, not constants")
            result, flops = _einsum_shape(current.subscripts, operands)
            totals["flops"] += flops
            _add_traffic(totals, operands, result, itemsize)
            return result
        if isinstance(current, Call):
            operands = [visit(argument) for argument in current.arguments]
            present = [shape for shape in operands if shape is not None]
            if not present:
                if current.function in REDUCTIONS and current.axis is not None:
                    raise ExpressionError(f"{current.function}(..., axis={current.axis}) of a constant has no axis; "
                                          "reduce an array")
                # PyTorch's and TensorFlow's functions take tensors, and a number has no dtype to make one in.
                raise ExpressionError(f"{current.function}() of numbers only is a number: write the number, or "
                                      f"apply {current.function}() to an array")
            if current.function in TRANSPOSES:
                if len(present[0]) < 2 or (current.two_dimensional and len(present[0]) != 2):
                    wanted = "a 2-D array (.T); use .mT for stacks of matrices" if current.two_dimensional \
                        else "an array of 2 or more dimensions"
                    raise ExpressionError(f"a transpose needs {wanted}, got shape {present[0]}")
                return (*present[0][:-2], present[0][-1], present[0][-2])  # a view: no FLOPs, no traffic
            if current.function in ELEMENTWISE_FUNCTIONS:
                result = present[0] if len(present) == 1 else _broadcast(*present)
                totals["flops"] += size(result)
            elif current.function in SCANS:
                if current.axis is None and len(present[0]) > 1:
                    raise ExpressionError(f"{current.function}() of an array of {len(present[0])} dimensions "
                                          "needs axis=")
                _reduce_shape(present[0], current.axis, False, current.function)  # checks the axis
                result = present[0]
                totals["flops"] += size(result)
            elif current.function in STATISTICS:
                result = _reduce_shape(present[0], current.axis, current.keepdims, current.function)
                reduced = size(present[0]) // max(size(result), 1)
                if current.correction >= reduced:
                    raise ExpressionError(f"{current.function}(correction={current.correction}) divides by "
                                          f"N - correction; N is {reduced} here: use a correction below N")
                # the mean (N), the deviations (N), their squares (N) and sum (N), the division; std's sqrt
                totals["flops"] += 4 * size(present[0]) + size(result) * (2 if current.function == "std" else 1)
            else:
                result = _reduce_shape(present[0], current.axis, current.keepdims, current.function)
                totals["flops"] += size(present[0]) + (size(result) if current.function == "mean" else 0)
            _add_traffic(totals, present, result, itemsize)
            return result
        raise ExpressionError(f"unknown node {current!r}")

    shape = visit(node)
    if shape is None:
        raise ExpressionError("the expression uses no input")
    fused = sum(size(tuple(s)) for s in shapes.values()) * itemsize + size(shape) * itemsize
    return Analysis(
        shape=shape,
        flops=int(totals["flops"]),
        unfused_bytes=int(totals["unfused"]) or fused,
        fused_bytes=int(fused),
        max_intermediate_bytes=int(totals["largest"]),
    )


def _add_traffic(totals: dict, operands: list, result: tuple[int, ...], itemsize: int,
                 written_itemsize: int | None = None) -> None:
    written = math.prod(result) * (itemsize if written_itemsize is None else written_itemsize)
    totals["unfused"] += sum(math.prod(shape) for shape in operands) * itemsize + written
    totals["largest"] = max(totals["largest"], written)


def _elementwise_cost(node: Binary) -> int:
    """FLOPs per output element: x**k with integer k >= 2 costs k-1 multiplies."""
    if node.operator == "**" and isinstance(node.right, Constant):
        exponent = node.right.value
        if float(exponent).is_integer() and 2 <= exponent <= 16:
            return int(exponent) - 1
    return 1


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    ndim = max(len(shape) for shape in shapes)
    result = []
    for position in range(ndim):
        sizes = {shape[len(shape) - ndim + position] for shape in shapes if len(shape) - ndim + position >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            shown = " and ".join(str(list(shape)) for shape in shapes)
            raise ExpressionError(f"shapes {shown} cannot be broadcast together")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def _matmul_shape(left: tuple | None, right: tuple | None) -> tuple[tuple[int, ...], int]:
    if left is None or right is None or len(left) < 2 or len(right) < 2:
        raise ExpressionError("@ needs two arrays of 2 or more dimensions")
    if left[-1] != right[-2]:
        raise ExpressionError(
            f"@ needs the inner dimensions to agree, got {list(left)} @ {list(right)}"
        )
    batch = _broadcast(left[:-2], right[:-2]) if (left[:-2] or right[:-2]) else ()
    m, k, n = left[-2], left[-1], right[-1]
    return (*batch, m, n), 2 * math.prod(batch) * m * n * k


def _sliced_shape(shape: tuple[int, ...], slices: tuple) -> tuple[int, ...]:
    if len(slices) > len(shape):
        raise ExpressionError(f"{len(slices)} slices for an array of shape {list(shape)}")
    result = []
    for axis, dim in enumerate(shape):
        if axis < len(slices):
            dim = len(range(*slice(*slices[axis]).indices(dim)))
            if dim == 0:
                raise ExpressionError(f"the slice of axis {axis} is empty for an array of shape {list(shape)}")
        result.append(dim)
    return tuple(result)


def _axis_in(axis: int, ndim: int, name: str, shape: tuple[int, ...], option: str = "axis") -> int:
    """``axis`` of an array of ``ndim`` dimensions (negative counts from the end), or a refusal."""
    if not -ndim <= axis < ndim:
        raise ExpressionError(f"{name}({option}={axis}) is out of range for an array of shape {list(shape)}: "
                              f"the axis must lie in {-ndim}..{ndim - 1}")
    return axis % ndim


def _manipulated_shape(call: Call, operands: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The result shape of permute_dims, reshape, expand_dims, squeeze, concat, stack and sort."""
    name, shape = call.function, operands[0]
    if name == "permute_dims":
        if sorted(call.axes) != list(range(len(shape))):
            raise ExpressionError(f"permute_dims(axes={call.axes}) must order each axis of an array of shape "
                                  f"{list(shape)} once: a permutation of {tuple(range(len(shape)))}")
        return tuple(shape[axis] for axis in call.axes)
    if name == "reshape":
        wanted = call.axes
        unknown = [index for index, dim in enumerate(wanted) if dim == -1]
        if len(unknown) > 1 or any(dim < -1 or dim == 0 for dim in wanted):
            raise ExpressionError(f"reshape's shape {wanted} may hold positive sizes and at most one -1")
        known = math.prod(dim for dim in wanted if dim != -1)
        total = math.prod(shape)
        if (unknown and total % known) or (not unknown and total != known):
            raise ExpressionError(f"cannot reshape an array of shape {list(shape)} ({total} elements) into {wanted}")
        return tuple(total // known if dim == -1 else dim for dim in wanted)
    if name == "expand_dims":
        axis = _axis_in(call.axis, len(shape) + 1, name, shape)
        return (*shape[:axis], 1, *shape[axis:])
    if name == "squeeze":
        axis = _axis_in(call.axis, len(shape), name, shape)
        if shape[axis] != 1:
            raise ExpressionError(f"squeeze(axis={call.axis}) needs that axis to have size 1, got shape {list(shape)}")
        return (*shape[:axis], *shape[axis + 1:])
    if name in ("sort", "argsort", "flip", "roll"):
        if not shape:
            raise ExpressionError(f"{name}() needs an array of at least 1 dimension")
        if call.axis is not None:
            _axis_in(call.axis, len(shape), name, shape)
        return shape
    if name == "moveaxis":
        source, destination = dict(call.options)["source"], dict(call.options)["destination"]
        source = _axis_in(source, len(shape), name, shape, "source")
        destination = _axis_in(destination, len(shape), name, shape, "destination")
        order = [axis for axis in range(len(shape)) if axis != source]
        order.insert(destination, source)
        return tuple(shape[axis] for axis in order)
    if name == "broadcast_to":
        wanted = call.axes
        if any(dim < 1 for dim in wanted) or len(wanted) < len(shape) or any(
                dim not in (1, target) for dim, target in zip(shape, wanted[len(wanted) - len(shape):])):
            raise ExpressionError(f"cannot broadcast an array of shape {list(shape)} to {wanted}")
        return tuple(wanted)
    if any(len(other) != len(shape) for other in operands):
        raise ExpressionError(f"{name}() needs arrays of one rank, got shapes "
                              f"{' and '.join(str(list(other)) for other in operands)}")
    if name == "stack":
        if any(other != shape for other in operands):
            raise ExpressionError(f"stack() needs arrays of one shape, got "
                                  f"{' and '.join(str(list(other)) for other in operands)}")
        axis = _axis_in(call.axis, len(shape) + 1, name, shape)
        return (*shape[:axis], len(operands), *shape[axis:])
    if not shape:
        raise ExpressionError("concat() needs arrays of at least 1 dimension")
    axis = _axis_in(call.axis, len(shape), name, shape)
    if any(other[:axis] + other[axis + 1:] != shape[:axis] + shape[axis + 1:] for other in operands):
        raise ExpressionError(f"concat(axis={call.axis}) needs the arrays to agree on every other axis, got shapes "
                              f"{' and '.join(str(list(other)) for other in operands)}")
    return (*shape[:axis], sum(other[axis] for other in operands), *shape[axis + 1:])


def _einsum_shape(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[tuple[int, ...], int]:
    """The output shape, and 2 FLOPs per term of the sum over every index (a plain copy or a single
    reduction counts one per element)."""
    inputs, output = subscripts.split("->")
    sizes: dict[str, int] = {}
    for letters, shape in zip(inputs.split(","), shapes):
        if len(letters) != len(shape):
            raise ExpressionError(f"einsum('{subscripts}'): '{letters}' names {len(letters)} axes, the array has "
                                  f"shape {list(shape)}")
        for letter, dim in zip(letters, shape):
            if sizes.setdefault(letter, dim) != dim:
                raise ExpressionError(f"einsum('{subscripts}'): index '{letter}' is {sizes[letter]} in one array "
                                      f"and {dim} in another")
    missing = [letter for letter in output if letter not in sizes]
    if missing or len(set(output)) != len(output):
        raise ExpressionError(f"einsum('{subscripts}'): the output must name each input index at most once")
    terms = math.prod(sizes.values())
    return tuple(sizes[letter] for letter in output), terms * (2 if len(shapes) > 1 else 1)


def _reduce_shape(shape: tuple[int, ...], axis: int | None, keepdims: bool, name: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    if not -len(shape) <= axis < len(shape):
        raise ExpressionError(f"{name}(axis={axis}) is out of range for an array of shape {list(shape)}")
    axis %= len(shape)
    if keepdims:
        return tuple(1 if index == axis else dim for index, dim in enumerate(shape))
    return tuple(dim for index, dim in enumerate(shape) if index != axis)
