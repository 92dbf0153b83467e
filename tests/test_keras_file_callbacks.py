"""ModelCheckpoint, CSVLogger and ProgbarLogger through real ``Model.fit`` runs.

References: Keras 3's keras/src/callbacks/model_checkpoint.py (file names from ``epoch + 1``
and the logs; save_best_only against the best so far, strict, starting at
initial_value_threshold; save_freq counts batches across epochs), csv_logger.py (columns
"epoch" + sorted keys + val_ keys when the first epoch had none; one header; flush per row)
and utils/progbar.py (verbose=2: ``"{n}/{n} - {s:.0f}s - {ms:.0f}ms/step - key: {v:.4f}"``).
The files are checked by loading them back and comparing with the weights a callback kept at
the same moment of the same run.
"""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from nettrain import NetTrainError, NetTrainWarning
from nettrain.keras import Callback, Model, load_model
from nettrain.keras.backup import TrainingStates
from nettrain.keras.callbacks import CallbackBridge
from nettrain.keras.file_callbacks import CSVLogger, ModelCheckpoint, ProgbarLogger, epoch_line
from nettrain.keras.optimizers import Adam


def _data(n: int = 48, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1


def _classes(n: int = 60, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()


def _model(features: int = 3, out: int = 1) -> Model:
    torch.manual_seed(0)
    model = Model(nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, out)))
    model.compile(optimizer="sgd", loss="mse")
    return model


class Keep(Callback):
    """Keeps each epoch's weights and logs; optionally replaces val_loss by a script."""

    def __init__(self, scripted=None):
        self.scripted = iter(scripted) if scripted is not None else None
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.logs: dict[int, dict[str, float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        if self.scripted is not None:
            logs["val_loss"] = next(self.scripted)
        self.weights[epoch] = self.model.state_dict_copy()
        self.logs[epoch] = dict(logs)


def _same(module: nn.Module, weights: dict[str, torch.Tensor]) -> bool:
    state = module.state_dict()
    return state.keys() == weights.keys() and all(torch.equal(state[k], weights[k]) for k in state)


# ---- ModelCheckpoint ------------------------------------------------------------------------


def test_a_file_per_epoch_named_from_epoch_and_logs_holding_that_epochs_weights(tmp_path):
    x, y = _data()
    keep = Keep()
    checkpoint = ModelCheckpoint(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.safetensors")
    model = _model()
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        verbose=0,
        validation_split=0.25,
        callbacks=[keep, checkpoint],
    )
    names = [f"m-{e + 1:02d}-{keep.logs[e]['val_loss']:.3f}.safetensors" for e in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    for epoch, name in enumerate(names):
        loaded = load_model(tmp_path / name)
        assert _same(loaded.module, keep.weights[epoch]), name
        assert loaded.compiled is not None and loaded.optimizer.get_config() == (
            model.optimizer.get_config()
        )
    assert not _same(load_model(tmp_path / names[0]).module, keep.weights[2])


def test_save_best_only_saves_the_improvements_and_one_file_keeps_the_best(tmp_path, capsys):
    x, y = _data()
    script = [1.0, 0.8, 0.9, 0.7, 0.75]
    keep = Keep(script)
    each = ModelCheckpoint(tmp_path / "each-{epoch}.safetensors", save_best_only=True)
    best = ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True, verbose=1)
    threshold = ModelCheckpoint(
        tmp_path / "t-{epoch}.safetensors", save_best_only=True, initial_value_threshold=0.85
    )
    highest = ModelCheckpoint(tmp_path / "max-{epoch}.safetensors", save_best_only=True, mode="max")
    model = _model()
    model.fit(
        x, y, batch_size=16, epochs=5, verbose=0, callbacks=[keep, each, best, threshold, highest]
    )
    files = {p.name for p in tmp_path.iterdir()}
    assert {f for f in files if f.startswith("each")} == {
        f"each-{e}.safetensors" for e in (1, 2, 4)
    }
    assert {f for f in files if f.startswith("t-")} == {"t-2.safetensors", "t-4.safetensors"}
    assert {f for f in files if f.startswith("max")} == {"max-1.safetensors"}
    assert _same(load_model(tmp_path / "best.safetensors").module, keep.weights[3])
    assert _same(load_model(tmp_path / "each-2.safetensors").module, keep.weights[1])
    assert best.best == 0.7 and threshold.best == 0.7 and highest.best == 1.0
    path = tmp_path / "best.safetensors"
    assert capsys.readouterr().out == (
        f"\nEpoch 1: val_loss improved from None to 1.00000, saving model to {path}\n"
        f"\nEpoch 2: val_loss improved from 1.00000 to 0.80000, saving model to {path}\n"
        "\nEpoch 3: val_loss did not improve from 0.80000\n"
        f"\nEpoch 4: val_loss improved from 0.80000 to 0.70000, saving model to {path}\n"
        "\nEpoch 5: val_loss did not improve from 0.70000\n"
    )


def test_save_weights_only_loads_back_uncompiled_with_the_weights(tmp_path):
    x, y = _data()
    keep = Keep()
    model = _model()
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[keep, ModelCheckpoint(tmp_path / "w.safetensors", save_weights_only=True)],
    )
    loaded = load_model(tmp_path / "w.safetensors")
    assert loaded.compiled is None and _same(loaded.module, keep.weights[1])


def test_an_integer_save_freq_saves_every_n_batches_across_epochs(tmp_path):
    x, y = _data(64)  # 4 batches of 16 per epoch
    kept: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

    class KeepBatches(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            kept[(self.epoch, batch)] = self.model.state_dict_copy()

    checkpoint = ModelCheckpoint(tmp_path / "b-{epoch}-{batch}-{loss:.2f}.safetensors", save_freq=3)
    assert CallbackBridge([checkpoint], model=None, metric_keys={}, epochs=(0, 1)).wants_batches
    assert not CallbackBridge(
        [ModelCheckpoint("m.safetensors")], model=None, metric_keys={}, epochs=(0, 1)
    ).wants_batches  # an epoch checkpoint costs no per-batch read of the loss
    model = _model()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[KeepBatches(), checkpoint])
    files = sorted(p.name for p in tmp_path.iterdir())
    # batches 3, 6, 9, 12 of 12: (epoch 1, batch 3), (2, 2), (3, 1), (3, 4), all 1-based
    assert [f.split("-")[1:3] for f in files] == [["1", "3"], ["2", "2"], ["3", "1"], ["3", "4"]]
    for name in files:
        epoch, batch = (int(v) for v in name.split("-")[1:3])
        assert _same(load_model(tmp_path / name).module, kept[(epoch - 1, batch - 1)]), name


def test_a_val_monitor_skips_epochs_without_validation_and_a_wrong_key_is_an_error(tmp_path):
    x, y = _data()
    model = _model()
    every = ModelCheckpoint(tmp_path / "v-{epoch}.safetensors", save_best_only=True, mode="max")
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        verbose=0,
        validation_split=0.25,
        validation_freq=2,
        callbacks=[every],
    )
    names = {p.name for p in tmp_path.iterdir()}  # only epochs 2 and 4 validated
    assert "v-2.safetensors" in names and names <= {"v-2.safetensors", "v-4.safetensors"}
    with pytest.raises(NetTrainError, match="'val_los' is not in the logs") as error:
        model.fit(
            x,
            y,
            batch_size=16,
            epochs=1,
            verbose=0,
            validation_split=0.25,
            callbacks=[
                ModelCheckpoint(tmp_path / "x.safetensors", monitor="val_los", save_best_only=True)
            ],
        )
    assert "val_loss" in str(error.value)
    with pytest.raises(NetTrainError, match=r"the field \{val_loss\} is not in the logs"):
        model.fit(
            x,
            y,
            batch_size=16,
            epochs=1,
            verbose=0,
            callbacks=[ModelCheckpoint(tmp_path / "{val_loss}.safetensors")],
        )


def test_auto_mode_follows_the_compiled_metrics_direction(tmp_path):
    x, y = _classes()
    torch.manual_seed(0)
    model = Model(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
    checkpoints = [
        ModelCheckpoint(tmp_path / f"{key}.safetensors", monitor=key, save_best_only=True)
        for key in ("acc", "val_loss")
    ]
    model.fit(x, y, batch_size=20, epochs=1, verbose=0, validation_split=0.2, callbacks=checkpoints)
    assert [c._direction for c in checkpoints] == ["max", "min"]


def test_a_missing_folder_is_created(tmp_path):
    x, y = _data()
    model = _model()
    path = tmp_path / "deep" / "er" / "m.safetensors"
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    assert path.is_file() and not any(p.name.startswith(".") for p in path.parent.iterdir())


# ---- ModelCheckpoint(save_training_state=True): a run resumed from what it wrote -----------


def _dropout_model(rate: float = 0.01) -> Model:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 3))
    model = Model(nn.Sequential(net, nn.Softmax(dim=1)))
    model.compile(Adam(learning_rate=rate), "sparse_categorical_crossentropy", ["acc"])
    return model


def _fit_states(model: Model, *callbacks: Callback, **more: object):
    x, y = _classes()
    options: dict = {"batch_size": 8, "epochs": 5, "validation_split": 0.2, **more}
    return model.fit(x, y, verbose=0, callbacks=list(callbacks), **options)


class Interrupt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_a_run_resumes_exactly_from_the_file_of_an_epoch(tmp_path, one_thread):
    reference = _dropout_model()
    history = _fit_states(reference)
    checkpoint = ModelCheckpoint(tmp_path / "m-{epoch:02d}.safetensors", save_training_state=True)
    with pytest.raises(RuntimeError):  # in epoch 4 (1-based), after its file was saved
        _fit_states(_dropout_model(), checkpoint, Interrupt(3))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"m-{e:02d}.safetensors" for e in range(1, 5)] + ["training_state"]
    states = TrainingStates(str(tmp_path / "training_state")).states()
    assert sorted(states) == [1, 2, 3]  # epoch 4's state would have come after the callbacks
    # Keras' recipe: load_model, then fit with initial_epoch; here with the same callback
    for start, model in ((3, load_model(tmp_path / "m-03.safetensors")), (2, _dropout_model())):
        resumed = _fit_states(model, checkpoint, initial_epoch=start)
        assert _same(model.module, reference.state_dict_copy()), start
        assert resumed.epoch == list(range(start, 5))
        assert resumed.history == {k: v[start:] for k, v in history.history.items()}
        assert model.optimizer.iterations == reference.optimizer.iterations
    assert sorted(TrainingStates(str(tmp_path / "training_state")).states()) == [1, 2, 3, 4, 5]


def test_only_the_states_of_files_kept_are_kept(tmp_path, one_thread):
    best = ModelCheckpoint(
        tmp_path / "best.safetensors", save_best_only=True, save_training_state=True
    )
    # val_loss scripted: the best is epoch 4 (1-based), which replaced epochs 1 and 2's file
    _fit_states(_dropout_model(), Keep([1.0, 0.8, 0.9, 0.7, 0.75]), best)
    assert sorted(TrainingStates(str(tmp_path / "training_state")).states()) == [4]
    with pytest.raises(NetTrainError, match=r"no training state of the end of epoch 2.*one of 4"):
        _fit_states(_dropout_model(), best, initial_epoch=2)
    reference = _dropout_model()
    _fit_states(reference, Keep([1.0, 0.8, 0.9, 0.7, 0.75]))
    model = _dropout_model()
    _fit_states(model, Keep([0.75]), best, initial_epoch=4)
    assert _same(model.module, reference.state_dict_copy())


def test_a_new_run_replaces_the_states_and_other_settings_are_refused(tmp_path, one_thread):
    checkpoint = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", save_training_state=True)
    folder = tmp_path / "training_state"
    with pytest.raises(RuntimeError):
        _fit_states(_dropout_model(), checkpoint, Interrupt(2))
    with pytest.raises(NetTrainError, match=r"^epochs: the training states .* epochs=5"):
        _fit_states(_dropout_model(), checkpoint, initial_epoch=2, epochs=6)
    with pytest.raises(
        NetTrainError, match=r"(?s)^callbacks: ModelCheckpoint: .*the option 'batch_size'"
    ):
        _fit_states(_dropout_model(), checkpoint, initial_epoch=2, batch_size=16)
    with pytest.raises(NetTrainError, match=r"^callbacks: ModelCheckpoint: a fit resumes only"):
        _fit_states(_dropout_model(), checkpoint, initial_epoch=2, shuffle=False)
    # going on after the run's last epoch is a new run (Keras' fit again for more epochs)
    model = _dropout_model()
    _fit_states(model, checkpoint, epochs=2)
    assert sorted(TrainingStates(str(folder)).states()) == [1, 2]
    history = _fit_states(model, checkpoint, initial_epoch=2, epochs=4)
    assert history.epoch == [2, 3] and sorted(TrainingStates(str(folder)).states()) == [1, 2]
    _fit_states(_dropout_model(), checkpoint, epochs=1)  # initial_epoch=0: a new run
    assert sorted(TrainingStates(str(folder)).states()) == [1]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"save_training_state": "yes"}, "must be True or False"),
        ({"save_training_state": True, "save_freq": 5}, "needs save_freq='epoch'"),
        ({"filepath": "run-{epoch}/m.safetensors", "save_training_state": True}, "no {} field"),
    ],
)
def test_bad_training_state_arguments_are_refused(arguments, words):
    with pytest.raises(NetTrainError, match=r"^ModelCheckpoint: save_training_state") as error:
        ModelCheckpoint(**{"filepath": "m.safetensors", **arguments})
    assert words in str(error.value)


# ---- CSVLogger ------------------------------------------------------------------------------


def _rows(path, separator=","):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_writes_keras_columns_and_the_exact_values(tmp_path):
    x, y = _classes()
    torch.manual_seed(0)
    model = Model(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "log.csv"
    history = model.fit(
        x, y, batch_size=20, epochs=3, verbose=0, validation_split=0.2, callbacks=[CSVLogger(path)]
    )
    rows = _rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == history.epoch == [0, 1, 2]
    for column, key in enumerate(rows[0][1:], start=1):
        assert [float(r[column]) for r in rows[1:]] == history.history[key], key  # exact
    text = path.read_bytes().decode()
    assert text.count("\r\n") == 4 and text.endswith("\r\n")


def test_csv_logger_without_validation_has_keras_val_columns_of_na(tmp_path):
    x, y = _data()
    path = tmp_path / "log.tsv"
    history = _model().fit(
        x, y, batch_size=16, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator="\t")]
    )
    rows = _rows(path, "\t")
    assert rows == [
        ["epoch", "loss", "val_loss"],
        ["0", repr(history.history["loss"][0]), "NA"],
        ["1", repr(history.history["loss"][1]), "NA"],
    ]


def test_csv_logger_append_writes_one_header_and_overwrite_starts_again(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    second = model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        initial_epoch=2,
        verbose=0,
        callbacks=[CSVLogger(path, append=True)],
    )
    rows = _rows(path)
    assert [r[0] for r in rows] == ["epoch", "0", "1", "2", "3"]
    assert [float(r[1]) for r in rows[3:]] == second.history["loss"]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[CSVLogger(path)])
    assert [r[0] for r in _rows(path)] == ["epoch", "0"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[CSVLogger(empty, append=True)])
    assert _rows(empty)[0] == ["epoch", "loss", "val_loss"]


def test_csv_logger_append_follows_an_existing_header_and_warns_of_dropped_keys(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    path.write_bytes(b"epoch,val_loss,loss\r\n")
    model = _model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.warns(NetTrainWarning, match=r"\['mae', 'val_mae'\] are not written"):
        history = model.fit(
            x, y, batch_size=16, epochs=1, verbose=0, callbacks=[CSVLogger(path, append=True)]
        )
    assert _rows(path) == [
        ["epoch", "val_loss", "loss"],
        ["0", "NA", repr(history.history["loss"][0])],
    ]


def test_csv_logger_rows_are_on_disk_before_training_ends(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    seen = []

    class Read(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(len(_rows(path)))

    _model().fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[CSVLogger(path), Read()])
    assert seen == [2, 3, 4]


# ---- ProgbarLogger --------------------------------------------------------------------------


class Verbose(ProgbarLogger):
    """Prints as fit(verbose=...) would, in a fit whose engine reporting is off (verbose=0)."""

    def __init__(self, verbose, **kwargs):
        super().__init__(**kwargs)
        self.forced = verbose

    def set_params(self, params):
        super().set_params({**params, "verbose": self.forced})


def _ticks(*times):
    values = iter(times)
    return lambda: next(values)


def test_the_verbose_2_lines_with_and_without_validation(capsys):
    x, y = _data()
    model = _model()
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[Verbose(2, clock=_ticks(0.0, 0.072, 1.0, 2.5))],
    )
    loss = history.history["loss"]
    assert capsys.readouterr().out == (
        f"Epoch 1/2\n3/3 - 0s - 24ms/step - loss: {loss[0]:.4f}\n"
        f"Epoch 2/2\n3/3 - 2s - 500ms/step - loss: {loss[1]:.4f}\n"
    )
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(
        x,
        y,
        batch_size=10,
        epochs=1,
        verbose=0,
        validation_split=0.25,
        callbacks=[Verbose(2, clock=_ticks(5.0, 5.0004))],
    )
    h = {k: v[0] for k, v in history.history.items()}
    assert list(h) == ["loss", "mae", "val_loss", "val_mae"]
    assert capsys.readouterr().out == (  # one epoch: no "Epoch 1/1" header, as Keras
        f"4/4 - 0s - 100us/step - loss: {h['loss']:.4f} - mae: {h['mae']:.4f} - "
        f"val_loss: {h['val_loss']:.4f} - val_mae: {h['val_mae']:.4f}\n"
    )


def test_verbose_1_prints_the_finished_bar_auto_the_line_and_0_nothing(capsys):
    x, y = _data()
    history = _model().fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[Verbose(1, clock=_ticks(0.0, 3.0, 3.0, 4.5))],
    )
    loss = history.history["loss"]
    bar = "━" * 20
    assert capsys.readouterr().out == (  # not a terminal: only each bar's final line
        f"Epoch 1/2\n3/3 {bar} 3s 1s/step - loss: {loss[0]:.4f}\n"
        f"Epoch 2/2\n3/3 {bar} 2s 500ms/step - loss: {loss[1]:.4f}\n"
    )
    history = _model().fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[Verbose("auto", clock=_ticks(0.0, 3.0, 3.0, 4.5))],
    )
    loss = history.history["loss"]
    assert capsys.readouterr().out == (  # "auto" off a terminal (capsys) is verbose 2
        f"Epoch 1/2\n3/3 - 3s - 1s/step - loss: {loss[0]:.4f}\n"
        f"Epoch 2/2\n3/3 - 2s - 500ms/step - loss: {loss[1]:.4f}\n"
    )
    _model().fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[ProgbarLogger()])
    assert capsys.readouterr().out == ""


def test_epoch_line_number_formats_and_unknown_steps():
    logs = {"loss": -0.5, "tiny": 0.0005, "nan": float("nan")}
    assert epoch_line(10, 12.0, logs, verbose=2) == (
        "10/10 - 12s - 1s/step - loss: -5.0000e-01 - tiny: 5.0000e-04 - nan: nan"
    )  # Keras' verbose 2 tests the value, not its size, against 1e-3
    assert epoch_line(10, 12.0, logs, verbose=1).endswith(
        "loss: -0.5000 - tiny: 5.0000e-04 - nan: nan"
    )
    assert epoch_line(None, 1.4, {"loss": 0.25}, verbose=2) == "1s - loss: 0.2500"


# ---- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: ModelCheckpoint("m.safetensors", mode="best"), "ModelCheckpoint: mode"),
        (lambda: ModelCheckpoint("m-{epoch.safetensors"), "ModelCheckpoint: filepath"),
        (lambda: ModelCheckpoint("m-{}.safetensors"), "ModelCheckpoint: filepath"),
        (lambda: ModelCheckpoint(3), "ModelCheckpoint: filepath"),
        (lambda: ModelCheckpoint("m.safetensors", save_freq="batch"), "ModelCheckpoint: save_freq"),
        (lambda: ModelCheckpoint("m.safetensors", save_freq=True), "ModelCheckpoint: save_freq"),
        (
            lambda: ModelCheckpoint("m", initial_value_threshold="0.1"),
            "ModelCheckpoint: initial_value_threshold",
        ),
        (lambda: ModelCheckpoint("m", monitor=None), "ModelCheckpoint: monitor"),
        (lambda: CSVLogger("log.csv", separator=", "), "CSVLogger: separator"),
        (lambda: CSVLogger(""), "CSVLogger: filename"),
        (lambda: ProgbarLogger(clock=3), "ProgbarLogger: clock"),
    ],
)
def test_bad_arguments_are_refused_when_made(make, argument):
    with pytest.raises(NetTrainError) as error:
        make()
    assert error.value.argument == argument


def test_a_csv_file_in_a_missing_folder_is_refused_at_the_start(tmp_path):
    x, y = _data()
    with pytest.raises(NetTrainError, match="cannot be opened for writing"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(tmp_path / "no" / "l.csv")])
