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

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.adam import adam as _torch_adam
from torch.optim.rmsprop import rmsprop as _torch_rmsprop
from torch.optim.sgd import sgd as _torch_sgd

from ..errors import NetTrainError, describe, did_you_mean
from ..optim.signum import signum
from ..scalars import as_real
from .tree import check_leaf, is_trainable, leaf_map, named_leaves, rebuild

__all__ = [
    "adam_update",
    "adamw_update",
    "dl_update",
    "rmsprop_update",
    "sgdm_update",
    "signsgd_update",
]

# Devices torch has fused optimizer kernels for; the engine asks torch.optim for fused kernels
# (nettrain.optim.builder) and gets them exactly where the parameters are floating point on one
# of these, so the functional updates choose the same way and run the same kernels.
_FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class _Hyper:
    """One hyperparameter: its name, default, MATLAB's other names, and its allowed range."""

    name: str
    default: float
    aliases: tuple[str, ...] = ()
    low: float = 0.0
    high: float = math.inf
    high_open: bool = False

    def read(self, value: object, method: str) -> float:
        number = float(value) if isinstance(value, Tensor) and value.numel() == 1 else None
        number = as_real(value) if number is None else number
        interval = f"a number in [{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if math.isinf(self.high):
            interval = f"a finite number >= {self.low:g}"
        if number is None:
            raise NetTrainError(
                f"{method}: {self.name}",
                "must be a number",
                expected=interval,
                received=describe(value),
            )
        above_high = number >= self.high if self.high_open else number > self.high
        if not math.isfinite(number) or number < self.low or above_high:
            raise NetTrainError(
                f"{method}: {self.name}",
                "is out of range",
                expected=interval,
                received=repr(value),
            )
        return number


_RATE = ("learn_rate", "initial_learn_rate", "lr")
_LEARNING_RATE = _Hyper("learning_rate", 0.001, _RATE)
_GRADIENT_DECAY = _Hyper(
    "gradient_decay",
    0.9,
    ("grad_decay", "gradient_decay_factor", "beta1"),
    high=1.0,
    high_open=True,
)
_SQUARED_DECAY = _Hyper(
    "squared_gradient_decay",
    0.999,
    ("sq_grad_decay", "squared_gradient_decay_factor", "beta2"),
    high=1.0,
    high_open=True,
)
_EPSILON = _Hyper("epsilon", 1e-8, ("eps",), low=0.0)
_MOMENTUM = _Hyper("momentum", 0.9, (), high=1.0, high_open=True)
_WEIGHT_DECAY = _Hyper("weight_decay", 0.0, ("l2_regularization",))


def _read_hyper(
    method: str, given: Mapping[str, object], specs: tuple[_Hyper, ...]
) -> dict[str, float]:
    """The hyperparameters of one call: each canonical or MATLAB name once, every value checked."""
    by_name: dict[str, _Hyper] = {}
    for spec in specs:
        for name in (spec.name, *spec.aliases):
            by_name[name] = spec
    values: dict[str, float] = {}
    seen: dict[str, str] = {}
    for key, value in given.items():
        found = by_name.get(_snake(key))
        if found is None:
            raise NetTrainError(
                method,
                f"unknown hyperparameter {key!r}",
                expected=", ".join(s.name for s in specs),
                received=repr(key),
                hint=did_you_mean(_snake(key), list(by_name)),
            )
        if found.name in seen:
            raise NetTrainError(
                method,
                f"{found.name} is given twice, as {seen[found.name]!r} and as {key!r}",
                expected="each hyperparameter once",
                received=f"{seen[found.name]}=..., {key}=...",
            )
        seen[found.name] = key
        values[found.name] = found.read(value, method)
    for spec in specs:
        values.setdefault(spec.name, spec.default)
    return values


@dataclass
class _Work:
    """The tensors one update works on: parameters, gradients and their names."""

    module: nn.Module | None
    template: Any
    names: list[str]  # the leaves being updated, in order
    params: list[Tensor]  # the tensors updated in place (the module's, or copies of a tree's)
    grads: list[Tensor]
    untouched: dict[str, Tensor]  # a tree's other leaves (no gradient, or not floating point)

    def result(self) -> Any:
        """The updated parameters: the module itself, or a new tree."""
        if self.module is not None:
            return self.module
        values = dict(self.untouched)
        values.update(zip(self.names, self.params, strict=True))
        return rebuild(self.template, values)


def _work(params: Any, grads: Any, method: str) -> _Work:
    """Match ``grads`` to ``params``; copy a tree's parameters (its caller keeps the originals)."""
    leaves = named_leaves(params)
    module = params if isinstance(params, nn.Module) else None
    names = [n for n, _ in leaves]
    matched = leaf_map(grads, names, f"{method}: grads", allow_missing=module is not None)
    work = _Work(module, params, [], [], [], {})
    for name, leaf in leaves:
        grad = matched[name]
        trainable = is_trainable(leaf) and (module is None or leaf.requires_grad)
        if grad is None or not trainable:
            work.untouched[name] = leaf
            continue
        grad = check_leaf(name, grad, leaf, f"{method}: grads")
        work.names.append(name)
        work.params.append(leaf if module is not None else leaf.detach().clone())
        work.grads.append(grad.detach().to(dtype=leaf.dtype, device=leaf.device))
    return work


def _new_state(state: object, method: str, buffers: tuple[str, ...], work: _Work) -> dict[str, Any]:
    """The state to update: ``state``'s buffers (copied for a tree), or a new state."""
    if state is None:
        return {"method": method, "iteration": 0, **{b: {} for b in buffers}}
    if not isinstance(state, Mapping) or state.get("method") != method:
        raise NetTrainError(
            f"{method}: state",
            "is not the state of this update",
            expected=f"None (a new run) or the state a previous {method} call returned",
            received=f"the state of {state.get('method')!r}"
            if isinstance(state, Mapping) and "method" in state
            else describe(state),
            hint="keep one state per update function (and per set of parameters)",
        )
    iteration = state.get("iteration")
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
        raise NetTrainError(
            f"{method}: state",
            "has no valid iteration count",
            expected="state['iteration'], an int >= 0",
            received=describe(iteration),
        )
    copy = work.module is None
    out: dict[str, Any] = {"method": method, "iteration": iteration}
    for buffer in buffers:
        saved = state.get(buffer)
        if not isinstance(saved, Mapping):
            raise NetTrainError(
                f"{method}: state",
                f"has no {buffer!r} buffers",
                expected=f"state[{buffer!r}], a dict of tensors by parameter name",
                received=describe(saved),
            )
        out[buffer] = {
            name: (value.clone() if copy else value) if isinstance(value, Tensor) else value
            for name, value in saved.items()
        }
        for name, like in zip(work.names, work.params, strict=True):
            if name in out[buffer]:
                check_leaf(name, out[buffer][name], like, f"{method}: state[{buffer!r}]")
    return out


def _buffers(state: dict[str, Any], key: str, work: _Work, create: bool) -> list[Tensor | None]:
    """State ``key``'s tensor for each updated parameter: zeros when new (or None, for the torch
    functions that create their own)."""
    store = state[key]
    found = []
    for name, p in zip(work.names, work.params, strict=True):
        if name not in store and create:
            store[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
        found.append(store.get(name))
    return found


def _fused(work: _Work) -> bool:
    return all(p.device.type in _FUSED_DEVICES and p.is_floating_point() for p in work.params)


def _steps(state: dict[str, Any], work: _Work, fused: bool) -> list[Tensor]:
    """The iteration count as the per-parameter step tensors torch's functional updates read.

    Their dtype and device are the ones ``torch.optim`` gives its own step counters (float32 on
    the parameter's device for fused kernels, the default float dtype on the CPU otherwise), so
    the bias corrections are computed from the same numbers.
    """
    iteration = float(state["iteration"])
    if fused:
        return [torch.tensor(iteration, dtype=torch.float32, device=p.device) for p in work.params]
    dtype = torch.get_default_dtype()
    return [torch.tensor(iteration, dtype=dtype) for _ in work.params]


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
        _LEARNING_RATE,
        _GRADIENT_DECAY,
        _SQUARED_DECAY,
        _EPSILON,
        _Hyper("weight_decay", weight_decay_default, ("l2_regularization",)),
    )
    h = _read_hyper(method, hyper, specs)
    work = _work(params, grads, method)
    new = _new_state(state, method, ("average_gradient", "average_squared_gradient"), work)
    if work.params:
        fused = _fused(work)
        averages = _buffers(new, "average_gradient", work, create=True)
        squares = _buffers(new, "average_squared_gradient", work, create=True)
        steps = _steps(new, work, fused)
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
        _LEARNING_RATE,
        _Hyper(
            "squared_gradient_decay",
            0.9,
            ("sq_grad_decay", "squared_gradient_decay_factor", "alpha"),
            high=1.0,
            high_open=True,
        ),
        _EPSILON,
        _Hyper("momentum", 0.0, (), high=1.0, high_open=True),
        _WEIGHT_DECAY,
    )
    method = "rmsprop_update"
    h = _read_hyper(method, hyper, specs)
    work = _work(params, grads, method)
    new = _new_state(state, method, ("average_squared_gradient", "momentum_buffer"), work)
    if work.params:
        squares = _buffers(new, "average_squared_gradient", work, create=True)
        momenta = _buffers(new, "momentum_buffer", work, create=h["momentum"] > 0)
        with torch.no_grad():
            _torch_rmsprop(
                work.params,
                work.grads,
                squares,  # type: ignore[arg-type]  # created above
                [],
                momenta if h["momentum"] > 0 else [],  # type: ignore[arg-type]
                _steps(new, work, fused=False),
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
    specs = (_Hyper("learning_rate", 0.01, _RATE), _MOMENTUM, _WEIGHT_DECAY)
    method = "sgdm_update"
    h = _read_hyper(method, hyper, specs)
    work = _work(params, grads, method)
    new = _new_state(state, method, ("momentum_buffer",), work)
    if work.params:
        fused = _fused(work)
        buffers = _buffers(new, "momentum_buffer", work, create=False)
        with torch.no_grad():
            _torch_sgd(
                work.params,
                work.grads,
                buffers,
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
            new["momentum_buffer"].update(zip(work.names, buffers, strict=True))
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
        _LEARNING_RATE,
        _Hyper("momentum", 0.93, (), high=1.0, high_open=True),
        _WEIGHT_DECAY,
    )
    method = "signsgd_update"
    h = _read_hyper(method, hyper, specs)
    work = _work(params, grads, method)
    new = _new_state(state, method, ("momentum_buffer",), work)
    if work.params:
        buffers = _buffers(new, "momentum_buffer", work, create=False)
        signum(
            work.params,
            work.grads,
            buffers,
            lr=h["learning_rate"],
            momentum=h["momentum"],
            weight_decay=h["weight_decay"],
        )
        if h["momentum"] != 0:
            new["momentum_buffer"].update(zip(work.names, buffers, strict=True))
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
