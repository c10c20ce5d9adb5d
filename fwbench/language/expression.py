"""A safe parser for array expressions such as ``x + x*x + x*x*x``.

The text is parsed with Python's ``ast`` module and every node is checked
against a whitelist; nothing is ever evaluated by Python itself.  The result is
a small tree of :class:`Node` objects that
:mod:`fwbench.language.expression_cost` analyses for concrete input shapes (output
shape, FLOPs, the bytes an unfused and a fused evaluation must move) and
:mod:`fwbench.language.expression_code` turns into a plain Python function written
with one framework's own ops, as a user would write it.

Allowed: input names, numeric constants, ``+ - * / ** @``, unary ``-``/``+``,
``.T`` and ``.mT``, slices with constant bounds, and the array API's names:
the functions in :data:`ELEMENTWISE_FUNCTIONS`, the reductions in
:data:`REDUCTIONS` (with ``axis=`` and ``keepdims=``; ``correction=`` for
:data:`STATISTICS`), the manipulations in :data:`SHAPE_FUNCTIONS` and
:data:`JOINS`, ``sort``, ``where`` (whose condition is one comparison),
``matmul`` and ``einsum``.  Several lines may bind names before the final
expression, as an expert writes softmax::

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
from typing import Any, Callable, Sequence

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
    "asinh": 1,
    "acosh": 1,
    "atanh": 1,
    "round": 1,  # half to even, in all four
    "trunc": 1,
    "negative": 1,
    "positive": 1,
    "reciprocal": 1,
    "atan2": 2,
    "hypot": 2,
    "logaddexp": 2,
    "pow": 2,
    "remainder": 2,  # the sign of the divisor, as Python's %
    "copysign": 2,
    "clip": 3,  # clip(x, low, high)
}
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "argmax", "argmin", "cumulative_sum", "cumulative_prod", "std",
              "var")
# axis= like a reduction, but the shape is kept (and keepdims means nothing)
SCANS = ("cumulative_sum", "cumulative_prod")
STATISTICS = ("std", "var")  # reductions that also take correction= (0 by default, as in the array API)
# The array API's manipulation functions that only move elements: permute_dims(x, axes),
# reshape(x, shape), expand_dims(x, axis=0), squeeze(x, axis), moveaxis(x, source, destination) and
# broadcast_to(x, shape) are views in NumPy; flip(x, axis=None) and roll(x, shift, axis=None) copy;
# concat and stack join a tuple of arrays.
SHAPE_FUNCTIONS = ("permute_dims", "reshape", "expand_dims", "squeeze", "moveaxis", "broadcast_to")
REARRANGEMENTS = ("flip", "roll")
JOINS = ("concat", "stack")
ORDERINGS = ("sort", "argsort")  # axis=-1 by default: the shape is kept, the elements (or their indices) ordered
# Each manipulation's options after its array, in positional order, and the defaults of the optional ones.
MANIPULATION_OPTIONS: dict[str, tuple[str, ...]] = {
    "permute_dims": ("axes",), "reshape": ("shape",), "expand_dims": ("axis",), "squeeze": ("axis",),
    "moveaxis": ("source", "destination"), "broadcast_to": ("shape",), "flip": ("axis",), "roll": ("shift", "axis"),
    "sort": ("axis",), "argsort": ("axis",),
}
MANIPULATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "expand_dims": {"axis": 0}, "flip": {"axis": None}, "roll": {"axis": None}, "sort": {"axis": -1},
    "argsort": {"axis": -1},
}
COMPARISONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
# The array API's transposes: ``x.T`` (2-D arrays only), ``x.mT`` and ``matrix_transpose(x)`` (the last two
# axes); ``matmul(a, b)`` is ``a @ b``.
TRANSPOSES = ("matrix_transpose",)
EINSUM_SUBSCRIPTS = re.compile(r"^[a-z]+(,[a-z]+)*->[a-z]*$")
ATTRIBUTES = {"T": "matrix_transpose", "mT": "matrix_transpose"}
FUNCTION_NAMES = (*ELEMENTWISE_FUNCTIONS, *REDUCTIONS, *TRANSPOSES, *SHAPE_FUNCTIONS, *REARRANGEMENTS, *JOINS,
                  *ORDERINGS, "where", "matmul", "vecdot", "einsum")
# The functions whose result holds the operands' elements moved, not computed: views or copies, no FLOPs
# (sort compares, and its comparisons are counted).
MOVES = (*TRANSPOSES, *SHAPE_FUNCTIONS, *REARRANGEMENTS, *JOINS, *ORDERINGS)
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
    return (f"input names, numbers, + - * / ** @, unary -, .T, .mT, slices with constant bounds (x[:, :64]), "
            f"comparisons (< <= > >= == !=) as where()'s condition, and the functions {', '.join(FUNCTION_NAMES)}")


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
class Compare(Node):
    """``left > right`` and the other comparisons: a boolean array, allowed only as where()'s condition."""

    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]
    axis: int | None = None
    keepdims: bool = False
    two_dimensional: bool = False  # x.T: defined for 2-D arrays only
    subscripts: str | None = None  # einsum's "ij,jk->ik"
    axes: tuple[int, ...] | None = None  # permute_dims' axes, reshape's and broadcast_to's shape
    options: tuple[tuple[str, int], ...] = ()  # roll's shift, moveaxis' source and destination
    correction: float = 0  # std and var: the divisor is N - correction


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
        if name in FUNCTION_NAMES:
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
        if isinstance(node, ast.Compare):
            raise ExpressionError("a comparison is allowed only as where()'s condition, like where(x > 0, x, 0)")
        construct = _NODE_NAMES.get(type(node), f"{type(node).__name__} is")
        raise ExpressionError(f"{construct} not allowed; allowed are {allowed_summary()}")

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                f"only calls of the whitelisted functions by name are allowed ({', '.join(FUNCTION_NAMES)})"
            )
        name = node.func.id
        if name not in FUNCTION_NAMES:
            raise ExpressionError(f"unknown function '{name}'; allowed: {', '.join(FUNCTION_NAMES)}")
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise ExpressionError("star arguments are not allowed")
        if name == "einsum":
            return self._einsum(node, depth)
        if name in JOINS:
            return self._join(node, depth)
        if name == "where":
            return self._where(node, depth)
        if name in MANIPULATION_OPTIONS:
            return self._manipulation(node, depth)
        arguments = tuple(self.convert(argument, depth + 1) for argument in node.args)
        if name == "vecdot":
            if len(arguments) != 2:
                raise ExpressionError(f"vecdot() takes 2 arrays, got {len(arguments)}")
            return Call(name, arguments, axis=_keyword_options(node, name, ("axis",)).get("axis", -1))
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
        allowed = ("axis", "keepdims", "correction") if name in STATISTICS else ("axis", "keepdims")
        options = _keyword_options(node, name, allowed)
        if name in SCANS and options.get("keepdims"):
            raise ExpressionError(f"{name}() keeps the shape; it takes no keepdims")
        return Call(name, arguments, axis=options.get("axis"), keepdims=options.get("keepdims", False),
                    correction=options.get("correction", 0))

    def _manipulation(self, node: ast.Call, depth: int) -> Node:
        """permute_dims(x, axes), reshape(x, shape), expand_dims(x, axis=0), squeeze(x, axis),
        moveaxis(x, source, destination), broadcast_to(x, shape), flip(x, axis=None), roll(x, shift, axis=None),
        sort(x, axis=-1), argsort(x, axis=-1): one array, then its options by position or by keyword."""
        name = node.func.id
        names = MANIPULATION_OPTIONS[name]
        if not node.args or len(node.args) > 1 + len(names):
            raise ExpressionError(f"{name}() takes one array and {', '.join(names)}, got {len(node.args)} "
                                  "positional argument(s)")
        options = _keyword_options(node, name, names)
        for option, value in zip(names, node.args[1:]):
            if option in options:
                raise ExpressionError(f"{name}() got {option} twice")
            options[option] = _option_value(option, value, name)
        defaults = MANIPULATION_DEFAULTS.get(name, {})
        missing = [option for option in names if option not in options and option not in defaults]
        if missing:
            example = ", ".join(_OPTION_EXAMPLES[option] for option in names)
            raise ExpressionError(f"{name}() needs its {' and '.join(missing)}, like {name}(x, {example})")
        options = {**defaults, **options}
        array = self.convert(node.args[0], depth + 1)
        return Call(name, (array,), axis=options.get("axis"), axes=options.get("axes", options.get("shape")),
                    options=tuple((option, options[option]) for option in ("shift", "source", "destination")
                                  if option in options))

    def _join(self, node: ast.Call, depth: int) -> Node:
        """concat((a, b), axis=0) and stack((a, b), axis=0): a tuple or list of arrays."""
        name = node.func.id
        if len(node.args) != 1 or not isinstance(node.args[0], (ast.Tuple, ast.List)) or not node.args[0].elts:
            raise ExpressionError(f"{name}() takes a tuple of arrays and axis=, like {name}((a, b), axis=0)")
        options = _keyword_options(node, name, ("axis",))
        arrays = tuple(self.convert(element, depth + 1) for element in node.args[0].elts)
        return Call(name, arrays, axis=options.get("axis", 0))

    def _where(self, node: ast.Call, depth: int) -> Node:
        """where(condition, x1, x2): the condition is one comparison, such as x > 0."""
        if node.keywords or len(node.args) != 3:
            raise ExpressionError("where() takes a condition and two values, like where(x > 0, x, 0), "
                                  "and no keywords")
        condition = node.args[0]
        if not isinstance(condition, ast.Compare):
            raise ExpressionError("where()'s condition must be a comparison, like x > 0")
        if len(condition.ops) != 1:
            raise ExpressionError("where()'s condition must be one comparison; chains like 0 < x < 1 are not "
                                  "allowed")
        operator = COMPARISONS.get(type(condition.ops[0]))
        if operator is None:
            raise ExpressionError(f"the comparison {type(condition.ops[0]).__name__} is not allowed; allowed: "
                                  f"{' '.join(COMPARISONS.values())}")
        compared = Compare(operator, self.convert(condition.left, depth + 1),
                           self.convert(condition.comparators[0], depth + 1))
        return Call("where", (compared, *(self.convert(value, depth + 1) for value in node.args[1:])))

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


_OPTION_EXAMPLES = {"axes": "(1, 0)", "shape": "(2, -1)", "axis": "axis=0", "shift": "1", "source": "0",
                    "destination": "-1"}


def _keyword_options(node: ast.Call, name: str, allowed: Sequence[str]) -> dict[str, Any]:
    """The call's keywords, each a constant of the kind its name takes."""
    options: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg not in allowed:
            shown = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " and " + allowed[-1]
            raise ExpressionError(f"{name}() accepts only the keyword{'s' if len(allowed) > 1 else ''} {shown}, "
                                  f"got {keyword.arg!r}")
        options[keyword.arg] = _option_value(keyword.arg, keyword.value, name)
    return options


def _option_value(option: str, node: ast.AST, name: str) -> Any:
    if option == "axis" and isinstance(node, ast.Constant) and node.value is None and name in ("flip", "roll"):
        return None
    if option in ("axis", "shift", "source", "destination"):
        return _integer_constant(node, f"{name}({option}=...)")
    if option == "keepdims":
        if not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
            raise ExpressionError(f"{name}(keepdims=...) must be True or False")
        return node.value
    if option == "correction":
        value = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd) else node
        if not (isinstance(value, ast.Constant) and isinstance(value.value, (int, float))
                and not isinstance(value.value, bool) and math.isfinite(value.value) and value.value >= 0):
            raise ExpressionError(f"{name}(correction=...) must be a number of at least 0, like correction=1")
        return value.value
    # axes (permute_dims) and shape (reshape): a tuple of integer constants
    if not isinstance(node, (ast.Tuple, ast.List)) or not node.elts:
        raise ExpressionError(f"{name}()'s {option} must be a tuple of integers, like {_OPTION_EXAMPLES[option]}")
    return tuple(_integer_constant(element, f"each of {name}()'s {option}") for element in node.elts)


def _integer_constant(node: ast.AST, what: str) -> int:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return sign * node.value
    raise ExpressionError(f"{what} must be an integer constant")


# --------------------------------------------------------------------------- walking the tree


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
    if isinstance(node, Compare):
        return (node.left, node.right)
    return ()


def walk(node: Node):
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
    return any(predicate(current) for current in walk(node))


def input_names_used(node: Node) -> set[str]:
    return {current.name for current in walk(node) if isinstance(current, Input)}


def has_reduction_or_matmul(node: Node) -> bool:
    """Whether rounding errors grow with the magnitude of summed terms rather than of the result."""
    return _any_node(node, lambda current: (isinstance(current, Call)
                                            and current.function in (*REDUCTIONS, "einsum", "vecdot"))
                     or (isinstance(current, Binary) and current.operator == "@"))


def moves_elements(node: Node) -> bool:
    """Whether the result's elements are not the inputs' elements in place (transposes, slices, reshapes,
    joins, sorts): such a tree cannot be evaluated block by block on flat views."""
    return _any_node(node, lambda current: (isinstance(current, Call) and current.function in MOVES)
                     or isinstance(current, Sliced))
