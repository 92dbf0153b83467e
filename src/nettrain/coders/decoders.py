"""Decoders: net outputs -> answers (class names, probabilities, booleans).

A decoder reads the raw output of a net, one row per example, and computes a *property* of it:
``"decision"`` by default, or ``("top_probabilities", 3)``, ``"entropy"``... Decoders take no
part in training (the loss sees the raw output).

Properties are given as a name, or as a ``(name, argument)`` pair for those that take one.

Example:
    >>> import torch
    >>> dec = ClassDecoder(classes=("cat", "dog"))
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    >>> dec.decode(logits)
    ['cat', 'dog']
    >>> [round(p, 3) for p in dec.decode(logits, ("probability", "dog"))]
    [0.119, 0.953]
    >>> BooleanDecoder().decode(torch.tensor([1.5, -0.2]))
    [True, False]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import NetTrainError, describe, did_you_mean
from .base import build, check_choice, plain, quote_list

__all__ = ["BooleanDecoder", "ClassDecoder", "Decoder", "decoder_from_config"]

Prop = str | tuple[str, Any]

_CLASS_PROPS = (
    "decision",
    "top_decisions",
    "top_probabilities",
    "probabilities",
    "probability",
    "entropy",
    "random_sample",
)
_MULTILABEL_PROPS = ("decision", "probabilities", "probability", "entropy")
_BOOLEAN_PROPS = ("decision", "probability", "entropy", "random_sample")
_SAMPLE_OPTIONS = ("temperature", "top_p", "top_k")


def _split_prop(prop: Any, valid: tuple[str, ...], what: str) -> tuple[str, Any]:
    """``prop`` as (name, argument or None), checked against ``valid``."""
    if isinstance(prop, tuple) and len(prop) == 2 and isinstance(prop[0], str):
        name, arg = prop
    elif isinstance(prop, str):
        name, arg = prop, None
    else:
        raise NetTrainError(
            "prop",
            f"a {what} property is a name or a (name, argument) pair",
            expected="e.g. 'decision' or ('top_probabilities', 3)",
            received=describe(prop),
        )
    if name not in valid:
        raise NetTrainError(
            "prop",
            f"unknown property {name!r} of the {what}",
            expected="one of " + quote_list(valid),
            hint=did_you_mean(name, valid),
        )
    return name, arg


def _count(arg: Any, default: int, name: str) -> int:
    if arg is None:
        return default
    if isinstance(arg, bool) or not isinstance(arg, int) or arg < 1:
        raise NetTrainError(
            "prop", f"{name} takes a positive number of classes", received=repr(arg)
        )
    return min(arg, default)


class Decoder:
    """Base of the decoders: frozen dataclasses with ``kind``, ``decode`` and a JSON config."""

    kind: ClassVar[str] = "decoder"

    def decode(
        self,
        output: torch.Tensor,
        prop: Prop = "decision",
        *,
        generator: torch.Generator | None = None,
    ) -> list[Any]:
        """One answer per example; see the subclass."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The decoder as a JSON-able dict."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:  # type: ignore[attr-defined]
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        """Rebuild a decoder from :meth:`config`'s dict."""
        return build(cls, config, what="decoder")

    def describe(self) -> str:
        """A one-line summary for users."""
        raise NotImplementedError


SCORES = ("logits", "probabilities", "log_probabilities")


def _check_scores(scores: str, threshold: float) -> None:
    """Check the ``scores`` and ``threshold`` fields that the class and boolean decoders share."""
    check_choice("scores", scores, SCORES)
    if not 0 < threshold < 1:
        raise NetTrainError("threshold", "must be in (0, 1)", received=repr(threshold))


def _as_float(output: Any) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        output = torch.as_tensor(output)
    # float64 on the CPU: answers are Python numbers, and tiny probabilities must not round to 0
    return output.detach().to("cpu", torch.float64)


def _sample_options(arg: Any) -> tuple[float, float | None, int | None]:
    if arg is None:
        return 1.0, None, None
    if isinstance(arg, (int, float)) and not isinstance(arg, bool):
        arg = {"temperature": arg}
    if not isinstance(arg, Mapping):
        raise NetTrainError(
            "prop",
            "random_sample takes a temperature or a dict of options",
            expected="e.g. ('random_sample', {'temperature': 0.7, 'top_p': 0.9, 'top_k': 5})",
            received=describe(arg),
        )
    for key in arg:
        if key not in _SAMPLE_OPTIONS:
            raise NetTrainError(
                "prop",
                f"unknown random_sample option {key!r}",
                hint=did_you_mean(str(key), _SAMPLE_OPTIONS),
            )
    t = arg.get("temperature", 1.0)
    top_p = arg.get("top_p")
    top_k = arg.get("top_k")
    if not isinstance(t, (int, float)) or t < 0:
        raise NetTrainError("prop", "temperature must be a number >= 0", received=repr(t))
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise NetTrainError("prop", "top_p must be in (0, 1]", received=repr(top_p))
    if top_k is not None:
        top_k = _count(top_k, 2**62, "top_k")
    return float(t), top_p, top_k


def _sample(
    log_p: torch.Tensor,
    arg: Any,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Sampled class indices [n] from log-probabilities [n, C] (temperature, top-k, top-p)."""
    temperature, top_p, top_k = _sample_options(arg)
    if temperature == 0:
        return log_p.argmax(-1)
    scores = log_p / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = scores.topk(top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, -math.inf)
    probs = torch.softmax(scores, dim=-1)
    if top_p is not None:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # keep the smallest prefix whose total reaches top_p: drop a class when the classes
        # before it already reach it (the first class is always kept)
        before = sorted_p.cumsum(-1) - sorted_p
        drop = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before >= top_p)
        probs = probs.masked_fill(drop, 0.0)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@dataclass(frozen=True)
class ClassDecoder(Decoder):
    """Scores over classes ``[n, C]`` -> class names, probabilities, entropies, samples.

    Args:
        classes: the class names, in the order of the output's last dimension.
        multilabel: independent sigmoids per class instead of one softmax.
        scores: what the net outputs: ``"logits"`` (raw scores, the default: the decoder
            applies softmax, or a sigmoid per class when multilabel), ``"probabilities"`` (a
            net ending in Softmax/Sigmoid: used as they are) or ``"log_probabilities"`` (a net
            ending in LogSoftmax: exponentiated). ``train`` sets it from the net's last layer,
            so the probabilities a ``Net`` reports are the module's own.
        threshold: multilabel decision threshold on each class probability.

    Properties (``prop``): ``"decision"``; ``("top_decisions", k)``; ``("top_probabilities", k)``
    (``(name, p)`` pairs, highest first; without k: all classes); ``"probabilities"`` (dict);
    ``("probability", name)``; ``"entropy"`` (nats); ``"random_sample"`` or
    ``("random_sample", t)`` or ``("random_sample", {"temperature": t, "top_p": p, "top_k": k})``
    (pass ``generator=torch.Generator()`` for reproducible samples). Multilabel: ``"decision"``
    (list of names at or above the threshold), ``"probabilities"``, ``("probability", name)``,
    ``"entropy"`` (sum of the per-class binary entropies).

    Raises:
        NetTrainError: an unknown property (with close matches), an unknown class name, an
            output whose last dimension is not the number of classes.

    >>> import torch
    >>> dec = ClassDecoder(classes=("a", "b", "c"), scores="probabilities")
    >>> dec.decode(torch.tensor([[0.25, 0.5, 0.25]]), ("top_probabilities", 2))
    [[('b', 0.5), ('a', 0.25)]]
    """

    kind: ClassVar[str] = "class"
    classes: tuple[Any, ...]
    multilabel: bool = False
    scores: str = "logits"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        classes = tuple(plain(c) for c in self.classes)
        if not classes or len(set(classes)) != len(classes):
            raise NetTrainError(
                "classes", "needs at least one class name, all different", received=repr(classes)
            )
        object.__setattr__(self, "classes", classes)
        _check_scores(self.scores, self.threshold)

    def _probabilities(self, output: Any) -> torch.Tensor:
        x = _as_float(output)
        count = len(self.classes)
        if x.ndim == 1 and x.shape[0] == count:
            x = x.unsqueeze(0)  # one example
        if x.ndim != 2 or x.shape[1] != count:
            raise NetTrainError(
                "output",
                f"the class decoder needs one score per class ({count})",
                expected=f"a tensor of shape [n, {count}]",
                received=describe(output),
            )
        if self.scores == "probabilities":
            return x
        if self.scores == "log_probabilities":
            return x.exp()
        return torch.sigmoid(x) if self.multilabel else torch.softmax(x, dim=-1)

    def _class_index(self, name: Any) -> int:
        try:
            return self.classes.index(plain(name))
        except ValueError:
            strings = [c for c in self.classes if isinstance(c, str)]
            raise NetTrainError(
                "prop",
                f"unknown class {name!r}",
                expected="one of " + quote_list(self.classes, 10),
                hint=did_you_mean(str(name), strings) if strings else None,
            ) from None

    def decode(
        self,
        output: torch.Tensor,
        prop: Prop = "decision",
        *,
        generator: torch.Generator | None = None,
    ) -> list[Any]:
        """Compute ``prop`` for each example of ``output`` ``[n, C]`` (or ``[C]``: one example).

        Returns:
            A list with one answer per example.
        """
        valid = _MULTILABEL_PROPS if self.multilabel else _CLASS_PROPS
        what = "multilabel class decoder" if self.multilabel else "class decoder"
        name, arg = _split_prop(prop, valid, what)
        p = self._probabilities(output)
        names = self.classes
        if name == "probabilities":
            return [dict(zip(names, row, strict=True)) for row in p.tolist()]
        if name == "probability":
            return p[:, self._class_index(arg)].tolist()
        if self.multilabel:
            if name == "entropy":
                q = 1 - p
                return (torch.special.entr(p) + torch.special.entr(q)).sum(-1).tolist()
            chosen = p >= self.threshold
            return [[n for n, c in zip(names, row, strict=True) if c] for row in chosen.tolist()]
        if name == "decision":
            return [names[i] for i in p.argmax(-1).tolist()]
        if name == "entropy":
            return torch.special.entr(p).sum(-1).tolist()
        if name in ("top_decisions", "top_probabilities"):
            k = _count(arg, len(names), name)
            # a stable sort: equal probabilities keep class order, so answers are deterministic
            values, order = p.sort(dim=-1, descending=True, stable=True)
            if name == "top_decisions":
                return [[names[i] for i in row[:k]] for row in order.tolist()]
            return [
                [(names[i], v) for i, v in zip(o[:k], vs[:k], strict=True)]
                for o, vs in zip(order.tolist(), values.tolist(), strict=True)
            ]
        # random_sample
        picks = _sample(torch.log(p), arg, generator)
        return [names[i] for i in picks.tolist()]

    def describe(self) -> str:
        kind = "Multilabel class decoder" if self.multilabel else "Class decoder"
        how = "sigmoid" if self.multilabel else "softmax"
        if self.scores != "logits":
            how = self.scores.replace("_", "-")
        return f"{kind}: {how} over {len(self.classes)} classes {quote_list(self.classes, 6)}"


@dataclass(frozen=True)
class BooleanDecoder(Decoder):
    """A score per example ``[n]`` (or ``[n, 1]``) -> True/False, probability of True, entropy.

    Args:
        scores: what the net outputs: ``"logits"`` (probability = sigmoid(score)),
            ``"probabilities"`` (a net ending in Sigmoid) or ``"log_probabilities"``.
        threshold: decision threshold on the probability of True.

    Properties: ``"decision"``, ``"probability"`` (of True), ``"entropy"`` (nats),
    ``"random_sample"`` (``generator=`` for reproducibility).

    >>> import torch
    >>> [round(p, 3) for p in BooleanDecoder().decode(torch.tensor([0.0, 2.0]), "probability")]
    [0.5, 0.881]
    """

    kind: ClassVar[str] = "boolean"
    scores: str = "logits"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        _check_scores(self.scores, self.threshold)

    def decode(
        self,
        output: torch.Tensor,
        prop: Prop = "decision",
        *,
        generator: torch.Generator | None = None,
    ) -> list[Any]:
        """Compute ``prop`` for each example; returns a list with one answer per example."""
        name, _ = _split_prop(prop, _BOOLEAN_PROPS, "boolean decoder")
        x = _as_float(output)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim == 0:
            x = x.reshape(1)
        if x.ndim != 1:
            raise NetTrainError(
                "output",
                "the boolean decoder needs one score per example",
                expected="a tensor of shape [n] or [n, 1]",
                received=describe(output),
            )
        if self.scores == "probabilities":
            p = x
        elif self.scores == "log_probabilities":
            p = x.exp()
        else:
            p = torch.sigmoid(x)
        if name == "probability":
            return p.tolist()
        if name == "entropy":
            return (torch.special.entr(p) + torch.special.entr(1 - p)).tolist()
        if name == "random_sample":
            return (torch.rand(p.shape, generator=generator, dtype=p.dtype) < p).tolist()
        return (p >= self.threshold).tolist()

    def describe(self) -> str:
        how = {"logits": "sigmoid(score)", "probabilities": "probability"}.get(
            self.scores, "exp(log-probability)"
        )
        return f"Boolean decoder: {how} >= {self.threshold} -> True"


_DECODERS: dict[str, type[Decoder]] = {"class": ClassDecoder, "boolean": BooleanDecoder}


def decoder_from_config(config: Mapping[str, Any]) -> Decoder:
    """Rebuild any decoder from its :meth:`~Decoder.config` dict.

    Raises:
        NetTrainError: no or unknown ``kind``, bad fields.

    >>> decoder_from_config({"kind": "class", "classes": ["a", "b"]}).classes
    ('a', 'b')
    """
    kind = config.get("kind") if isinstance(config, Mapping) else None
    if kind not in _DECODERS:
        raise NetTrainError(
            "config",
            f"unknown decoder kind {kind!r}",
            expected="one of " + quote_list(_DECODERS),
            hint=did_you_mean(str(kind), _DECODERS),
        )
    decoder: Decoder = _DECODERS[kind].from_config(config)
    return decoder
