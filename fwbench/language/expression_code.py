"""The expression tree as a Python function written with one framework's ops.

The function is generated from the validated tree (never from the spec's text) as the code a user would
write: ``x + x*x + x*x*x`` becomes ``def expression_function(x): return x + x * x + x * x * x``, compiled by
Python.  Each temporary is freed when its last use has passed, exactly as in hand-written code.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Sequence

from fwbench.language.expression import (
    BINARY_OPERATORS,
    COMPARISONS,
    JOINS,
    MOVES,
    REDUCTIONS,
    STATISTICS,
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
    walk,
)

OPERATOR_NODES = {symbol: node_type for node_type, symbol in (*BINARY_OPERATORS.items(), *COMPARISONS.items())}
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
    return sorted((current for current in walk(node) if isinstance(current, Bound)),
                  key=lambda bound: bound.position)


def _functions_used(node: Node, magnitude: bool) -> set[str]:
    names = {current.function for current in walk(node) if isinstance(current, Call)}
    # The magnitude evaluation bounds where() by maximum() and std()/var() by the mean of squares.
    return names | {"abs", "maximum", "mean", "sqrt"} if magnitude else names


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
    if isinstance(node, Compare):
        return ast.Compare(_expression_ast(node.left, magnitude), [OPERATOR_NODES[node.operator]()],
                           [_expression_ast(node.right, magnitude)])
    if isinstance(node, Call):
        arguments = [_expression_ast(argument, magnitude) for argument in node.arguments]
        axis = [] if node.axis is None else [ast.keyword("axis", ast.Constant(node.axis))]
        if node.function == "einsum":
            return _call_ast("einsum", [ast.Constant(node.subscripts), *arguments])
        if node.function == "where":
            # Either value can be chosen: its magnitude is at most the larger of the two.
            return _call_ast("maximum", arguments[1:]) if magnitude else _call_ast("where", arguments)
        if node.function in JOINS:
            return _call_ast(node.function, [ast.Tuple(arguments, ast.Load())], axis)
        if node.function in ("roll", "moveaxis"):
            values = [ast.Constant(value) for _, value in node.options]
            return _call_ast(node.function, [*arguments, *values], axis)
        if node.function in ("permute_dims", "reshape", "broadcast_to"):
            return _call_ast(node.function, [*arguments, ast.Tuple([ast.Constant(value) for value in node.axes],
                                                                   ast.Load())])
        if node.function in MOVES:
            return _call_ast(node.function, arguments, axis)
        if node.function in REDUCTIONS:
            keywords = list(axis)
            if node.keepdims:
                keywords.append(ast.keyword("keepdims", ast.Constant(True)))
            if node.function in STATISTICS and magnitude:
                # The rounding error of a variance grows with the mean of the squares, not with the variance.
                mean_square = _call_ast("mean", [ast.BinOp(arguments[0], ast.Mult(), arguments[0])], keywords)
                return _call_ast("sqrt", [mean_square]) if node.function == "std" else mean_square
            if node.function in STATISTICS and node.correction:
                keywords.append(ast.keyword("correction", ast.Constant(node.correction)))
            return _call_ast(node.function, arguments, keywords)
        call = _call_ast(node.function, arguments, axis)  # element-wise functions and vecdot
        return _call_ast("abs", [call]) if magnitude else call
    raise ExpressionError(f"unknown node {node!r}")
