"""A safe parser for array expressions such as ``x + x*x + x*x*x``.

The text is parsed with Python's ``ast`` module and every node is checked
against a whitelist; nothing is ever evaluated by Python itself.  The result is
a small tree of :class:`Node` objects that can be

* analysed for a concrete set of input shapes (output shape, FLOPs, the bytes
  an unfused and a fused evaluation must move), and
* turned into a plain Python callable that uses one framework's own ops.

Allowed: input names, numeric constants, ``+ - * / ** @``, unary ``-``/``+``,
the functions in :data:`ELEMENTWISE_FUNCTIONS` and the reductions in
:data:`REDUCTIONS` (with ``axis=`` and ``keepdims=`` keywords).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

MAX_EXPRESSION_LENGTH = 2000
MAX_DEPTH = 60

# name -> number of array arguments
ELEMENTWISE_FUNCTIONS: dict[str, int] = {
    "exp": 1,
    "log": 1,
    "sqrt": 1,
    "tanh": 1,
    "sin": 1,
    "cos": 1,
    "abs": 1,
    "maximum": 2,
    "minimum": 2,
}
REDUCTIONS = ("sum", "mean", "max", "min")
BINARY_OPERATORS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
    ast.IfExp: "conditional expressions",
    ast.Starred: "star arguments",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Await: "await",
    ast.Yield: "yield",
}


class ExpressionError(ValueError):
    """The expression is not allowed or does not fit its inputs."""


def allowed_summary() -> str:
    functions = ", ".join([*ELEMENTWISE_FUNCTIONS, *REDUCTIONS])
    return f"input names, numbers, + - * / ** @, unary -, and the functions {functions}"


@dataclass(frozen=True)
class Node:
    """Base class of the expression tree."""


@dataclass(frozen=True)
class Input(Node):
    name: str


@dataclass(frozen=True)
class Constant(Node):
    value: float | int


@dataclass(frozen=True)
class Unary(Node):
    operator: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]
    axis: int | None = None
    keepdims: bool = False


def parse(text: str, input_names: Sequence[str]) -> Node:
    """Parse ``text`` into a tree, allowing only the whitelisted constructs."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression has {len(text)} characters; at most {MAX_EXPRESSION_LENGTH} are allowed"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"not a valid expression: {error.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is nested too deeply") from None
    return _Converter(tuple(input_names)).convert(tree.body, depth=0)


class _Converter:
    def __init__(self, input_names: tuple[str, ...]) -> None:
        self.input_names = input_names

    def convert(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Name):
            if node.id not in self.input_names:
                names = ", ".join(self.input_names) or "(none)"
                raise ExpressionError(f"unknown name '{node.id}'; the inputs are: {names}")
            return Input(node.id)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExpressionError(f"only numeric constants are allowed, got {value!r}")
            if not math.isfinite(value):
                raise ExpressionError(f"constants must be finite, got {value!r}")
            return Constant(value)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return Unary("-", self.convert(node.operand, depth + 1))
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand, depth + 1)
            raise ExpressionError(f"the unary operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.BinOp):
            operator = BINARY_OPERATORS.get(type(node.op))
            if operator is None:
                allowed = " ".join(BINARY_OPERATORS.values())
                raise ExpressionError(
                    f"the operator {type(node.op).__name__} is not allowed; allowed: {allowed}"
                )
            return Binary(
                operator, self.convert(node.left, depth + 1), self.convert(node.right, depth + 1)
            )
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        construct = _NODE_NAMES.get(type(node), type(node).__name__)
        raise ExpressionError(f"{construct} are not allowed; allowed are {allowed_summary()}")

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                "only calls of the whitelisted functions by name are allowed "
                f"({', '.join([*ELEMENTWISE_FUNCTIONS, *REDUCTIONS])})"
            )
        name = node.func.id
        if name not in ELEMENTWISE_FUNCTIONS and name not in REDUCTIONS:
            raise ExpressionError(
                f"unknown function '{name}'; allowed: {', '.join([*ELEMENTWISE_FUNCTIONS, *REDUCTIONS])}"
            )
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise ExpressionError("star arguments are not allowed")
        arguments = tuple(self.convert(argument, depth + 1) for argument in node.args)
        if name in ELEMENTWISE_FUNCTIONS:
            if node.keywords:
                raise ExpressionError(f"{name}() takes no keyword arguments")
            wanted = ELEMENTWISE_FUNCTIONS[name]
            if len(arguments) != wanted:
                raise ExpressionError(f"{name}() takes {wanted} argument(s), got {len(arguments)}")
            return Call(name, arguments)
        if len(arguments) != 1:
            raise ExpressionError(f"{name}() takes 1 array argument, got {len(arguments)}")
        axis: int | None = None
        keepdims = False
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "axis":
                axis = _integer_constant(value, f"{name}(axis=...)")
            elif keyword.arg == "keepdims":
                if not (isinstance(value, ast.Constant) and isinstance(value.value, bool)):
                    raise ExpressionError(f"{name}(keepdims=...) must be True or False")
                keepdims = value.value
            else:
                raise ExpressionError(
                    f"{name}() accepts only the keywords axis and keepdims, got {keyword.arg!r}"
                )
        return Call(name, arguments, axis=axis, keepdims=keepdims)


def _integer_constant(node: ast.AST, what: str) -> int:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return sign * node.value
    raise ExpressionError(f"{what} must be an integer constant")


# --------------------------------------------------------------------------- analysis


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

    def size(shape: tuple[int, ...]) -> int:
        return math.prod(shape)

    def visit(current: Node) -> tuple[int, ...] | None:
        # Returns None for a scalar constant (it moves no memory).
        if isinstance(current, Input):
            return tuple(shapes[current.name])
        if isinstance(current, Constant):
            return None
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
        if isinstance(current, Call):
            operands = [visit(argument) for argument in current.arguments]
            present = [shape for shape in operands if shape is not None]
            if not present:
                return None
            if current.function in ELEMENTWISE_FUNCTIONS:
                result = present[0] if len(present) == 1 else _broadcast(*present)
                totals["flops"] += size(result)
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


def _add_traffic(totals: dict, operands: list, result: tuple[int, ...], itemsize: int) -> None:
    written = math.prod(result) * itemsize
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


def _reduce_shape(shape: tuple[int, ...], axis: int | None, keepdims: bool, name: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    if not -len(shape) <= axis < len(shape):
        raise ExpressionError(f"{name}(axis={axis}) is out of range for an array of shape {list(shape)}")
    axis %= len(shape)
    if keepdims:
        return tuple(1 if index == axis else dim for index, dim in enumerate(shape))
    return tuple(dim for index, dim in enumerate(shape) if index != axis)


# --------------------------------------------------------------------------- building


def input_names_used(node: Node) -> set[str]:
    if isinstance(node, Input):
        return {node.name}
    if isinstance(node, Unary):
        return input_names_used(node.operand)
    if isinstance(node, Binary):
        return input_names_used(node.left) | input_names_used(node.right)
    if isinstance(node, Call):
        return set().union(*(input_names_used(argument) for argument in node.arguments))
    return set()


def has_reduction(node: Node) -> bool:
    if isinstance(node, Call):
        return node.function in REDUCTIONS or any(has_reduction(a) for a in node.arguments)
    if isinstance(node, Unary):
        return has_reduction(node.operand)
    if isinstance(node, Binary):
        return has_reduction(node.left) or has_reduction(node.right)
    return False


def build(node: Node, ops: Any, input_names: Sequence[str]) -> Callable[..., Any]:
    """Return ``f(*arrays)`` evaluating the tree with ``ops``.

    ``ops`` provides the functions by name (``ops.exp``, ``ops.sum(x, axis,
    keepdims)``, ...); operators use the arrays' own ``+ - * / ** @``, which is
    how each framework's users write such code.
    """
    positions = {name: index for index, name in enumerate(input_names)}
    evaluate = _compile_node(node, ops, positions)

    def expression_function(*arrays: Any) -> Any:
        return evaluate(arrays)

    return expression_function


_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    "@": lambda a, b: a @ b,
}


def _compile_node(node: Node, ops: Any, positions: Mapping[str, int]) -> Callable[[tuple], Any]:
    if isinstance(node, Input):
        index = positions[node.name]
        return lambda arrays: arrays[index]
    if isinstance(node, Constant):
        value = node.value
        return lambda arrays: value
    if isinstance(node, Unary):
        operand = _compile_node(node.operand, ops, positions)
        return lambda arrays: -operand(arrays)
    if isinstance(node, Binary):
        left = _compile_node(node.left, ops, positions)
        right = _compile_node(node.right, ops, positions)
        function = _BINARY[node.operator]
        return lambda arrays: function(left(arrays), right(arrays))
    if isinstance(node, Call):
        arguments = [_compile_node(argument, ops, positions) for argument in node.arguments]
        function = getattr(ops, node.function)
        if node.function in REDUCTIONS:
            (operand,) = arguments
            axis, keepdims = node.axis, node.keepdims
            return lambda arrays: function(operand(arrays), axis, keepdims)
        if len(arguments) == 1:
            (operand,) = arguments
            return lambda arrays: function(operand(arrays))
        first, second = arguments
        return lambda arrays: function(first(arrays), second(arrays))
    raise ExpressionError(f"unknown node {node!r}")
