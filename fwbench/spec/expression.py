"""A safe parser for array expressions such as ``x + x*x + x*x*x``.

The text is parsed with Python's ``ast`` module and every node is checked
against a whitelist; nothing is ever evaluated by Python itself.  The result is
a small tree of :class:`Node` objects that can be

* analysed for a concrete set of input shapes (output shape, FLOPs, the bytes
  an unfused and a fused evaluation must move), and
* turned into a plain Python function that uses one framework's own ops.

The function is generated from the validated tree (never from the spec's
text) as the code a user would write: ``x + x*x + x*x*x`` becomes
``def expression_function(x): return x + x * x + x * x * x``, compiled by
Python.  Each temporary is freed when its last use has passed, exactly as in
hand-written code, so NumPy's temporary elision and the allocator's reuse of
freed blocks behave as they do for the user.

Allowed: input names, numeric constants, ``+ - * / ** @``, unary ``-``/``+``,
the functions in :data:`ELEMENTWISE_FUNCTIONS` and the reductions in
:data:`REDUCTIONS` (with ``axis=`` and ``keepdims=`` keywords).  Several lines
may bind names before the final expression, as an expert writes softmax::

    m = max(x, axis=-1, keepdims=True)
    e = exp(x - m)
    e / sum(e, axis=-1, keepdims=True)

A bound name is computed once per call and kept until the call returns, as a
local variable is: the tree is a DAG whose shared nodes are one :class:`Bound`
object, and both evaluation and byte counting visit them once.
"""

from __future__ import annotations

import ast
import math
import re
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
    "relu": 1,
    "maximum": 2,
    "minimum": 2,
    # More of the array API's element-wise functions, by its names.
    "tan": 1,
    "asin": 1,
    "acos": 1,
    "atan": 1,
    "sinh": 1,
    "cosh": 1,
    "expm1": 1,
    "log1p": 1,
    "log2": 1,
    "log10": 1,
    "square": 1,
    "sign": 1,
    "floor": 1,
    "ceil": 1,
    "clip": 3,  # clip(x, low, high)
}
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "argmax", "argmin", "cumulative_sum")
SCANS = ("cumulative_sum",)  # axis= like a reduction, but the shape is kept (and keepdims means nothing)
# The array API's transposes: ``x.T`` (2-D arrays only), ``x.mT`` and ``matrix_transpose(x)`` (the last two
# axes); ``matmul(a, b)`` is ``a @ b``.
TRANSPOSES = ("matrix_transpose",)
EINSUM_SUBSCRIPTS = re.compile(r"^[a-z]+(,[a-z]+)*->[a-z]*$")
ATTRIBUTES = {"T": "matrix_transpose", "mT": "matrix_transpose"}
BINARY_OPERATORS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access is",
    ast.Subscript: "subscripts are",
    ast.Lambda: "lambdas are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.JoinedStr: "f-strings are",
    ast.NamedExpr: "assignment expressions (:=) are",
    ast.Compare: "comparisons are",
    ast.BoolOp: "boolean operators are",
    ast.IfExp: "conditional expressions are",
    ast.Starred: "star arguments are",
    ast.List: "lists are",
    ast.Tuple: "tuples are",
    ast.Dict: "dicts are",
    ast.Set: "sets are",
    ast.Await: "await is",
    ast.Yield: "yield is",
}


class ExpressionError(ValueError):
    """The expression is not allowed or does not fit its inputs."""


def allowed_summary() -> str:
    functions = ", ".join([*ELEMENTWISE_FUNCTIONS, *REDUCTIONS, *TRANSPOSES, "matmul", "einsum"])
    return (f"input names, numbers, + - * / ** @, unary -, .T, .mT, slices with constant bounds (x[:, :64]), "
            f"and the functions {functions}")


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


@dataclass(frozen=True, eq=False)
class Bound(Node):
    """``name = value`` on an earlier line; every use of ``name`` is this one object."""

    name: str
    value: Node
    position: int  # the line's index among the bindings: the order they are computed in


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]
    axis: int | None = None
    keepdims: bool = False
    two_dimensional: bool = False  # x.T: defined for 2-D arrays only
    subscripts: str | None = None  # einsum's "ij,jk->ik"


@dataclass(frozen=True)
class Sliced(Node):
    """``x[a:b:c, ...]`` with constant bounds: one (start, stop, step) per leading axis."""

    operand: Node
    slices: tuple[tuple[int | None, int | None, int | None], ...]


MAX_BINDINGS = 50


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
        module = ast.parse(text.strip(), mode="exec")
    except SyntaxError as error:
        raise ExpressionError(f"not a valid expression: {error.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is nested too deeply") from None
    converter = _Converter(tuple(input_names))
    *statements, last = module.body
    if len(statements) > MAX_BINDINGS:
        raise ExpressionError(f"at most {MAX_BINDINGS} bindings (name = ...) are allowed")
    for statement in statements:
        converter.bind(statement)
    if not isinstance(last, ast.Expr):
        raise ExpressionError("the last line must be an expression (the result), not a "
                              f"{_statement_name(last)}")
    return converter.convert(last.value, depth=0)


def _statement_name(node: ast.AST) -> str:
    return {ast.Assign: "binding", ast.Import: "import", ast.ImportFrom: "import",
            ast.FunctionDef: "function definition", ast.For: "loop", ast.While: "loop"}.get(
        type(node), type(node).__name__)


class _Converter:
    def __init__(self, input_names: tuple[str, ...]) -> None:
        self.input_names = input_names
        self.bindings: dict[str, Node] = {}

    def bind(self, statement: ast.AST) -> None:
        """``name = expression``: later lines may use ``name``; it is computed once."""
        if not isinstance(statement, ast.Assign):
            if isinstance(statement, ast.Expr):
                raise ExpressionError("only the last line may be a bare expression; "
                                      "earlier lines bind names (name = ...)")
            raise ExpressionError(f"a {_statement_name(statement)} is not allowed; lines before the last "
                                  "must be bindings (name = expression)")
        if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
            raise ExpressionError("a binding assigns one plain name (name = expression)")
        name = statement.targets[0].id
        if name in self.input_names or name in self.bindings:
            raise ExpressionError(f"the name '{name}' is already an input or bound; choose another")
        if name in ELEMENTWISE_FUNCTIONS or name in REDUCTIONS:
            raise ExpressionError(f"the name '{name}' is a function; choose another")
        self.bindings[name] = Bound(name, self.convert(statement.value, depth=0), len(self.bindings))

    def convert(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Name):
            if node.id in self.bindings:
                return self.bindings[node.id]
            if node.id not in self.input_names:
                names = ", ".join([*self.input_names, *self.bindings]) or "(none)"
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
        if isinstance(node, ast.Subscript):
            return Sliced(self.convert(node.value, depth + 1), _constant_slices(node.slice))
        if isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            return Call(ATTRIBUTES[node.attr], (self.convert(node.value, depth + 1),), two_dimensional=node.attr == "T")
        if isinstance(node, ast.Attribute):
            raise ExpressionError(f"attribute access is not allowed except .T and .mT, got .{node.attr}; "
                                  f"allowed are {allowed_summary()}")
        construct = _NODE_NAMES.get(type(node), f"{type(node).__name__} is")
        raise ExpressionError(f"{construct} not allowed; allowed are {allowed_summary()}")

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                "only calls of the whitelisted functions by name are allowed "
                f"({', '.join([*ELEMENTWISE_FUNCTIONS, *REDUCTIONS, *TRANSPOSES, 'matmul', 'einsum'])})"
            )
        name = node.func.id
        if name == "einsum":
            return self._einsum(node, depth)
        known = [*ELEMENTWISE_FUNCTIONS, *REDUCTIONS, *TRANSPOSES, "matmul", "einsum"]
        if name not in known:
            raise ExpressionError(f"unknown function '{name}'; allowed: {', '.join(known)}")
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise ExpressionError("star arguments are not allowed")
        arguments = tuple(self.convert(argument, depth + 1) for argument in node.args)
        if name in (*TRANSPOSES, "matmul"):
            wanted = 1 if name in TRANSPOSES else 2
            if node.keywords or len(arguments) != wanted:
                raise ExpressionError(f"{name}() takes {wanted} array argument(s) and no keywords")
            return Call(name, arguments) if name in TRANSPOSES else Binary("@", *arguments)
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
        if name in SCANS and keepdims:
            raise ExpressionError(f"{name}() keeps the shape; it takes no keepdims")
        return Call(name, arguments, axis=axis, keepdims=keepdims)

    def _einsum(self, node: ast.Call, depth: int) -> Node:
        if node.keywords or not node.args:
            raise ExpressionError("einsum() takes the subscripts and the arrays, no keywords")
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)
                and EINSUM_SUBSCRIPTS.match(first.value.replace(" ", ""))):
            raise ExpressionError("einsum()'s first argument must be subscripts with an explicit output, "
                                  "like 'ij,jk->ik' (lowercase letters)")
        subscripts = first.value.replace(" ", "")
        arrays = tuple(self.convert(argument, depth + 1) for argument in node.args[1:])
        if len(arrays) != subscripts.split("->")[0].count(",") + 1:
            raise ExpressionError(f"einsum('{subscripts}') needs {subscripts.split('->')[0].count(',') + 1} "
                                  f"arrays, got {len(arrays)}")
        return Call("einsum", arrays, subscripts=subscripts)


def _constant_slices(index: ast.AST) -> tuple[tuple[int | None, int | None, int | None], ...]:
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    slices = []
    for part in parts:
        if not isinstance(part, ast.Slice):
            raise ExpressionError("only slices with constant bounds are allowed in subscripts (x[:, :64], x[::2]); "
                                  "integer indices and index arrays are not")
        bounds = tuple(None if bound is None else _integer_constant(bound, "a slice bound")
                       for bound in (part.lower, part.upper, part.step))
        if bounds[2] is not None and bounds[2] < 1:
            raise ExpressionError(f"a slice step must be positive (PyTorch has no negative steps), got {bounds[2]}")
        slices.append(bounds)
    return tuple(slices)


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
                return None
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


# --------------------------------------------------------------------------- building


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Bound):
        return (node.value,)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.arguments
    if isinstance(node, Sliced):
        return (node.operand,)
    return ()


def _walk(node: Node):
    """Every distinct node of the DAG once (a bound value is reached once however often it is used)."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(_children(current))


def _any_node(node: Node, predicate: Callable[[Node], bool]) -> bool:
    return any(predicate(current) for current in _walk(node))


def input_names_used(node: Node) -> set[str]:
    return {current.name for current in _walk(node) if isinstance(current, Input)}


def has_reduction_or_matmul(node: Node) -> bool:
    """Whether rounding errors grow with the magnitude of summed terms rather than of the result."""
    return _any_node(node, lambda current: (isinstance(current, Call) and current.function in (*REDUCTIONS, "einsum"))
                     or (isinstance(current, Binary) and current.operator == "@"))


def has_transpose(node: Node) -> bool:
    """Whether the result's elements are not the inputs' elements in place (transposes, slices)."""
    return _any_node(node, lambda current: (isinstance(current, Call) and current.function in TRANSPOSES)
                     or isinstance(current, Sliced))


OPERATOR_NODES = {symbol: node_type for node_type, symbol in BINARY_OPERATORS.items()}
FUNCTION_NAME = "expression_function"
_OPS_PREFIX = "__fwbench_"  # the generated function reaches the framework's ops as these globals


def source(node: Node, input_names: Sequence[str], magnitude: bool = False) -> str:
    """The Python source of the function :func:`build` compiles (for reading and for tests)."""
    return ast.unparse(ast.fix_missing_locations(_function_definition(node, input_names, magnitude)))


def build(node: Node, ops: Any, input_names: Sequence[str], magnitude: bool = False) -> Callable[..., Any]:
    """Return ``f(*arrays)``: the tree as a Python function written with ``ops``.

    ``ops`` provides the functions by name (``ops.exp``, ``ops.sum(x,
    axis=..., keepdims=...)``, ...); operators use the arrays' own
    ``+ - * / ** @``, which is how each framework's users write such code.
    Bindings become local variables computed in the order of their lines;
    everything else is one Python expression, so intermediates die at their
    last use and ``jit``/``torch.compile``/XLA trace an ordinary function.

    With ``magnitude=True`` the tree is evaluated on absolute values with
    subtractions turned into additions and function results made absolute:
    the sum of the magnitudes of the terms, which bounds rounding error.
    """
    definition = _function_definition(node, input_names, magnitude)
    module = ast.fix_missing_locations(ast.Module(body=[definition], type_ignores=[]))
    namespace: dict[str, Any] = {"__builtins__": {}}
    for name in _functions_used(node, magnitude):
        namespace[_OPS_PREFIX + name] = getattr(ops, name)
    # Runs one def statement generated from the whitelisted tree: nothing of the spec's text is executed.
    exec(compile(module, "<fwbench expression>", "exec"), namespace)  # noqa: S102
    return namespace[FUNCTION_NAME]


def _bindings(node: Node) -> list[Bound]:
    return sorted((current for current in _walk(node) if isinstance(current, Bound)),
                  key=lambda bound: bound.position)


def _functions_used(node: Node, magnitude: bool) -> set[str]:
    names = {current.function for current in _walk(node) if isinstance(current, Call)}
    return names | {"abs"} if magnitude else names


def _function_definition(node: Node, input_names: Sequence[str], magnitude: bool) -> ast.FunctionDef:
    bindings = _bindings(node)
    taken = [*input_names, *(bound.name for bound in bindings)]
    clashing = [name for name in taken if name.startswith(_OPS_PREFIX) or name == FUNCTION_NAME]
    if clashing:
        raise ExpressionError(f"the name '{clashing[0]}' is reserved; choose another")
    body: list[ast.stmt] = []
    if magnitude:
        for name in input_names:
            body.append(ast.Assign(targets=[ast.Name(name, ast.Store())],
                                   value=_call_ast("abs", [ast.Name(name, ast.Load())])))
    for bound in bindings:
        body.append(ast.Assign(targets=[ast.Name(bound.name, ast.Store())],
                               value=_expression_ast(bound.value, magnitude)))
    body.append(ast.Return(_expression_ast(node, magnitude)))
    arguments = ast.arguments(posonlyargs=[], args=[ast.arg(name) for name in input_names], vararg=None,
                              kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    definition = ast.FunctionDef(name=FUNCTION_NAME, args=arguments, body=body, decorator_list=[], returns=None)
    if "type_params" in ast.FunctionDef._fields:  # Python 3.12+
        definition.type_params = []
    return definition


def _call_ast(function: str, arguments: list[ast.expr], keywords: Sequence[ast.keyword] = ()) -> ast.Call:
    return ast.Call(func=ast.Name(_OPS_PREFIX + function, ast.Load()), args=arguments, keywords=list(keywords))


def _expression_ast(node: Node, magnitude: bool) -> ast.expr:
    """The Python expression for ``node``; a bound value is referred to by its name."""
    if isinstance(node, (Input, Bound)):
        return ast.Name(node.name, ast.Load())
    if isinstance(node, Constant):
        return ast.Constant(abs(node.value) if magnitude else node.value)
    if isinstance(node, Unary):
        operand = _expression_ast(node.operand, magnitude)
        return operand if magnitude else ast.UnaryOp(ast.USub(), operand)
    if isinstance(node, Binary):
        operator = "+" if magnitude and node.operator == "-" else node.operator
        return ast.BinOp(_expression_ast(node.left, magnitude), OPERATOR_NODES[operator](),
                         _expression_ast(node.right, magnitude))
    if isinstance(node, Sliced):
        bounds = [ast.Slice(*(None if value is None else ast.Constant(value) for value in bounds))
                  for bounds in node.slices]
        index = bounds[0] if len(bounds) == 1 else ast.Tuple(bounds, ast.Load())
        return ast.Subscript(_expression_ast(node.operand, magnitude), index, ast.Load())
    if isinstance(node, Call):
        arguments = [_expression_ast(argument, magnitude) for argument in node.arguments]
        if node.function == "einsum":
            return _call_ast("einsum", [ast.Constant(node.subscripts), *arguments])
        if node.function in REDUCTIONS:
            keywords = []
            if node.axis is not None:
                keywords.append(ast.keyword("axis", ast.Constant(node.axis)))
            if node.keepdims:
                keywords.append(ast.keyword("keepdims", ast.Constant(True)))
            return _call_ast(node.function, arguments, keywords)
        call = _call_ast(node.function, arguments)
        return _call_ast("abs", [call]) if magnitude and node.function not in TRANSPOSES else call
    raise ExpressionError(f"unknown node {node!r}")
