"""The automatic choice of loss (SPEC S1.4), and the loss a ``loss_function`` option names.

:func:`resolve_loss` looks at the net's outputs on a sample batch, the layer that produced each
(a final Softmax, LogSoftmax or Sigmoid), and the targets, and builds the :class:`LossPlan`.
The rule is in the package's docstring (:mod:`nettrain.losses`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..errors import NetTrainError, describe, did_you_mean, dtype_name
from ..ports import output_ports
from ..scalars import as_real
from .functions import (
    bce,
    bce_each,
    ce_index,
    ce_index_each,
    ce_prob,
    ce_prob_each,
    each_of,
    huber,
    huber_each,
    mae,
    mae_each,
    mean_of,
    mse,
    mse_each,
    nll,
    nll_each,
    nll_of_probs,
    nll_of_probs_each,
)
from .plan import LogitTap, LossPlan, LossTerm

__all__ = ["LOSS_NAMES", "resolve_loss"]

_ALIASES = {
    "cross_entropy": "cross_entropy",
    "crossentropy": "cross_entropy",
    "ce": "cross_entropy",
    "binary_cross_entropy": "binary_cross_entropy",
    "bce": "binary_cross_entropy",
    "mean_squared": "mean_squared",
    "mean_squared_error": "mean_squared",
    "mse": "mean_squared",
    "mean_absolute": "mean_absolute",
    "mean_absolute_error": "mean_absolute",
    "mae": "mean_absolute",
    "l1": "mean_absolute",
    "huber": "huber",
}
LOSS_NAMES = tuple(sorted(set(_ALIASES.values())))


def _final_layers(
    net: nn.Module, forward: Callable[[], object]
) -> tuple[object, dict[int, nn.Module]]:
    """Run ``forward`` once, recording which leaf module produced each output tensor."""
    produced: dict[int, nn.Module] = {}

    def record(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(output, Tensor):
            produced[id(output)] = module

    handles = [m.register_forward_hook(record) for m in net.modules() if not list(m.children())]
    try:
        output = forward()
    finally:
        for h in handles:
            h.remove()
    return output, produced


def _is_probabilities(x: Tensor) -> bool:
    if not x.is_floating_point() or x.ndim < 2 or x.shape[-1] < 2:
        return False
    with torch.no_grad():
        sums = x.detach().sum(-1)
        return bool((x >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4))


def _shape_error(port: str, out: Tensor, t: Tensor, loss: str, automatic: bool) -> NetTrainError:
    """Targets that do not fit the output. With the loss left automatic, the fault is in the
    data or the net, so the error names the data (the user never gave loss_function)."""
    values, per_target = out[0].numel(), t[0].numel()
    expected = f"a target with {values} value(s) per example like the output {tuple(out.shape[1:])}"
    if t.dtype == torch.bool or loss == "binary cross entropy":
        expected = (
            f"{per_target} output(s) per example for {per_target} True/False value(s) per "
            f"example (one output per target value), or {expected}"
        )
        hint = f"end the net with {per_target} output(s), or give class labels for {values} classes"
    elif t.is_floating_point() and out.ndim >= 2 and out.shape[-1] >= 2 and per_target == 1:
        expected = (
            f"integer class labels from 0 to {out.shape[-1] - 1} (or class names) for the "
            f"{out.shape[-1]} outputs, or {values} regression values per example"
        )
        hint = "give the class labels as integers or names: floats are regression targets"
    else:
        hint = "check the data's targets or the net's last layer"
    if not automatic:
        hint += ", or choose another loss_function"
    return NetTrainError(
        "data" if automatic else "loss_function",
        f"the {loss} loss cannot compare output port {port!r} ({values} value(s) per "
        "example) with its target",
        expected=expected,
        received=f"targets of shape {tuple(t.shape[1:])} per example ({dtype_name(t.dtype)})",
        hint=hint,
    )


def _index_targets_fit(out: Tensor, t: Tensor) -> bool:
    """Class indices fit ``out`` [..., C]: one per output row, or a column of them [..., 1]."""
    return out.ndim >= 1 and (out.shape[:-1] == t.shape or t.shape == (*out.shape[:-1], 1))


def _class_term(
    port: str,
    target: str,
    out: Tensor,
    t: Tensor,
    final: nn.Module | None,
    name: str = "cross_entropy",
) -> LossTerm:
    classes = out.shape[-1]
    if not _index_targets_fit(out, t):
        raise NetTrainError(
            "loss_function",
            f"cross-entropy with class-index targets needs one index per output row of {port!r}",
            expected=f"targets of shape {tuple(out.shape[1:-1])} per example "
            f"(the output has {classes} classes in its last dimension)",
            received=f"targets of shape {tuple(t.shape[1:])} per example",
        )
    if isinstance(final, nn.Softmax):
        fn, each, tap, scores = ce_index, ce_index_each, LogitTap(final), "logits"
    elif isinstance(final, nn.LogSoftmax):
        fn, each, tap, scores = nll, nll_each, None, "log_probabilities"
    elif _is_probabilities(out):
        fn, each, tap, scores = nll_of_probs, nll_of_probs_each, None, "probabilities"
    else:
        fn, each, tap, scores = ce_index, ce_index_each, None, "logits"
    # a column of indices [n, 1] (a data frame's label column, say) loses its trailing axis
    squeeze = t.shape != out.shape[:-1]
    return LossTerm(port, target, name, 1.0, fn, each, tap, torch.int64, classes, scores, squeeze)


@dataclass(frozen=True)
class _PortSample:
    """One output port as the loss choice sees it: its sample output and final layer, its target
    column and sample targets (None when the data has none), and the dtype for float targets."""

    port: str
    target: str | None
    out: Tensor
    t: Tensor | None
    final: nn.Module | None
    float_dtype: torch.dtype
    automatic: bool = False  # the loss was chosen by nettrain, not named by the user


def _named_term(name: str, p: _PortSample) -> LossTerm:
    port, target, out, t, final, float_dtype = p.port, p.target, p.out, p.t, p.final, p.float_dtype
    if target is None or t is None:
        raise NetTrainError(
            "loss_function",
            f"the {name} loss needs a target for output port {port!r}, and the data has none",
            expected=f"a target column for {port!r}",
            received="no target column",
        )
    if name == "cross_entropy":
        if not t.is_floating_point():
            return _class_term(port, target, out, t, final)
        if t.shape != out.shape:
            raise _shape_error(port, out, t, name.replace("_", " "), p.automatic)
        tap = LogitTap(final) if isinstance(final, nn.Softmax) else None
        return LossTerm(port, target, name, 1.0, ce_prob, ce_prob_each, tap, float_dtype)
    if out[0].numel() != t[0].numel():
        raise _shape_error(port, out, t, name.replace("_", " "), p.automatic)
    if name == "binary_cross_entropy":
        tap = LogitTap(final) if isinstance(final, nn.Sigmoid) else None
        return LossTerm(port, target, name, 1.0, bce, bce_each, tap, float_dtype)
    table = {
        "mean_squared": (mse, mse_each),
        "mean_absolute": (mae, mae_each),
        "huber": (huber, huber_each),
    }
    fn, each = table[name]
    return LossTerm(port, target, name, 1.0, fn, each, None, float_dtype)


def _auto_term(p: _PortSample) -> LossTerm:
    port, target, out, t, final = p.port, p.target, p.out, p.t, p.final
    if target is None or t is None:
        raise NetTrainError(
            "data",
            f"there is no target for the net's output port {port!r}",
            expected=f"a target column (named 'target' for a single output, or {port!r})",
            received="no matching column",
            hint="add the targets to the data, or return a 'loss' output from the net",
        )
    if t.dtype == torch.bool or isinstance(final, nn.Sigmoid):
        return _named_term("binary_cross_entropy", p)
    if not t.is_floating_point() and not t.is_complex():
        if out.ndim >= 2 and out.shape[-1] >= 2 and _index_targets_fit(out, t):
            return _class_term(port, target, out, t, final)
        return _named_term("mean_squared", p)
    if isinstance(final, nn.Softmax | nn.LogSoftmax) and t.shape == out.shape:
        return _named_term("cross_entropy", p)
    return _named_term("mean_squared", p)


def _custom_term(
    spec: Callable[..., Tensor], port: str, target: str | None, float_dtype: torch.dtype
) -> LossTerm:
    label = (
        type(spec).__name__ if isinstance(spec, nn.Module) else getattr(spec, "__name__", "custom")
    )

    def fn(out: Tensor, t: Tensor) -> Tensor:
        value = spec(out, t) if target is not None else spec(out)
        if not isinstance(value, Tensor):  # a float has no gradient: nothing would train
            raise NetTrainError(
                "loss_function",
                "the loss function did not return a tensor",
                expected="a tensor computed from the output (a scalar, or one value per example)",
                received=describe(value),
                hint="compute the loss with torch operations on the output, not .item() or floats",
            )
        return value if value.ndim == 0 else value.mean()

    # The per-example form (example weights, example_losses): a torch loss module unreduced,
    # else the callable's own values when it gives one per example, else one call per example.
    unreduced = None
    if isinstance(spec, nn.modules.loss._Loss) and getattr(spec, "reduction", None) == "mean":
        unreduced = copy.copy(spec)  # shares the module's tensors (class weights and the like)
        unreduced.reduction = "none"

    def each(out: Tensor, t: Tensor) -> Tensor:
        n = out.shape[0]
        if unreduced is not None:
            value = unreduced(out, t) if target is not None else unreduced(out)
            # a class-weighted module's mean divides by the weights: its per-example values
            # are not its loss of each example, so those are taken one by one
            if value.ndim >= 1 and value.shape[0] == n and getattr(spec, "weight", None) is None:
                return value.reshape(n, -1).mean(1)
        value = spec(out, t) if target is not None else spec(out)
        if isinstance(value, Tensor) and value.ndim == 1 and value.shape[0] == n:
            return value
        return torch.stack([fn(out[i : i + 1], t[i : i + 1]) for i in range(n)])

    return LossTerm(port, target, f"custom:{label}", 1.0, fn, each, None, None)


def _split_weight(spec: object, where: str) -> tuple[object, float]:
    if isinstance(spec, tuple) and len(spec) == 2 and (weight := as_real(spec[1])) is not None:
        if not (weight >= 0 and math.isfinite(weight)):
            raise NetTrainError(
                where, "a loss weight must be a finite number >= 0", received=repr(spec[1])
            )
        return spec[0], weight
    return spec, 1.0


@dataclass
class _Resolver:
    """What the loss choice looks at: the net's named outputs, their final layers, the batch."""

    outputs: dict[str, Tensor]
    finals: dict[str, nn.Module | None]
    targets: tuple[str, ...]
    batch: Mapping[str, Tensor]
    float_dtype: torch.dtype
    binary: frozenset[str] = frozenset()
    classes: Mapping[str, int] = field(default_factory=dict)

    def target_for(self, port: str) -> str | None:
        if port in self.targets:
            return port
        if len(self.outputs) == 1 and len(self.targets) == 1:
            return self.targets[0]
        return None

    def term(self, port: str, one: object, weight: float) -> LossTerm:
        if isinstance(one, str) and one in self.outputs:
            return LossTerm(one, None, "output_is_loss", weight, mean_of, each_of)
        tgt = self.target_for(port)
        t = self.batch[tgt] if tgt is not None else None
        out, final, dtype = self.outputs[port], self.finals[port], self.float_dtype
        sample = _PortSample(port, tgt, out, t, final, dtype, one in ("auto", None))
        key = one.lower().replace(" ", "_") if isinstance(one, str) else None
        if one in ("auto", None):
            if tgt in self.binary:  # booleans / label sets that an encoder made 0/1 floats
                term = _named_term("binary_cross_entropy", sample)
            else:
                if tgt is not None and tgt in self.classes:
                    _check_class_outputs(port, tgt, out, self.classes[tgt])
                term = _auto_term(sample)
        elif key in _ALIASES:
            term = _named_term(_ALIASES[key], sample)
        elif callable(builder := getattr(one, "nettrain_loss_term", None)):
            # A loss object that builds its own term (nettrain.keras' losses): it knows its
            # per-example form, target dtype and what its outputs are (probabilities or
            # logits, and the task), which a bare callable cannot tell the measurements.
            term = builder(port, tgt, out, t, dtype)
            if not isinstance(term, LossTerm):
                raise NetTrainError(
                    "loss_function",
                    "the loss object's nettrain_loss_term() did not return a LossTerm",
                    received=describe(term),
                )
        elif isinstance(one, str):
            raise NetTrainError(
                "loss_function",
                f"unknown loss {one!r}",
                expected=f"a loss name ({', '.join(LOSS_NAMES)}) or an output port name "
                f"({', '.join(self.outputs)})",
                received=repr(one),
                hint=did_you_mean(one, [*_ALIASES, *self.outputs]),
            )
        elif callable(one):
            term = _custom_term(one, port, tgt, dtype)
            if t is not None:
                _check_custom(term, out, t)
        else:
            raise NetTrainError(
                "loss_function",
                "cannot use this as a loss",
                expected='"auto", a loss name, an output port name, an nn.Module, a callable '
                "(output, target) -> loss, (loss, weight) or a dict {port: loss}",
                received=describe(one),
            )
        term.weight = weight
        return term

    def port_terms(self, spec: Mapping[object, object]) -> list[LossTerm]:
        terms = []
        for port, one in spec.items():
            if port not in self.outputs:
                raise NetTrainError(
                    "loss_function",
                    f"the net has no output port {port!r}",
                    expected="one of " + ", ".join(repr(o) for o in self.outputs),
                    received=repr(port),
                    hint=did_you_mean(str(port), self.outputs),
                )
            one, weight = _split_weight(one, f"loss_function[{port!r}]")
            terms.append(self.term(str(port), one, weight))
        return terms


def resolve_loss(
    spec: object,
    net: nn.Module,
    inputs: tuple[str, ...],
    targets: tuple[str, ...],
    batch: Mapping[str, Tensor],
    *,
    float_dtype: torch.dtype = torch.float32,
    binary: tuple[str, ...] = (),
    classes: Mapping[str, int] | None = None,
) -> LossPlan:
    """Choose the loss for every output port from the option, the net and a sample batch.

    Args:
        spec: the ``loss_function`` option: "auto", a loss name (see ``LOSS_NAMES``), an output
            port name, an ``nn.Module`` or callable ``(output, target) -> loss``,
            ``(spec, weight)``, or a dict ``{output port: spec or (spec, weight)}``.
        net: the net (its final layers decide the automatic loss).
        inputs: the columns fed to the net. targets: the other columns.
        batch: a sample batch (a forward pass is run on it once).
        float_dtype: the dtype floating targets are given.
        binary: target columns holding encoded booleans or label sets (0/1 floats), whose
            automatic loss is binary cross-entropy.
        classes: target columns holding class labels encoded as indices, with their number
            of classes: their automatic loss needs one output per class.

    Returns:
        a :class:`LossPlan`.

    Raises:
        NetTrainError: for an unknown name, shapes that do not fit, class labels for an output
            without one value per class, or missing targets.
    """
    with torch.no_grad():
        raw, produced = _final_layers(net, lambda: net(*[batch[n] for n in inputs]))
    outputs = output_ports(raw)
    finals = {port: produced.get(id(t)) for port, t in outputs.items()}
    if isinstance(raw, Tensor) and raw.ndim == 0 and spec in ("auto", None):
        # the net computes its own loss and returns it as a scalar
        return LossPlan(
            [LossTerm("output", None, "output_is_loss", 1.0, mean_of, None)],
            output_is_loss="output",
        )
    if spec in ("auto", None) and "loss" in outputs:
        spec = "loss"
    if isinstance(spec, str) and spec in outputs:
        plan_terms = [LossTerm(spec, None, "output_is_loss", 1.0, mean_of, each_of)]
        return LossPlan(plan_terms, output_is_loss=spec)
    resolver = _Resolver(
        outputs, finals, targets, batch, float_dtype, frozenset(binary), dict(classes or {})
    )
    if isinstance(spec, Mapping):
        return LossPlan(resolver.port_terms(spec))
    spec, weight = _split_weight(spec, "loss_function")
    ports = [p for p in outputs if resolver.target_for(p) is not None] or list(outputs)
    return LossPlan([resolver.term(p, spec, weight) for p in ports])


def _check_class_outputs(port: str, target: str, out: Tensor, classes: int) -> None:
    """Class labels (encoded as indices) need one output per class; anything else would be
    trained silently as a regression on the class indices."""
    if out.ndim >= 2 and out.shape[-1] == classes:
        return
    size = out.shape[-1] if out.ndim >= 2 else 1
    raise NetTrainError(
        "net",
        f"the targets {target!r} are class labels ({classes} classes), but the output port "
        f"{port!r} gives {size} value(s) per example",
        expected=f"one output per class: {classes} values per example",
        received=f"outputs of shape {tuple(out.shape[1:])} per example",
        hint=f"end the net with a layer of {classes} outputs (e.g. nn.Linear(..., {classes})); "
        "for two classes with one output, give True/False targets instead",
    )


def _check_custom(term: LossTerm, out: Tensor, t: Tensor) -> None:
    """Run the user's loss once on the sample (its own wrapper refuses a non-tensor)."""
    try:
        with torch.no_grad():
            term.fn(out, t)
    except NetTrainError:
        raise
    except Exception as exc:  # the user's loss failing on a real batch is a user error
        raise NetTrainError(
            "loss_function",
            f"the loss function raised {type(exc).__name__}: {exc}",
            expected="a callable (output, target) -> scalar tensor",
            received=f"output {describe(out)}, target {describe(t)}",
        ) from exc
