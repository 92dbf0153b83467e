"""Stateless updates: ``(params, grads, state=None, **hyper) -> (params, state)``.

MATLAB's ``adamupdate``, ``rmspropupdate``, ``sgdmupdate`` and ``dlupdate`` (and the engine's
``"adamw"`` and ``"signsgd"`` methods) as functions. Each computes exactly what the engine's
optimizer for that method computes, with the same kernels: the torch updates call
``torch.optim``'s own functional implementations (``torch.optim.adam.adam`` and friends, fused
where the engine uses fused kernels), and signsgd calls :func:`nettrain.optim.signum.signum`,
the function behind the engine's ``Signum``. So a custom loop and ``nettrain.train`` agree step
by step.

Parameters and state:

* ``params`` is an ``nn.Module`` (its parameters are updated **in place** and the module is
  returned, as MATLAB returns the updated ``dlnetwork``; its state tensors are updated in
  place too, like ``torch.optim``'s) or a tree of tensors (a new tree of new tensors is
  returned and a new state: the ones passed in are never changed, so an old state can be kept
  and continued from).
* ``grads`` is what :func:`~nettrain.functional.value_and_grad` returns: ``{name: tensor}`` for
  a module, a tree shaped like ``params`` for a tree (a flat ``{dotted name: tensor}`` works
  too). A ``None`` gradient (an integer leaf, a frozen parameter) leaves that leaf unchanged.
* ``state`` is plain data: ``{"method": ..., "iteration": int, <buffer name>: {parameter name:
  tensor}}``; ``torch.save`` / ``torch.load(weights_only=True)`` round-trip it, and passing it
  back continues the run exactly. ``None`` starts a new one.
* Hyperparameters are numbers (a 0-d tensor is read as a number), checked at every call, so
  the learning rate may change every call (a custom schedule). MATLAB's argument names are
  accepted too (``learnRate``, ``gradDecay``, ``sqGradDecay``, ``squaredGradientDecayFactor``,
  ...), in camelCase or snake_case.

Example (the same step with torch.optim.Adam):

    >>> import torch
    >>> w = torch.tensor([1.0, -1.0])
    >>> params, state = adam_update({"w": w}, {"w": torch.tensor([0.5, 0.25])}, learning_rate=0.1)
    >>> params["w"], state["iteration"]
    (tensor([ 0.9000, -1.1000]), 1)
    >>> ref = torch.nn.Parameter(w.clone()); opt = torch.optim.Adam([ref], lr=0.1, eps=1e-8)
    >>> ref.grad = torch.tensor([0.5, 0.25]); opt.step()
    >>> torch.equal(ref.detach(), params["w"]), w  # the tree passed in is unchanged
    (True, tensor([ 1., -1.]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.optim.adam import adam as _torch_adam
from torch.optim.rmsprop import rmsprop as _torch_rmsprop
from torch.optim.sgd import sgd as _torch_sgd

from ..errors import NetTrainError, describe
from ..optim.signum import signum
from .hyper import (
    EPSILON,
    GRADIENT_DECAY,
    LEARNING_RATE,
    MOMENTUM,
    RATE_NAMES,
    SQUARED_DECAY,
    WEIGHT_DECAY,
    Hyper,
    read_hyper,
)
from .tree import check_leaf, is_trainable, leaf_map, named_leaves, rebuild
from .update_work import buffers, fused_kernels, prepare_work, start_state, step_tensors

__all__ = [
    "adam_update",
    "adamw_update",
    "dl_update",
    "rmsprop_update",
    "sgdm_update",
    "signsgd_update",
]


def _adam(
    method: str,
    params: Any,
    grads: Any,
    state: object,
    hyper: Mapping[str, object],
    weight_decay_default: float,
    decoupled: bool,
) -> tuple[Any, dict[str, Any]]:
    specs = (
        LEARNING_RATE,
        GRADIENT_DECAY,
        SQUARED_DECAY,
        EPSILON,
        Hyper("weight_decay", weight_decay_default, ("l2_regularization",)),
    )
    h = read_hyper(method, hyper, specs)
    work = prepare_work(params, grads, method)
    new = start_state(state, method, ("average_gradient", "average_squared_gradient"), work)
    if work.params:
        fused = fused_kernels(work)
        averages = buffers(new, "average_gradient", work, create=True)
        squares = buffers(new, "average_squared_gradient", work, create=True)
        steps = step_tensors(new, work, fused)
        with torch.no_grad():
            _torch_adam(
                work.params,
                work.grads,
                averages,  # type: ignore[arg-type]  # created above
                squares,  # type: ignore[arg-type]
                [],
                steps,
                foreach=None if fused else True,
                fused=fused or None,
                decoupled_weight_decay=decoupled,
                amsgrad=False,
                beta1=h["gradient_decay"],
                beta2=h["squared_gradient_decay"],
                lr=h["learning_rate"],
                weight_decay=h["weight_decay"],
                eps=h["epsilon"],
                maximize=False,
            )
    new["iteration"] += 1
    return work.result(), new


def adam_update(
    params: Any, grads: Any, state: dict[str, Any] | None = None, **hyper: object
) -> tuple[Any, dict[str, Any]]:
    """One Adam update (MATLAB's ``adamupdate``), as ``torch.optim.Adam`` computes it.

    Kingma and Ba's Algorithm 1, with step ``t = state["iteration"] + 1``::

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        w <- w - learning_rate * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)

    MATLAB's ``adamupdate`` folds both bias corrections into the rate,
    ``w <- w - learning_rate * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)``, which is
    the same update with epsilon scaled by ``sqrt(1 - b2^t)``: the two differ only where ``v`` is
    close to epsilon squared (tiny gradients), most in the first steps.

    Args:
        params: an ``nn.Module`` (updated in place and returned) or a tree of tensors (a new
            tree is returned).
        grads: the gradients, as :func:`~nettrain.functional.value_and_grad` returns them.
        state: None to start, or the state the previous call returned: ``{"method": "adam",
            "iteration": t, "average_gradient": {...}, "average_squared_gradient": {...}}``
            (MATLAB's ``averageGrad``, ``averageSqGrad`` and ``iteration``).
        **hyper: ``learning_rate`` (0.001; MATLAB ``learnRate``), ``gradient_decay`` (0.9;
            ``gradDecay``, ``beta1``), ``squared_gradient_decay`` (0.999; ``sqGradDecay``,
            ``beta2``), ``epsilon`` (1e-8), ``weight_decay`` (0: coupled L2, added to the
            gradient, as torch.optim.Adam's).

    Returns:
        ``(params, state)``.

    Raises:
        NetTrainError: gradients that do not match the parameters, an unknown or out-of-range
            hyperparameter, a state from another update.

    >>> net = torch.nn.Linear(2, 1)
    >>> grads = {n: torch.ones_like(p) for n, p in net.named_parameters()}
    >>> same, state = adam_update(net, grads, learning_rate=0.01)
    >>> same is net, sorted(state["average_gradient"])
    (True, ['bias', 'weight'])
    """
    return _adam("adam_update", params, grads, state, hyper, 0.0, decoupled=False)


def adamw_update(
    params: Any, grads: Any, state: dict[str, Any] | None = None, **hyper: object
) -> tuple[Any, dict[str, Any]]:
    """One AdamW update (the engine's ``"adamw"`` method), as ``torch.optim.AdamW`` computes it.

    :func:`adam_update` with decoupled weight decay: ``w <- w - learning_rate * weight_decay *
    w`` before the Adam step, ``weight_decay`` 0.01 by default (torch's and the engine's).
    Other arguments as :func:`adam_update`; the state's method is ``"adamw_update"``.

    >>> params, state = adamw_update({"w": torch.ones(1)}, {"w": torch.zeros(1)},
    ...                              learning_rate=0.1, weight_decay=0.5)
    >>> params["w"]  # only the decay acts on a zero gradient
    tensor([0.9500])
    """
    return _adam("adamw_update", params, grads, state, hyper, 0.01, decoupled=True)


def rmsprop_update(
    params: Any, grads: Any, state: dict[str, Any] | None = None, **hyper: object
) -> tuple[Any, dict[str, Any]]:
    """One RMSProp update (MATLAB's ``rmspropupdate``), as ``torch.optim.RMSprop`` computes it.

    ::

        s <- d s + (1 - d) g^2;   w <- w - learning_rate * g / (sqrt(s) + epsilon)

    which is MATLAB's formula too. With ``momentum`` > 0 (the engine's ``"rmsprop"`` uses 0.9;
    MATLAB has none) ``b <- momentum b + g / (sqrt(s) + epsilon); w <- w - learning_rate b``.

    Args:
        params, grads: as :func:`adam_update`.
        state: None, or ``{"method": "rmsprop_update", "iteration": t, "average_squared_gradient":
            {...}, "momentum_buffer": {...}}`` (MATLAB's ``averageSqGrad``).
        **hyper: ``learning_rate`` (0.001; ``learnRate``), ``squared_gradient_decay`` (0.9;
            ``sqGradDecay``; torch's ``alpha``), ``epsilon`` (1e-8), ``momentum`` (0),
            ``weight_decay`` (0, coupled L2).

    Returns:
        ``(params, state)``.

    Raises:
        NetTrainError: as :func:`adam_update`.

    >>> params, _ = rmsprop_update({"w": torch.ones(1)}, {"w": torch.ones(1)}, learning_rate=0.1)
    >>> round(params["w"].item(), 4)  # 1 - 0.1 / sqrt(0.1)
    0.6838
    """
    specs = (
        LEARNING_RATE,
        Hyper(
            "squared_gradient_decay",
            0.9,
            ("sq_grad_decay", "squared_gradient_decay_factor", "alpha"),
            high=1.0,
            high_open=True,
        ),
        EPSILON,
        Hyper("momentum", 0.0, (), high=1.0, high_open=True),
        WEIGHT_DECAY,
    )
    method = "rmsprop_update"
    h = read_hyper(method, hyper, specs)
    work = prepare_work(params, grads, method)
    new = start_state(state, method, ("average_squared_gradient", "momentum_buffer"), work)
    if work.params:
        squares = buffers(new, "average_squared_gradient", work, create=True)
        momenta = buffers(new, "momentum_buffer", work, create=h["momentum"] > 0)
        with torch.no_grad():
            _torch_rmsprop(
                work.params,
                work.grads,
                squares,  # type: ignore[arg-type]  # created above
                [],
                momenta if h["momentum"] > 0 else [],  # type: ignore[arg-type]
                step_tensors(new, work, fused=False),
                foreach=True,  # what the engine's RMSprop runs (it has no fused kernel)
                lr=h["learning_rate"],
                alpha=h["squared_gradient_decay"],
                eps=h["epsilon"],
                weight_decay=h["weight_decay"],
                momentum=h["momentum"],
                centered=False,
            )
    new["iteration"] += 1
    return work.result(), new


def sgdm_update(
    params: Any, grads: Any, state: dict[str, Any] | None = None, **hyper: object
) -> tuple[Any, dict[str, Any]]:
    """One SGD-with-momentum update (MATLAB's ``sgdmupdate``), as ``torch.optim.SGD`` computes it.

    torch's form keeps a buffer in gradient units, ``b <- momentum b + g`` (``b = g`` at the
    first step), ``w <- w - learning_rate b``. MATLAB's keeps a velocity in weight units,
    ``v <- momentum v - learning_rate g``, ``w <- w + v``. While the learning rate is constant
    the two give the same weights (``v = -learning_rate b``); when it changes, torch's form
    applies the *new* rate to the whole buffer, MATLAB's only to the new gradient.

    Args:
        params, grads: as :func:`adam_update`.
        state: None, or ``{"method": "sgdm_update", "iteration": t, "momentum_buffer": {...}}``.
        **hyper: ``learning_rate`` (0.01; ``learnRate``), ``momentum`` (0.9), ``weight_decay``
            (0, coupled L2).

    Returns:
        ``(params, state)``.

    Raises:
        NetTrainError: as :func:`adam_update`.

    >>> params, state = sgdm_update({"w": torch.ones(1)}, {"w": torch.ones(1)})
    >>> params, state = sgdm_update(params, {"w": torch.ones(1)}, state)
    >>> round(params["w"].item(), 6)  # 1 - 0.01 * 1 - 0.01 * (0.9 + 1)
    0.971
    """
    specs = (Hyper("learning_rate", 0.01, RATE_NAMES), MOMENTUM, WEIGHT_DECAY)
    method = "sgdm_update"
    h = read_hyper(method, hyper, specs)
    work = prepare_work(params, grads, method)
    new = start_state(state, method, ("momentum_buffer",), work)
    if work.params:
        fused = fused_kernels(work)
        momenta = buffers(new, "momentum_buffer", work, create=False)
        with torch.no_grad():
            _torch_sgd(
                work.params,
                work.grads,
                momenta,
                foreach=None if fused else True,
                fused=fused or None,
                weight_decay=h["weight_decay"],
                momentum=h["momentum"],
                lr=h["learning_rate"],
                dampening=0.0,
                nesterov=False,
                maximize=False,
            )
        if h["momentum"] != 0:  # torch's function created the first buffers in the list
            new["momentum_buffer"].update(zip(work.names, momenta, strict=True))
    new["iteration"] += 1
    return work.result(), new


def signsgd_update(
    params: Any, grads: Any, state: dict[str, Any] | None = None, **hyper: object
) -> tuple[Any, dict[str, Any]]:
    """One sign-of-momentum update (the engine's ``"signsgd"``), by the engine's own function.

    ``m <- momentum m + (1 - momentum) g;  w <- w - learning_rate sign(m)`` (``m`` starts at 0;
    with momentum 0, ``sign(g)``): :func:`nettrain.optim.signum.signum`, the same code the
    engine's ``Signum`` optimizer runs.

    Args:
        params, grads: as :func:`adam_update`.
        state: None, or ``{"method": "signsgd_update", "iteration": t, "momentum_buffer":
            {...}}``.
        **hyper: ``learning_rate`` (0.001), ``momentum`` (0.93, the engine's default),
            ``weight_decay`` (0, coupled L2).

    Returns:
        ``(params, state)``.

    Raises:
        NetTrainError: as :func:`adam_update`.

    >>> params, _ = signsgd_update({"w": torch.zeros(2)}, {"w": torch.tensor([2.0, -3.0])},
    ...                            learning_rate=0.5)
    >>> params["w"]
    tensor([-0.5000,  0.5000])
    """
    specs = (
        LEARNING_RATE,
        Hyper("momentum", 0.93, (), high=1.0, high_open=True),
        WEIGHT_DECAY,
    )
    method = "signsgd_update"
    h = read_hyper(method, hyper, specs)
    work = prepare_work(params, grads, method)
    new = start_state(state, method, ("momentum_buffer",), work)
    if work.params:
        momenta = buffers(new, "momentum_buffer", work, create=False)
        signum(
            work.params,
            work.grads,
            momenta,
            lr=h["learning_rate"],
            momentum=h["momentum"],
            weight_decay=h["weight_decay"],
        )
        if h["momentum"] != 0:
            new["momentum_buffer"].update(zip(work.names, momenta, strict=True))
    new["iteration"] += 1
    return work.result(), new


def dl_update(fn: Callable[..., Any], params: Any, *more: Any) -> Any:
    """Apply ``fn`` to every parameter (MATLAB's ``dlupdate``): custom solvers, penalties, ...

    ``fn(w, *matching)`` is called once per floating-point parameter, with the leaf of each of
    ``more`` that belongs to it (gradients, velocities, ...: shaped like ``params``, flat by
    name, or None), and returns the new value of ``w``, or a tuple ``(w, *others)``.

    Args:
        fn: the function; it runs without gradient tracking.
        params: an ``nn.Module`` (its parameters are set in place and it is returned) or a tree
            (a new tree is returned; the one passed in is unchanged).
        *more: structures matching ``params``.

    Returns:
        The new parameters; when ``fn`` returns tuples of k items, a tuple of k structures:
        the parameters, then the others shaped like ``params`` (``{name: tensor}`` for a
        module). Integer leaves of a tree are kept as they are (and None in the others).

    Raises:
        NetTrainError: ``fn`` not callable, structures that do not match ``params``, ``fn``
            returning a non-tensor, a tensor of another shape, or tuples of varying length.

    Plain SGD, and SGD with a hand-written velocity:

    >>> p = {"w": torch.tensor([1.0, 2.0])}
    >>> g = {"w": torch.tensor([10.0, 10.0])}
    >>> dl_update(lambda w, dw: w - 0.01 * dw, p, g)["w"]
    tensor([0.9000, 1.9000])
    >>> p2, v = dl_update(lambda w, dw, v: (w + (0.9 * v - 0.01 * dw), 0.9 * v - 0.01 * dw),
    ...                   p, g, {"w": torch.zeros(2)})
    >>> v["w"]
    tensor([-0.1000, -0.1000])
    """
    if not callable(fn):
        raise NetTrainError(
            "dl_update: fn",
            "is not callable",
            expected="a function fn(parameter, *matching) returning the new parameter",
            received=describe(fn),
        )
    leaves = named_leaves(params)
    module = params if isinstance(params, nn.Module) else None
    names = [n for n, _ in leaves]
    others = [leaf_map(o, names, f"dl_update: more[{i}]") for i, o in enumerate(more)]
    outputs: dict[str, tuple[Any, ...]] = {}
    width: int | None = None
    with torch.no_grad():
        for name, leaf in leaves:
            if not is_trainable(leaf) or (module is not None and not leaf.requires_grad):
                continue
            out = fn(leaf.detach(), *(o[name] for o in others))
            items = out if isinstance(out, tuple) else (out,)
            if width is not None and len(items) != width:
                raise NetTrainError(
                    "dl_update: fn",
                    "returned tuples of different lengths for different parameters",
                    expected=f"{width} items each time",
                    received=f"{len(items)} items for {name!r}",
                )
            width = len(items)
            check_leaf(name, items[0], leaf, "dl_update: fn's result")
            outputs[name] = items
        if module is not None:
            for name, leaf in leaves:
                if name in outputs:
                    leaf.copy_(outputs[name][0])
    if width is None:  # nothing to update: every leaf is an integer or frozen
        width = 1
    first = (
        module
        if module is not None
        else rebuild(params, {n: outputs[n][0] if n in outputs else leaf for n, leaf in leaves})
    )
    if width == 1:
        return first
    rest = []
    for k in range(1, width):
        values = {n: outputs[n][k] if n in outputs else None for n in names}
        rest.append(
            {n: v for n, v in values.items() if n in outputs}
            if module is not None
            else rebuild(params, values)
        )
    return (first, *rest)
