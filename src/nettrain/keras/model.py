"""``Model``: Keras' and TF.js's ``compile`` / ``fit`` / ``evaluate`` / ``predict`` on one module.

A thin face over the one engine (DESIGN principle 4): ``fit`` builds the options of one
``nettrain.train`` call (the compiled optimizer as ``method``, the loss as ``loss_function``,
the metrics as ``training_progress_measurements``, ``epochs`` as ``max_training_rounds``,
validation data as ``validation_set``) and runs it; callbacks reach the loop through
:class:`~nettrain.keras.callbacks.CallbackBridge`, a progress function. So ``fit`` trains
exactly as the equivalent ``train`` call does (the tests compare the weights bit for bit), and
ends, as Keras does, with the weights of the last epoch.

Example:
    >>> import torch
    >>> from torch import nn
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(64, 3, generator=g); y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    >>> model = Model(nn.Linear(3, 1))
    >>> model.compile(optimizer="sgd", loss="mean_squared_error")
    >>> history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    >>> history.epoch, len(history.history["loss"])
    ([0, 1, 2], 3)
    >>> history.history["loss"][-1] < history.history["loss"][0]
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import NetTrainError, describe
from ..runtime.seed import DEFAULT_SEED
from . import batch_methods
from .backup import plan_resume
from .callbacks import CallbackBridge, History, as_callbacks
from .fit_data import (
    SAMPLE_WEIGHT,
    Epochs,
    InOrder,
    Steps,
    examples_of,
    fit_data,
    length,
    shuffled_passes,
    validation_of,
)
from .weighting import check_weights, example_weights, weighted_stream

__all__ = ["Model"]

_VERBOSE = (0, 1, 2, "auto")


@dataclass(frozen=True)
class Compiled:
    """What ``compile`` resolved: the optimizer, the loss and the metrics (Keras objects)."""

    optimizer: Any
    loss: Any
    metrics: list[Any]


class Model:
    """An ``nn.Module`` with Keras' training methods (``nettrain.Model`` for short).

    Args:
        module: any ``nn.Module``; it is trained in place (``model.module``).
        input_shape: the shape of one example without the batch dimension (Keras'
            ``input_shape``, e.g. ``(784,)``): lazy modules are materialised with it now and
            ``summary`` shows output shapes. Without it, from the first data.

    Attributes:
        stop_training: set it to True in a callback to stop ``fit`` after the current batch.
        history: the :class:`~nettrain.keras.callbacks.History` of the last ``fit``.
    """

    def __init__(self, module: nn.Module, input_shape: Sequence[int] | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise NetTrainError(
                "module",
                "is not a PyTorch module",
                expected="a torch.nn.Module",
                received=describe(module),
            )
        self.module = module
        self.stop_training = False
        self.history: History | None = None
        self.compiled: Compiled | None = None
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        if self.input_shape is not None:
            self._materialise(torch.zeros(2, *self.input_shape))

    def _materialise(self, sample: Tensor) -> None:
        """One forward pass in eval mode without gradients: builds lazy modules (Keras builds a
        model on its first call), changing nothing else."""
        mode = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                self.module(sample)
        finally:
            self.module.train(mode)

    # ---- weights, for callbacks and users --------------------------------------------------

    def state_dict_copy(self) -> dict[str, Tensor]:
        """A copy of every weight and buffer (what EarlyStopping keeps of the best epoch)."""
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def load_state_dict_copy(self, weights: Mapping[str, Tensor]) -> None:
        self.module.load_state_dict(weights)

    # ---- summary, weights, saving ----------------------------------------------------------

    def summary(self, line_length: int | None = None, print_fn: Any = print) -> str:
        """Keras' table of layers, output shapes and parameter counts, printed and returned
        (see :func:`nettrain.keras.summary.summary`)."""
        from .summary import summary

        return summary(self.module, self.input_shape, line_length=line_length, print_fn=print_fn)

    @property
    def weights(self) -> list[Any]:
        """Every weight with its name, shape (torch's layout) and value; ``assign()`` sets one."""
        from .weights import weight_list

        return weight_list(self.module)

    def get_weights(self) -> list[np.ndarray]:
        from .weights import get_weights

        return get_weights(self.module)

    def set_weights(self, arrays: Sequence[Any]) -> None:
        from .weights import set_weights

        set_weights(self.module, arrays)

    def save(self, path: Any, architecture: Any = None) -> Any:
        """Save weights, architecture, compile settings and the optimizer's state (moments,
        step counts, iterations) in one safetensors file (no pickle);
        ``nettrain.keras.load_model(path)`` reads it back and its optimizer goes on from that
        state (see :mod:`nettrain.keras.saving`)."""
        from .saving import save_model

        extra: dict[str, Any] = {
            "input_shape": list(self.input_shape) if self.input_shape else None
        }
        held = None
        if self.compiled is not None:
            held = self.compiled.optimizer._carry.state_for(self._trainable())
            extra["iterations"] = self.compiled.optimizer.iterations
            extra["optimizer_method"] = None if held is None else held[1]
        return save_model(
            self.module,
            path,
            architecture=architecture,
            compile_config=self._compile_config(),
            optimizer_state=None if held is None else held[0],
            extra=extra,
        )

    def _trainable(self) -> list[Tensor]:
        """The parameters the optimizer updates, in the module's order (its state's keys)."""
        return [p for p in self.module.parameters() if p.requires_grad]

    def _compile_config(self) -> dict[str, Any] | None:
        """The compile settings as JSON data, where they can be rebuilt by name."""
        if self.compiled is None:
            return None
        optimizer = self.compiled.optimizer
        loss = self.compiled.loss
        config: dict[str, Any] = {
            "optimizer": {"class_name": type(optimizer).__name__, "config": optimizer.get_config()},
            "loss": None,
            "metrics": [m.key for m in self.compiled.metrics],
        }
        if (
            dataclasses.is_dataclass(loss)
            and not isinstance(loss, type)
            and type(loss).__name__ != "CustomLoss"
        ):
            config["loss"] = {"class_name": type(loss).__name__, "config": dataclasses.asdict(loss)}
        return config

    # ---- compile ---------------------------------------------------------------------------

    def compile(
        self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Sequence[Any] | None = None
    ) -> None:
        """Choose the optimizer, the loss and the metrics, checking each now.

        Args:
            optimizer: a name ("sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax",
                "adamw"; Keras' default "rmsprop") or an optimizer object from
                ``nettrain.keras.optimizers``, with Keras' default learning rates.
            loss: a Keras or TF.js loss name ("categorical_crossentropy",
                "meanSquaredError", ...), a loss object, or a function ``(y_true, y_pred)``.
            metrics: names ("accuracy", "precision", ...), metric objects or functions.

        Raises:
            NetTrainError: an unknown name (with the closest ones), a missing loss, a metric
                that does not fit the loss.
        """
        from .losses import resolve_loss
        from .metrics import resolve_metrics
        from .optimizers import get as get_optimizer

        if loss is None:
            raise NetTrainError(
                "loss",
                "is needed to train",
                expected="a loss name such as 'categorical_crossentropy', a loss object or a "
                "function (y_true, y_pred)",
                received="None",
            )
        resolved = resolve_loss(loss)
        self.compiled = Compiled(
            optimizer=get_optimizer(optimizer),
            loss=resolved,
            metrics=list(resolve_metrics(metrics, resolved)),
        )

    @property
    def optimizer(self) -> Any:
        return self.compiled.optimizer if self.compiled is not None else None

    def _need_compiled(self, what: str) -> Compiled:
        if self.compiled is None:
            raise NetTrainError(
                what,
                "the model is not compiled",
                hint="call model.compile(optimizer, loss, metrics) first",
            )
        return self.compiled

    # ---- fit -------------------------------------------------------------------------------

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` epochs (Keras' ``fit``); return the :class:`History`.

        Runs one ``nettrain.train`` call (see the module docstring). ``batch_size`` defaults to
        32 (Keras'); ``verbose`` 0 is silent, 2 prints Keras' line at the end of each epoch
        (``ProgbarLogger``), 1 Keras' progress bar, live on a terminal and only its final line
        elsewhere (never a flood in a log), "auto" 1 on a terminal (``CI`` unset) and 2
        elsewhere. ``shuffle=False`` keeps the data's
        order in every epoch; ``steps_per_epoch`` makes each epoch that many batches, going on
        where the last epoch stopped (a new pass of the data, reshuffled, when one ends), as
        Keras 3 does. ``validation_split`` takes the *last* fraction of ``x``/``y`` (and
        of ``sample_weight``) before any shuffling, as Keras does (a warning says when it
        holds classes the training part lacks: sorted data). ``class_weight`` ``{class:
        weight}`` and ``sample_weight`` (one per example; or ``(x, y, sample_weight)``
        batches of a dataset, or ``validation_data``'s third element) scale each example's
        loss as Keras does (:mod:`nettrain.keras.weighting`). The model ends with the
        weights of the last epoch; use ``EarlyStopping(restore_best_weights=True)`` for the
        best one's.

        Raises:
            NetTrainError: fit before compile; x and y of different lengths; a bad
                ``validation_split``, ``epochs``, ``verbose`` or weights; class and sample
                weights together (as Keras).
        """
        compiled = self._need_compiled("fit")
        check_weights(compiled.loss, class_weight, sample_weight)
        self._check_shuffle(shuffle)
        self._check_epochs(epochs, initial_epoch)
        self._check_verbose(verbose)
        data, validation = fit_data(x, y, validation_split, validation_data, sample_weight)
        if y is None:  # a dataset's (x, y, sample_weight) batches
            data = weighted_stream(data)
        validation = weighted_stream(validation)
        weights = example_weights(data, class_weight)
        size = (32 if batch_size is None else batch_size) if y is not None else batch_size
        if steps_per_epoch is not None:
            # Keras 3: each epoch is steps_per_epoch batches, going on where the last stopped
            if y is not None and size is not None:
                data = Steps(shuffled_passes(data, size, shuffle, DEFAULT_SEED), steps_per_epoch)
            else:
                stream = data
                data = Steps(lambda: iter(stream), steps_per_epoch)
            size = None
        elif shuffle is False and y is not None and size is not None:
            # Keras' shuffle=False: every epoch in the data's order; as batches of a stream,
            # which the engine reads in their own order (it shuffles in-memory data)
            data, size = InOrder(data, size), None
        return self._train(
            data,
            validation,
            # a loader or an iterable of batches brings its own batch size
            batch_size=size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            validation_freq=validation_freq,
            weights=weights,
        )

    def fit_dataset(
        self,
        dataset: Any,
        epochs: int = 1,
        batches_per_epoch: int | None = None,
        validation_data: Any = None,
        validation_batches: int | None = None,
        callbacks: Any = None,
        class_weight: Mapping[int, float] | None = None,
        initial_epoch: int = 0,
        verbose: int | str = "auto",
    ) -> History:
        """Train on a stream of ``(xs, ys)`` batches (TF.js's ``fitDataset``).

        Args:
            dataset: a re-iterable of batches (a ``DataLoader``, a list of batches, an object
                with ``__iter__``), or a generator *function* (TF.js's ``tf.data.generator``):
                it is called again at the start of every epoch.
            batches_per_epoch: batches per epoch (TF.js's ``batchesPerEpoch``); default: one
                whole pass of the dataset.
            validation_data: ``(xs, ys)`` or another such dataset; ``validation_batches``
                limits a dataset to its first batches.
            epochs, callbacks, initial_epoch, verbose: as :meth:`fit`.

        Raises:
            NetTrainError: as :meth:`fit`; a dataset that is not iterable.
        """
        compiled = self._need_compiled("fit_dataset")
        check_weights(compiled.loss, class_weight, None)
        self._check_epochs(epochs, initial_epoch)
        self._check_verbose(verbose)
        data = weighted_stream(Epochs(dataset, batches_per_epoch, "dataset"))
        if isinstance(validation_data, tuple):
            validation = validation_of(validation_data)
        elif validation_data is not None:
            validation = Epochs(validation_data, validation_batches, "validation_data")
            validation = weighted_stream(validation)
        else:
            validation = None
        return self._train(
            data,
            validation,
            batch_size=None,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            initial_epoch=initial_epoch,
            validation_freq=1,
            weights=example_weights(data, class_weight),
        )

    @staticmethod
    def _check_epochs(epochs: object, initial_epoch: int) -> None:
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= initial_epoch:
            raise NetTrainError(
                "epochs",
                "must be a whole number above initial_epoch",
                expected=f"an int > {initial_epoch}",
                received=describe(epochs),
            )

    @staticmethod
    def _check_verbose(verbose: object) -> None:
        """Keras' verbosity, or beyond Keras any of ``train``'s reporting forms ("panel",
        "print", "progress_bar", "log.csv", ..., a list of them), drawn by the engine's
        reporters in place of Keras' epoch lines."""
        if isinstance(verbose, bool) or (
            not isinstance(verbose, (int, str, list, tuple)) and not callable(verbose)
        ):
            raise NetTrainError(
                "verbose", "unknown verbosity", expected="0, 1, 2 or 'auto'", received=repr(verbose)
            )
        if isinstance(verbose, int) and verbose not in _VERBOSE:
            raise NetTrainError(
                "verbose", "unknown verbosity", expected="0, 1, 2 or 'auto'", received=repr(verbose)
            )
        if verbose not in _VERBOSE:
            from ..progress.forms import parse_reporting

            parse_reporting(verbose, argument="verbose")

    def _train(
        self,
        data: Any,
        validation: Any,
        *,
        batch_size: int | None,
        epochs: int,
        verbose: int | str,
        callbacks: Any,
        initial_epoch: int,
        validation_freq: int,
        weights: Any = None,
    ) -> History:
        """One nettrain.train call for fit and fit_dataset; ``weights`` is the engine's
        ``example_weights`` (class weights, or the name of the sample weights' column)."""
        import nettrain

        compiled = self._need_compiled("fit")
        from ..distributed.world import is_main_process
        from .file_callbacks import ProgbarLogger

        user = as_callbacks(callbacks)
        # BackupAndRestore, ModelCheckpoint(save_training_state=True): checkpoints and resume
        resume = plan_resume(user, data, initial_epoch, epochs, self)
        # Keras' default callbacks: History after the user's, then the epoch lines and bar
        keras_lines = verbose in _VERBOSE  # else one of the engine's reporting forms
        lines = keras_lines and verbose != 0 and not any(isinstance(c, ProgbarLogger) for c in user)
        lines = lines and is_main_process()  # under torchrun, rank 0 prints the epochs
        bridge = CallbackBridge(
            [*user, history := History(), *([ProgbarLogger()] if lines else [])],
            model=self,
            metric_keys={m.key: m.key for m in compiled.metrics},  # measured under Keras' keys
            epochs=(resume.first_epoch, epochs),  # a resumed run's epochs count from its first
            validation_every=validation_freq,
        )
        for callback in bridge.callbacks:
            callback.set_model(self)
        examples = examples_of(data)
        if batch_size is not None and examples is not None:
            steps: int | None = -(-examples // batch_size)
        else:
            try:  # a sized loader or a limited dataset knows its batches per epoch
                steps = len(data)
            except TypeError:
                steps = None
        # before on_train_begin, as Keras sets them (and before the bridge's specs: whether
        # the bar is live depends on verbose)
        for callback in bridge.callbacks:
            callback.set_params(
                {"epochs": epochs, "steps": steps, "verbose": verbose if keras_lines else 0}
            )
        self.stop_training = False
        options: dict[str, Any] = {
            "method": compiled.optimizer.carried_method(),  # its state goes on from the last
            "loss_function": compiled.loss,
            **({"batch_size": batch_size} if batch_size is not None else {}),
            "max_training_rounds": epochs - resume.first_epoch,
            # ProgbarLogger prints the epoch lines and the live bar (verbose 1 and 2); a
            # reporting form of the engine's ("panel", "log.csv", ...) is drawn by its reporters
            "training_progress_reporting": None if keras_lines else verbose,
            "training_progress_function": resume.progress(self, bridge.specs()),
            **resume.options,
        }
        if weights is not None:
            options["example_weights"] = weights
        averaging = compiled.optimizer.weights_averaging()  # use_ema, ema_momentum
        if averaging is not None:
            options["weights_averaging"] = averaging
        if compiled.metrics:
            options["training_progress_measurements"] = [m.measurement() for m in compiled.metrics]
        if validation is not None:
            options["validation_set"] = (validation, {"interval": f"{validation_freq} rounds"})
        else:
            options["validation_set"] = None
        self._check_outputs(compiled, data, batch_size or 32)
        try:
            result = nettrain.train(self.module, data, "all", **options)
        except NetTrainError as error:
            if error.argument == "resume":  # a checkpoint made by another fit
                raise resume.refused(error) from None
            if not error.argument.startswith("example_weights"):
                raise
            # the engine's option is this face's class_weight or sample_weight: say so
            name = "class_weight" if isinstance(weights, Mapping) else "sample_weight"
            raise error.renamed(name + error.argument[len("example_weights") :]) from None
        # Keras keeps the last weights, where the engine keeps the best validation net; with
        # use_ema their average, as Keras' fit overwrites the weights with it at the end
        kept = result.final_net if averaging is None else result.averaged_net
        if kept is not self.module:
            self.module.load_state_dict(kept.state_dict())
        bridge.call("on_train_end", dict(bridge.epoch_logs))
        resume.finish(result["reason_training_stopped"])  # BackupAndRestore deletes its backup
        self.history = history
        return history

    @staticmethod
    def _check_shuffle(shuffle: object) -> None:
        if not isinstance(shuffle, bool):
            raise NetTrainError(
                "shuffle", "must be True or False", expected="a bool", received=describe(shuffle)
            )

    def _check_outputs(self, compiled: Compiled, data: Any, size: int) -> None:
        """Beyond Keras: warn (through the loss) when a loss that takes probabilities gets
        outputs that are plainly logits, from one forward pass on the first examples in eval
        mode without gradients (no state changes; skipped for lazy modules, which the engine
        builds under its seed, and for streams)."""
        check = getattr(compiled.loss, "check_outputs", None)
        if check is None or not isinstance(data, (tuple, Mapping)):
            return
        if any(
            isinstance(p, nn.parameter.UninitializedParameter) for p in self.module.parameters()
        ):
            return
        if isinstance(data, tuple):
            sample: Any = data[0][:size]
        else:
            sample = {k: v[:size] for k, v in data.items() if k not in ("target", SAMPLE_WEIGHT)}
            if list(sample) == ["input"]:  # one input, in a column beside the weights
                sample = sample["input"]
        mode = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                outputs = self._forward(sample)
        finally:
            self.module.train(mode)
        if isinstance(outputs, Tensor):
            check(outputs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto") -> Tensor:
        """The module's outputs for ``x``, in batches of ``batch_size`` (32), without
        gradients, in eval mode."""
        return batch_methods.predict(self, x, batch_size)

    def predict_on_batch(self, x: Any) -> Tensor:
        """The outputs for one batch (no batching, no gradients, eval mode)."""
        return self.predict(x, batch_size=max(length(x), 1))

    def train_on_batch(
        self,
        x: Any,
        y: Any,
        sample_weight: Any = None,
        class_weight: Mapping[int, float] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One update on one batch (Keras' ``train_on_batch``): the compiled loss (scaled by
        ``sample_weight`` or ``class_weight`` as Keras does), its gradient and one step of the
        compiled optimizer, whose state carries over from call to call (the optimizer's Core
        API, on the engine's optimizer for its method).

        Returns:
            The batch's loss before the update (a number), or ``[loss, *metrics]`` with
            metrics, or a dict with ``return_dict=True``; metrics are this batch's (Keras keeps
            running values until ``reset_metrics``) and not weighted.

        Raises:
            NetTrainError: not compiled; x and y of different lengths; bad weights.
        """
        return batch_methods.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def _forward(self, inputs: Any) -> Tensor:
        return batch_methods.forward(self, inputs)

    def evaluate(
        self,
        x: Any,
        y: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """The loss and the metrics on ``(x, y)``: ``[loss, *metrics]`` (a number without
        metrics; a dict with ``return_dict=True``), exact over uneven batches: computed on all
        the predictions at once. ``sample_weight`` weighs the loss (Keras'
        ``sum(w * loss) / n``), not the metrics."""
        return batch_methods.evaluate(self, x, y, batch_size, sample_weight, return_dict)

    def __repr__(self) -> str:
        state = "compiled" if self.compiled is not None else "not compiled"
        return f"Model({type(self.module).__name__}, {state})"
