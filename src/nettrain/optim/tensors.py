"""Updates of loose tensors (no net): what TF.js's ``optimizer.minimize`` and Keras'
``apply_gradients`` run on.

:class:`TensorSteps` keeps one :class:`~nettrain.optim.updater.Updater` per set of variables,
built by :func:`build_tensor_updater` (the same ``torch.optim`` class and
settings the engine uses for the method), so optimizer state carries over from call to call.
:func:`loss_and_gradients` evaluates a loss function and differentiates it, finding the
variables in the autograd graph when none are given.

Example:
    >>> import torch
    >>> w = torch.tensor([3.0], requires_grad=True)
    >>> steps = TensorSteps()
    >>> for _ in range(3):
    ...     loss, variables, grads = loss_and_gradients(lambda: (w**2).sum())
    ...     steps.step(("sgd", {"learning_rate": 0.25, "momentum": 0.0}), variables, grads)
    >>> w.detach(), w.grad is None
    (tensor([0.3750]), True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from ..errors import NetTrainError, describe

# The builder's own optimizer factory: loose tensors get exactly the engine's torch optimizer.
from .builder import _make_optimizer
from .methods import MethodSpec, parse_method
from .updater import Updater, ValueGroups

__all__ = [
    "TensorSteps",
    "build_tensor_updater",
    "check_variables",
    "loss_and_gradients",
    "trainable_leaves",
]

Gradients = list[torch.Tensor | None]


def build_tensor_updater(
    tensors: Sequence[torch.Tensor], spec: MethodSpec | object, *, fused: bool | None = None
) -> Updater:
    """Build the :class:`Updater` for loose tensors (no net): the Keras face's Core API.

    The same optimizer, with the same settings, that :func:`build_updater` makes for a net whose
    parameters are ``tensors`` with no multipliers: one param group, named ``"0"``, ``"1"``, ...
    in the order given. Without a net there are no parts, so ``l2_regularization``,
    ``gradient_clipping`` and ``weight_clipping`` must be one number for all (or None).

    Args:
        tensors: leaf tensors with ``requires_grad=True``, each at most once.
        spec: a :class:`MethodSpec` or anything :func:`~nettrain.optim.parse_method` reads.
        fused: as for :func:`build_updater`.

    Returns:
        An :class:`Updater` whose ``step()`` updates ``tensors`` from their ``.grad``.

    Raises:
        NetTrainError: no tensors, a tensor that is not a floating-point leaf requiring grad, a
            tensor given twice, per-part values, a learning-rate schedule (it needs the planned
            number of updates, which loose steps do not have), lbfgs (it needs a closure) or
            gradient accumulation (each call is one update).

    Example:
        >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
        >>> updater = build_tensor_updater([w], ("sgd", {"momentum": 0.0}))
        >>> w.grad = torch.tensor([1.0, 1.0])
        >>> _ = updater.step()
        >>> w.detach()
        tensor([ 0.9900, -2.0100])
    """
    if not isinstance(spec, MethodSpec):
        spec = parse_method(spec)
    tensors = check_variables(tensors)
    if not tensors:
        raise NetTrainError("var_list", "no variables to update", expected="at least one tensor")
    for key in ("l2_regularization", "gradient_clipping", "weight_clipping"):
        if getattr(spec, key) is not None and not isinstance(getattr(spec, key), int | float):
            raise NetTrainError(
                f"method[{key!r}]",
                "loose tensors have no parts, so this takes one number for all",
                expected="a number or None",
                received=describe(getattr(spec, key)),
            )
    if spec.schedule is not None or spec.name == "lbfgs":
        what = "a learning_rate_schedule" if spec.schedule is not None else "lbfgs"
        raise NetTrainError(
            "method",
            f"{what} cannot drive loose steps: a schedule needs the planned number of updates "
            "and lbfgs a closure",
            received=repr(spec.describe()),
            hint="set the learning rate between steps instead, or train a net with train()",
        )
    if spec.gradient_accumulation > 1:
        raise NetTrainError(
            "method['gradient_accumulation']",
            "loose steps update at every call: there are no batches to group",
            expected="1 (or leave it out)",
            received=repr(spec.gradient_accumulation),
            hint="sum the gradients of k calls yourself and step once, or train a net with train()",
        )
    l2_default = float(spec.hyper["weight_decay"]) if spec.name == "adamw" else 0.0
    l2 = l2_default if spec.l2_regularization is None else float(spec.l2_regularization)  # type: ignore[arg-type]
    names = [str(i) for i in range(len(tensors))]
    groups = [{"params": tensors, "lr": spec.learning_rate, "weight_decay": l2}]
    optimizer, implementation = _make_optimizer(spec, groups, fused)

    def bound(value: object) -> ValueGroups:
        return [] if value is None else [(float(value), tensors)]  # type: ignore[arg-type]

    updater = Updater(
        spec=spec,
        optimizer=optimizer,
        implementation=implementation,
        parameters=tensors,
        multipliers=dict.fromkeys(names, 1.0),
        frozen=[],
        schedule=None,
        total_steps=None,
        reversed_parameters=[],
        gradient_clipping=bound(spec.gradient_clipping),
        weight_clipping=bound(spec.weight_clipping),
        closure_l2=[],
    )
    if spec.state is not None:
        spec.state.restore(updater)
    return updater


class TensorSteps:
    """One updater per set of variables; :meth:`step` applies given gradients to them.

    Attributes:
        steps: how many updates :meth:`step` has made, over all sets.
    """

    def __init__(self) -> None:
        # Keyed by the variables' ids: the updater holds the tensors, so no id is reused.
        self._updaters: dict[frozenset[int], Updater] = {}
        self._seen: dict[frozenset[int], int] = {}  # the shared state's version each one has
        self.steps = 0

    def set_learning_rate(self, rate: float) -> None:
        """Make every live updater use ``rate`` from its next step on (state is kept)."""
        for updater in self._updaters.values():
            updater.initial_learning_rate = rate
            for group in updater.optimizer.param_groups:
                group["lr"] = rate

    def step(self, method: object, variables: list[torch.Tensor], grads: Gradients) -> None:
        """Update ``variables`` from ``grads`` with the updater of that set of variables.

        Args:
            method: the ``method`` option, used only the first time this set is seen.
            variables: checked trainable tensors (see :func:`check_variables`).
            grads: one gradient per variable, of its shape and dtype, or None to leave the
                variable (and its optimizer state) alone, as ``torch.optim`` does.

        Raises:
            NetTrainError: every gradient is None.
        """
        if all(g is None for g in grads):
            raise NetTrainError(
                "var_list",
                "the loss depends on none of these variables",
                received=f"{len(variables)} tensors",
            )
        key = frozenset(map(id, variables))
        spec = parse_method(method)
        updater = self._updaters.get(key)
        carry = spec.state
        if updater is None:
            updater = build_tensor_updater(variables, spec)
            self._updaters[key] = updater
        elif carry is not None and self._seen.get(key) != carry.version:
            carry.restore(updater)  # a run (fit) moved the shared state on since
        # torch.optim reads .grad: lend it the gradients, then give the user's back.
        saved = [v.grad for v in variables]
        try:
            for v, g in zip(variables, grads, strict=True):
                v.grad = g
            updater.step()
        finally:
            for v, g in zip(variables, saved, strict=True):
                v.grad = g
        self.steps += 1
        if carry is not None:
            carry.keep(updater, 1)
            self._seen[key] = carry.version


def check_variables(var_list: object, argument: str = "var_list") -> list[torch.Tensor]:
    """``var_list`` as a list of trainable tensors: floating-point leaves requiring grad.

    Raises:
        NetTrainError: not an iterable of tensors, a tensor that is not trainable, or one given
            twice (naming its index).
    """
    if isinstance(var_list, torch.Tensor) or not isinstance(var_list, Iterable):
        raise NetTrainError(argument, "must be a list of tensors", received=describe(var_list))
    variables = list(var_list)
    for i, v in enumerate(variables):
        if not (
            isinstance(v, torch.Tensor) and v.is_leaf and v.requires_grad and v.is_floating_point()
        ):
            raise NetTrainError(
                f"{argument}[{i}]",
                "not a trainable tensor",
                expected="a floating-point leaf tensor with requires_grad=True",
                received=describe(v),
            )
    if len({id(v) for v in variables}) != len(variables):
        raise NetTrainError(argument, "a tensor is given twice")
    return variables


def trainable_leaves(loss: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors requiring grad that ``loss`` depends on, in first-found order.

    Found from the autograd graph: each leaf is the ``variable`` of an ``AccumulateGrad`` node.
    Graphs that hide their leaves (reentrant checkpointing) need an explicit list.

    >>> a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    >>> [t is a for t in trainable_leaves((a * 2 + b).sum())]
    [True, False]
    """
    if loss.grad_fn is None:
        return [loss] if loss.requires_grad else []  # the loss is itself a variable
    found: dict[int, torch.Tensor] = {}
    seen: set[object] = set()
    stack: list[Any] = [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node in seen:  # a node reached by two paths is walked once
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if isinstance(variable, torch.Tensor):
            found.setdefault(id(variable), variable)
        stack.extend(n for n, _ in reversed(node.next_functions) if n is not None)
    return list(found.values())


def loss_and_gradients(
    f: Callable[[], torch.Tensor], var_list: object = None
) -> tuple[torch.Tensor, list[torch.Tensor], Gradients]:
    """Evaluate ``f()`` and its gradient with respect to ``var_list`` (default: its leaves).

    Args:
        f: a function of no arguments returning a one-element floating-point tensor.
        var_list: the variables, or None for every trainable leaf the loss depends on.

    Returns:
        ``(loss, variables, gradients)``; a variable the loss does not depend on gets None.
        The variables' ``.grad`` are not touched.

    Raises:
        NetTrainError: ``f`` not callable, a loss that is not a one-element floating-point
            tensor depending on a tensor that requires grad, no variables, a bad variable.
    """
    if not callable(f):
        raise NetTrainError(
            "f", "must be a function of no arguments returning the loss", received=describe(f)
        )
    with torch.enable_grad():
        loss = f()
    if not (isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.is_floating_point()):
        raise NetTrainError(
            "f",
            "must return a scalar loss tensor",
            expected="a floating-point tensor with one element",
            received=describe(loss),
            hint="reduce it, e.g. with .mean()",
        )
    if not loss.requires_grad:
        raise NetTrainError(
            "f",
            "the loss does not depend on any tensor with requires_grad=True",
            received=describe(loss),
            hint="create the variables with requires_grad=True (and not under torch.no_grad())",
        )
    variables = trainable_leaves(loss) if var_list is None else check_variables(var_list)
    if not variables:
        raise NetTrainError("var_list", "no variables to update", expected="at least one tensor")
    grads = torch.autograd.grad(loss.reshape(()), variables, allow_unused=True)
    return loss, variables, list(grads)
