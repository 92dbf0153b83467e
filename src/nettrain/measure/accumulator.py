"""The init -> update -> result service that gathers a round's statistics on the device.

``update`` runs once per training batch, so it only queues a few tensor operations: counts that
depend only on shapes (examples, positions) are kept as host ints, everything that depends on
values stays on the device, and nothing is read back until ``result``. Only the statistics the
round's measurements need are gathered: the default ["loss", "error_rate"] costs one
``add_`` for the loss and an argmax/compare/sum for the error count, no confusion matrix.

Example:
    >>> import torch
    >>> acc = Accumulator(["loss", "accuracy", "confusion_matrix"], task="classification")
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    >>> acc.update(logits[:2], torch.tensor([0, 1]), loss=torch.tensor(0.5))
    >>> acc.update(logits[2:], torch.tensor([1]), loss=torch.tensor(2.0))
    >>> out = acc.result()
    >>> out["loss"], out["accuracy"]
    (1.0, 0.6666666666666666)
    >>> out["confusion_matrix"]
    tensor([[1, 0],
            [1, 1]])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import NetTrainError, describe, did_you_mean
from .regression import Spread, box_iou, merge_spread
from .specs import TASKS, CustomFn, Measurement, MeasurementValue, parse_measurements
from .stats import RoundStats

__all__ = ["SCORE_KINDS", "Accumulator", "merge_states"]

SCORE_KINDS = ("logits", "probabilities", "log_probabilities")


class Accumulator:
    """Exact statistics of a round for a list of measurements: init -> update* -> result.

    Args:
        measurements: the output of :func:`parse_measurements`, or anything it accepts (then
            parsed with this ``task``).
        task: "classification", "binary" or "regression" (see :func:`parse_measurements`).
        scores: what classification/binary predictions are: "logits" (default),
            "probabilities" or "log_probabilities". Ignored for regression.
        num_classes: C, if known; else taken from the first prediction's last dimension.
        device: where the running sums live; predictions and targets should be there too.

    Memory: a few scalars, plus a C×C int64 matrix for confusion-based measurements, plus, for
    roc_curve and area_under_roc_curve, every position's class probabilities and class (n×C
    floats and n int64s per round; n floats for the binary task), since an exact ROC curve
    needs all scores.

    Raises:
        NetTrainError: for an unknown task or score kind, and (from ``update``) for predictions
            and targets whose shapes do not fit the task, or a missing loss.
    """

    def __init__(
        self,
        measurements: Sequence[Measurement] | object,
        *,
        task: str,
        scores: str = "logits",
        num_classes: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if task not in TASKS:
            raise NetTrainError("task", f"unknown task {task!r}", hint=did_you_mean(task, TASKS))
        if scores not in SCORE_KINDS:
            raise NetTrainError(
                "scores",
                f"unknown score kind {scores!r}",
                hint=did_you_mean(str(scores), SCORE_KINDS),
            )
        if not (
            isinstance(measurements, list | tuple)
            and all(isinstance(m, Measurement) for m in measurements)
        ):
            measurements = parse_measurements(measurements, task=task, num_classes=num_classes)
        self.measurements: tuple[Measurement, ...] = tuple(measurements)
        self.task = task
        self.scores = scores
        self.device = torch.device(device)
        self.needs: frozenset[str] = frozenset().union(*(m.needs for m in self.measurements))
        self._declared_classes = 2 if task == "binary" else num_classes
        self._ks = sorted(int(n.split("@")[1]) for n in self.needs if n.startswith("correct@"))
        self._customs: list[tuple[str, CustomFn]] = [
            (m.key, m.function) for m in self.measurements if m.function is not None
        ]
        # MPS has no float64; everywhere else sums are float64 so counts and sums stay exact.
        self._dtype = torch.float32 if self.device.type == "mps" else torch.float64
        self._threshold = {"logits": 0.0, "probabilities": 0.5, "log_probabilities": -math.log(2)}[
            scores
        ]
        self._classify = task != "regression" and bool(
            self._ks or self.needs & {"confusion", "scores", "entropy"}
        )
        self._residuals = bool(
            self.needs
            & {"residual_square", "residual_absolute", "residual_spread", "target_spread"}
        )
        self.reset()

    def reset(self) -> None:
        """Forget everything seen: start a new round."""

        def zero() -> Tensor:
            return torch.zeros((), dtype=self._dtype, device=self.device)

        self._examples = 0
        self._positions = 0
        self._boxes = 0
        self._classes = self._declared_classes
        self._loss_sum = zero()
        self._correct = {
            k: torch.zeros((), dtype=torch.int64, device=self.device) for k in self._ks
        }
        self._confusion: Tensor | None = None
        self._entropy = zero()
        self._residual_square = zero()
        self._residual_absolute = zero()
        self._residual_spread: Spread = (zero(), zero())
        self._target_spread: Spread = (zero(), zero())
        self._iou = zero()
        self._custom = {key: zero() for key, _ in self._customs}
        self._scores: list[Tensor] = []
        self._score_targets: list[Tensor] = []

    # The sums a round has gathered so far, as plain data: a checkpoint taken within a round
    # keeps them, so the resumed round's measurements are the uninterrupted round's.
    _STATE = (
        "_examples", "_positions", "_boxes", "_classes", "_loss_sum", "_correct", "_confusion",
        "_entropy", "_residual_square", "_residual_absolute", "_residual_spread",
        "_target_spread", "_iou", "_custom", "_scores", "_score_targets",
    )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """What the accumulator has seen, as ints and (copied) tensors.

        >>> acc = Accumulator(["accuracy"], task="classification", num_classes=2)
        >>> acc.update(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
        >>> again = Accumulator(["accuracy"], task="classification", num_classes=2)
        >>> again.load_state_dict(acc.state_dict()); again.result()["accuracy"]
        1.0
        """

        def copy(value: Any) -> Any:
            if isinstance(value, Tensor):
                return value.detach().clone()
            if isinstance(value, dict):
                return {k: copy(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return type(value)(copy(v) for v in value)
            return value

        return {name.lstrip("_"): copy(getattr(self, name)) for name in self._STATE}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict` (of an accumulator of the same measurements)."""
        for name in self._STATE:
            value = state[name.lstrip("_")]
            if isinstance(value, Tensor):
                value = value.to(self.device)
            elif isinstance(value, dict):
                value = {k: v.to(self.device) for k, v in value.items()}
            elif isinstance(value, list | tuple):
                value = type(value)(v.to(self.device) for v in value)
            setattr(self, name, value)

    # ------------------------------------------------------------------------------ update

    def update(self, prediction: Tensor, target: Tensor, loss: Tensor | None = None) -> None:
        """Add one batch. Queues device work only: no ``.item()``, no host sync.

        Args:
            prediction: the net's output for the batch (detached). Classification: scores
                [..., C]; binary: one score per element ([...] or [..., 1]); regression: any
                shape (boxes: [..., 4]).
            target: classification: class indices [...], or probability vectors [..., C]
                (argmax is the class); binary: 0/1, bool, or float (> 0.5 is class 1);
                regression: the same shape (or number of elements) as ``prediction``.
            loss: the batch's mean loss, a 0-d tensor; needed when "loss" is measured. It is
                weighted by the batch size (the first dimension).

        Raises:
            NetTrainError: for shapes that do not fit the task or a missing loss.
        """
        n = prediction.shape[0] if prediction.dim() else 1
        if "loss" in self.needs:
            if loss is None or loss.numel() != 1:
                raise NetTrainError(
                    "loss",
                    "the 'loss' measurement needs the batch's mean loss as a 0-d tensor",
                    received=describe(loss),
                    hint="pass loss=<batch mean loss> to update()",
                )
            self._loss_sum.add_(loss if loss.dim() == 0 else loss.reshape(()), alpha=n)
        if self._classify:
            self._update_classification(prediction, target)
        elif self.task == "regression":
            self._update_regression(prediction, target)
        for key, function in self._customs:
            self._update_custom(key, function, prediction, target, n)
        self._examples += n

    def _class_inputs(self, prediction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Classification batch -> (scores [m, C], true class [m] int64)."""
        classes = prediction.shape[-1] if prediction.dim() else 0
        if self._classes is None:
            self._classes = classes
        if classes != self._classes or classes == 0:
            raise NetTrainError(
                "prediction",
                "the classification scores must have one entry per class in the last dimension",
                expected=f"[..., {self._classes}]",
                received=describe(prediction),
            )
        if target.is_floating_point() and target.shape == prediction.shape:
            target = target.argmax(-1)  # probability vectors: the most likely class
        if target.shape != prediction.shape[:-1]:
            raise NetTrainError(
                "target",
                "classification targets must be class indices with the prediction's leading "
                "shape, or probability vectors of the prediction's shape",
                expected=f"shape {tuple(prediction.shape[:-1])}",
                received=describe(target),
            )
        if prediction.dim() == 2 and target.dim() == 1 and target.dtype == torch.int64:
            return prediction, target  # already flat: the per-batch hot path skips the views
        return prediction.reshape(-1, classes), target.reshape(-1).long()

    def _binary_inputs(self, prediction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Binary batch -> (scores [m], true class [m] int64 in {0, 1})."""
        if prediction.dim() == target.dim() + 1 and prediction.shape[-1] == 1:
            prediction = prediction.squeeze(-1)
        elif target.dim() == prediction.dim() + 1 and target.shape[-1] == 1:
            target = target.squeeze(-1)
        if prediction.shape != target.shape:
            raise NetTrainError(
                "target",
                "binary targets must have one 0/1 value per prediction",
                expected=f"shape {tuple(prediction.shape)}",
                received=describe(target),
            )
        truth = target > 0.5 if target.is_floating_point() else target
        return prediction.reshape(-1), truth.reshape(-1).long()

    def _probabilities(self, scores: Tensor) -> Tensor:
        # Keep float32/float64 as given (ROC is exact up to the input's precision); half
        # precision is widened so stored scores do not collapse into ties.
        if scores.dtype not in (torch.float32, torch.float64):
            scores = scores.float()
        if self.scores == "probabilities":
            return scores.clone()
        if self.scores == "log_probabilities":
            return scores.exp()
        if self.task == "binary":
            return torch.sigmoid(scores)
        return torch.softmax(scores, -1)

    def _entropy_sum(self, scores: Tensor) -> Tensor:
        if self.task == "binary":
            if self.scores == "logits":
                # H = p softplus(-x) + (1-p) softplus(x), stable for large |x|.
                p = torch.sigmoid(scores)
                h = p * F.softplus(-scores) + (1 - p) * F.softplus(scores)
            else:
                p = self._probabilities(scores)
                h = torch.special.entr(p) + torch.special.entr(1 - p)
            return h.sum(dtype=self._dtype)
        # entr(p) = -p log p with 0 log 0 = 0, so saturated probabilities give no NaN.
        return torch.special.entr(self._probabilities(scores)).sum(dtype=self._dtype)

    def _update_classification(self, prediction: Tensor, target: Tensor) -> None:
        if self.task == "binary":
            scores, truth = self._binary_inputs(prediction, target)
            predicted: Tensor | None = (scores > self._threshold).long()
        else:
            scores, truth = self._class_inputs(prediction, target)
            predicted = None
        for k in self._ks:
            if k == 1:
                if predicted is None:
                    predicted = scores.argmax(-1)
                hit = predicted == truth
            else:
                hit = (scores.topk(k, -1).indices == truth[:, None]).any(-1)
            self._correct[k].add_(hit.sum())
        if "confusion" in self.needs:
            if predicted is None:
                predicted = scores.argmax(-1)
            classes = self._classes or 2
            if self._confusion is None:
                self._confusion = torch.zeros(
                    classes * classes, dtype=torch.int64, device=self.device
                )
            # index_add_, not bincount: bincount reads the max back to size its output.
            cells = truth * classes + predicted
            self._confusion.index_add_(0, cells, torch.ones_like(cells))
        if "entropy" in self.needs:
            self._entropy.add_(self._entropy_sum(scores))
        if "scores" in self.needs:
            self._scores.append(self._probabilities(scores))
            self._score_targets.append(truth.clone())
        self._positions += truth.shape[0]

    def _update_regression(self, prediction: Tensor, target: Tensor) -> None:
        if target.shape != prediction.shape:
            if target.numel() != prediction.numel():
                raise NetTrainError(
                    "target",
                    "regression targets must have the prediction's shape",
                    expected=f"shape {tuple(prediction.shape)}",
                    received=describe(target),
                )
            target = target.reshape(prediction.shape)
        p = prediction.to(self._dtype)
        t = target.to(self._dtype)
        if "iou" in self.needs:
            if p.dim() == 0 or p.shape[-1] != 4:
                raise NetTrainError(
                    "prediction",
                    "intersection_over_union needs boxes (x1, y1, x2, y2) in the last dimension",
                    expected="shape [..., 4]",
                    received=describe(prediction),
                )
            self._iou.add_(box_iou(p, t).sum())
            self._boxes += p.numel() // 4
        if self._residuals:
            r = p - t
            if "residual_square" in self.needs:
                self._residual_square.add_(torch.dot(r.reshape(-1), r.reshape(-1)))
            if "residual_absolute" in self.needs:
                self._residual_absolute.add_(r.abs().sum())
            if "residual_spread" in self.needs:
                self._residual_spread = merge_spread(self._residual_spread, self._positions, r)
            if "target_spread" in self.needs:
                self._target_spread = merge_spread(self._target_spread, self._positions, t)
        self._positions += prediction.numel()

    def _update_custom(
        self, key: str, function: CustomFn, prediction: Tensor, target: Tensor, n: int
    ) -> None:
        value = function(prediction, target)
        if not isinstance(value, Tensor):
            value = torch.as_tensor(value, dtype=self._dtype)
        if value.numel() == 1:
            total = value.reshape(()).to(self._dtype) * n  # a batch mean: weight by batch size
        elif value.dim() == 1 and value.shape[0] == n:
            total = value.to(self._dtype).sum()  # one value per example
        else:
            raise NetTrainError(
                "training_progress_measurements",
                f"the custom measurement {key!r} must return a scalar (the batch mean) or one "
                f"value per example",
                expected=f"shape () or ({n},)",
                received=describe(value),
            )
        self._custom[key].add_(total.detach())

    # ------------------------------------------------------------------------------ result

    def stats(self) -> RoundStats:
        """The round's statistics read back to the host (the only sync).

        Returns:
            A :class:`RoundStats`; see its attributes.
        """
        floats = [
            self._loss_sum,
            self._entropy,
            self._residual_square,
            self._residual_absolute,
            *self._residual_spread,
            *self._target_spread,
            self._iou,
            *self._custom.values(),
        ]
        ints = [*self._correct.values()]
        if self._confusion is not None:
            ints.append(self._confusion)
        # One transfer per dtype, both after one wait on the device.
        f = torch.stack([x.to(self._dtype) for x in floats]).cpu().tolist()
        i = torch.cat([x.reshape(-1) for x in ints]).cpu() if ints else torch.zeros(0)
        classes = self._classes or 0
        confusion = None
        if self._confusion is not None:
            confusion = i[len(self._ks) :].reshape(classes, classes)
        scores = torch.cat(self._scores).cpu() if self._scores else None
        targets = torch.cat(self._score_targets).cpu() if self._score_targets else None
        return RoundStats(
            task=self.task,
            num_classes=classes,
            examples=self._examples,
            positions=self._positions,
            boxes=self._boxes,
            loss_sum=f[0],
            correct={k: float(i[j]) for j, k in enumerate(self._ks)},
            confusion=confusion,
            entropy_sum=f[1],
            residual_square=f[2],
            residual_absolute=f[3],
            residual_mean=f[4],
            residual_m2=f[5],
            target_mean=f[6],
            target_m2=f[7],
            iou_sum=f[8],
            custom=dict(zip(self._custom, f[9:], strict=True)),
            scores=scores,
            score_targets=targets,
        )

    def result(self) -> dict[str, MeasurementValue]:
        """Every measurement's value over the round so far, keyed by ``Measurement.key``.

        Returns:
            ``{key: value}`` in the order the measurements were given: floats for scalars,
            a float64 [C] tensor for per-class values (classification without averaging), a
            [C, C] int64 tensor for confusion_matrix, ``{class: (fpr, tpr, thresholds)}``
            (classification) or one such tuple (binary) for roc_curve. NaN for a measurement
            of an empty round.
        """
        stats = self.stats()
        return {m.key: m.result(stats) for m in self.measurements}

    def __repr__(self) -> str:
        keys = ", ".join(m.key for m in self.measurements)
        return f"Accumulator([{keys}], task={self.task!r}, examples={self._examples})"


def _merged_spread(a: Spread, count_a: int, b: Spread, count_b: int) -> Spread:
    """Chan et al.'s pairwise merge of two (mean, M2) over ``count_a`` and ``count_b`` values."""
    if count_b == 0:
        return a
    if count_a == 0:
        return b
    total = count_a + count_b
    delta = b[0] - a[0]
    return a[0] + delta * (count_b / total), a[1] + b[1] + delta.square() * (
        count_a * count_b / total
    )


def merge_states(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One :meth:`Accumulator.state_dict` for what several accumulators of the same
    measurements saw between them (the ranks of a data-parallel run): counts and sums added,
    spreads merged exactly, scores concatenated in order.

    >>> accs = [Accumulator(["accuracy"], task="classification", num_classes=2) for _ in "ab"]
    >>> accs[0].update(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    >>> accs[1].update(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([1, 1]))
    >>> whole = Accumulator(["accuracy"], task="classification", num_classes=2)
    >>> whole.load_state_dict(merge_states([a.state_dict() for a in accs]))
    >>> whole.result()["accuracy"]
    0.6666666666666666
    """
    out = dict(states[0])
    for state in states[1:]:
        seen, more = out["positions"], state["positions"]
        out["residual_spread"] = _merged_spread(
            out["residual_spread"], seen, state["residual_spread"], more
        )
        out["target_spread"] = _merged_spread(
            out["target_spread"], seen, state["target_spread"], more
        )
        for key in ("examples", "positions", "boxes"):
            out[key] = out[key] + state[key]
        if out["classes"] is None:
            out["classes"] = state["classes"]
        for key in ("loss_sum", "entropy", "residual_square", "residual_absolute", "iou"):
            out[key] = out[key] + state[key]
        out["correct"] = {k: v + state["correct"][k] for k, v in out["correct"].items()}
        out["custom"] = {k: v + state["custom"][k] for k, v in out["custom"].items()}
        if state["confusion"] is not None:
            mine = out["confusion"]
            out["confusion"] = state["confusion"] if mine is None else mine + state["confusion"]
        out["scores"] = [*out["scores"], *state["scores"]]
        out["score_targets"] = [*out["score_targets"], *state["score_targets"]]
    return out
