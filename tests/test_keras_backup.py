"""``BackupAndRestore``: a ``fit`` interrupted (an exception in a callback, a Ctrl-C, SIGKILL)
and called again on a freshly built model resumes from its last backup and ends, bit for bit,
where the uninterrupted ``fit`` ends (CPU, one thread).

References: the uninterrupted ``fit`` of the same seeded model (final weights with
``torch.equal``, the History of the epochs the resumed call ran, the optimizer's iterations
and learning rate); Keras 3's keras/src/callbacks/backup_and_restore.py for the arguments, the
History of a resumed fit (the epochs from the restored one on) and the deletion at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nettrain import NetTrainError, NetTrainWarning
from nettrain.keras import (
    BackupAndRestore,
    Callback,
    LambdaCallback,
    LearningRateScheduler,
    Model,
    optimizers,
)

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = (X.sum(1) > 0).long()
EPOCHS, BATCH = 6, 8  # validation_split=0.25 leaves 48 examples: 6 batches an epoch


pytestmark = pytest.mark.usefixtures("one_thread")  # bitwise comparisons


def _model(rate: float = 0.01) -> Model:
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Linear(3, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(dim=1)
    )
    model = Model(net)
    model.compile(optimizers.Adam(learning_rate=rate), "sparse_categorical_crossentropy", ["acc"])
    return model


def _fit(model: Model, *callbacks: object, x: torch.Tensor = X, **more: object):
    options: dict = {"batch_size": BATCH, "epochs": EPOCHS, "validation_split": 0.25, **more}
    # a scheduler of (epoch, lr): exact only if a resumed fit starts from the backup's rate
    schedule = LearningRateScheduler(lambda epoch, lr: lr * 0.9)
    return model.fit(x, Y, verbose=0, callbacks=[schedule, *callbacks], **options)


def _raise_at(method: str, when: int) -> LambdaCallback:
    """A callback that raises at its ``when``-th call of ``method`` (1-based)."""
    calls = []

    def interrupt(*_: object) -> None:
        calls.append(1)
        if len(calls) == when:
            raise RuntimeError("interrupted")

    return LambdaCallback(**{method: interrupt})


def _same_run(reference: Model, history, model: Model, resumed) -> None:
    for (name, a), b in zip(
        reference.module.state_dict().items(), model.module.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    n = len(resumed.epoch)
    assert resumed.epoch == history.epoch[-n:]
    assert resumed.history == {k: v[-n:] for k, v in history.history.items()}
    assert model.optimizer.iterations == reference.optimizer.iterations
    assert model.optimizer.learning_rate == reference.optimizer.learning_rate


@pytest.mark.parametrize(
    ("save_freq", "method", "when", "first"),
    [
        # on_epoch_begin(3) runs as epoch 2 ends, before its backup: resumed at epoch 2
        ("epoch", "on_epoch_begin", 4, 2),
        ("epoch", "on_epoch_end", 5, 4),
        # the 17th batch is batch 4 of epoch 2; the last backup was after the 15th batch
        (5, "on_train_batch_end", 17, 2),
    ],
)
def test_an_interrupted_fit_resumed_on_a_new_model_ends_as_the_whole_fit(
    save_freq, method, when, first, tmp_path
):
    reference = _model()
    history = _fit(reference)
    folder = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="interrupted"):
        _fit(_model(), BackupAndRestore(folder, save_freq=save_freq), _raise_at(method, when))
    assert sorted(os.listdir(folder)) == ["backup.safetensors", "backup.safetensors.prev"]
    model = _model()
    resumed = _fit(model, BackupAndRestore(folder, save_freq=save_freq))
    assert resumed.epoch == list(range(first, EPOCHS))
    _same_run(reference, history, model, resumed)
    assert not folder.exists()  # deleted after the fit that completed


def test_fit_again_on_the_interrupted_model_itself_resumes(tmp_path):
    """The notebook case: the same Model object, whose optimizer has moved on since."""
    reference = _model()
    history = _fit(reference)
    model = _model()
    with pytest.raises(RuntimeError):
        _fit(model, BackupAndRestore(tmp_path / "b"), _raise_at("on_epoch_end", 3))
    assert model.optimizer.iterations > 0
    _same_run(reference, history, model, _fit(model, BackupAndRestore(tmp_path / "b")))


def test_a_ctrl_c_keeps_the_backup_and_fit_again_resumes(tmp_path):
    """The engine stops at the batch on SIGINT and fit returns: not a completed fit, so the
    backup stays for the next fit."""

    def interrupt(epoch: int, logs: object) -> None:
        if epoch == 2:
            signal.raise_signal(signal.SIGINT)

    reference = _model()
    history = _fit(reference)
    model = _model()
    stopped = _fit(
        model, BackupAndRestore(tmp_path / "b"), LambdaCallback(on_epoch_begin=interrupt)
    )
    assert len(stopped.epoch) < EPOCHS and (tmp_path / "b" / "backup.safetensors").exists()
    resumed = _fit(model, BackupAndRestore(tmp_path / "b"))
    _same_run(reference, history, model, resumed)
    assert not (tmp_path / "b").exists()


class Order(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch))


def test_a_fit_resumed_within_an_epoch_calls_the_callbacks_from_there(tmp_path):
    with pytest.raises(RuntimeError):
        _fit(_model(), BackupAndRestore(tmp_path, save_freq=4), _raise_at("on_batch_end", 10))
    order = Order()
    _fit(_model(), BackupAndRestore(tmp_path, save_freq=4), order)
    # 8 batches were backed up: epoch 1 goes on at its batch 2 (0-based)
    assert order.calls[:5] == [
        ("epoch_begin", 1), ("batch_begin", 2), ("batch_begin", 3), ("batch_begin", 4),
        ("batch_begin", 5),
    ]  # fmt: skip
    assert order.calls[5:8] == [("epoch_end", 1), ("epoch_begin", 2), ("batch_begin", 0)]


KILLED = """
import os, signal, sys, torch
sys.path.insert(0, sys.argv[2])  # the tests' folder
from test_keras_backup import BackupAndRestore, LambdaCallback, _fit, _model
torch.set_num_threads(1)

def kill(batch, logs):
    kill.n += 1
    if kill.n == 20:
        os.kill(os.getpid(), signal.SIGKILL)
kill.n = 0
_fit(_model(), BackupAndRestore(sys.argv[1], save_freq=3), LambdaCallback(on_batch_end=kill))
"""


def test_a_fit_killed_with_sigkill_resumes_in_another_process(tmp_path):
    script, folder = tmp_path / "killed.py", tmp_path / "backup"
    script.write_text(KILLED)
    command = [sys.executable, str(script), str(folder), str(Path(__file__).parent)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    reference = _model()
    history = _fit(reference)
    model = _model()
    resumed = _fit(model, BackupAndRestore(folder, save_freq=3))
    # backed up after batch 18, the last of epoch 2 but before its end (measured, validated)
    assert resumed.epoch == [2, 3, 4, 5]
    _same_run(reference, history, model, resumed)


def test_the_backup_is_kept_on_failure_and_deleted_on_success_with_delete_checkpoint(tmp_path):
    folder = tmp_path / "b"
    with pytest.raises(RuntimeError):
        _fit(_model(), BackupAndRestore(folder), _raise_at("on_epoch_end", 2))
    assert (folder / "backup.safetensors").exists()
    kept = BackupAndRestore(folder, delete_checkpoint=False)
    model = _model()
    _fit(model, kept)
    assert (folder / "backup.safetensors").exists()
    # the backup of the end of the run: fit again resumes there, with nothing left to train
    weights = model.state_dict_copy()
    again = _fit(model, kept)
    after = model.state_dict_copy()
    assert again.epoch == [] and all(torch.equal(weights[k], after[k]) for k in weights)
    # a file of the user's in the folder stays, and with it the folder; ours go
    (folder / "notes.txt").write_text("mine")
    _fit(_model(), BackupAndRestore(folder))
    assert sorted(os.listdir(folder)) == ["notes.txt"]


@pytest.mark.parametrize("double_checkpoint", [False, True])
def test_a_damaged_backup_falls_back_to_the_previous_one(double_checkpoint, tmp_path):
    """Both keep the previous generation: a damaged backup resumes one epoch earlier, still
    exactly."""
    backup = BackupAndRestore(tmp_path, double_checkpoint=double_checkpoint)
    with pytest.raises(RuntimeError):
        _fit(_model(), backup, _raise_at("on_epoch_end", 4))
    latest = tmp_path / "backup.safetensors"
    latest.write_bytes(latest.read_bytes()[:200])
    reference = _model()
    history = _fit(reference)
    model = _model()
    with pytest.warns(NetTrainWarning, match="prev"):
        resumed = _fit(model, backup)
    assert resumed.epoch[0] == 2
    _same_run(reference, history, model, resumed)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"batch_size": 16}, r"the option 'batch_size': 8 then, 16 now"),
        ({"epochs": 8}, r"'max_training_rounds'.*is epochs - initial_epoch"),
        ({"rate": 0.02}, r"the option 'method'.*'method' is the compiled optimizer"),
        ({"validation_split": 0.5}, r"the option 'validation_set'"),
        ({"x": X * 2}, r"the data's column 'input'.*'input' is x"),
    ],
)
def test_a_changed_setting_on_resume_is_refused_naming_it(change, named, tmp_path):
    with pytest.raises(RuntimeError):
        _fit(_model(), BackupAndRestore(tmp_path), _raise_at("on_epoch_end", 2))
    change = dict(change)
    model = _model(change.pop("rate", 0.01))
    with pytest.raises(
        NetTrainError, match=r"(?s)^callbacks: BackupAndRestore: .*" + named
    ) as error:
        _fit(model, BackupAndRestore(tmp_path), **change)
    assert str(tmp_path) in str(error.value)  # the folder to remove to start afresh
    assert (tmp_path / "backup.safetensors").exists()


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"backup_dir": "b", "save_freq": 0}, "BackupAndRestore: save_freq"),
        ({"backup_dir": "b", "save_freq": "epochs"}, "BackupAndRestore: save_freq"),
        ({"backup_dir": "b", "save_freq": False}, "BackupAndRestore: save_freq"),
        ({"backup_dir": "b", "save_freq": 2.5}, "BackupAndRestore: save_freq"),
        ({"backup_dir": 3}, "BackupAndRestore: backup_dir"),
        ({"backup_dir": ""}, "BackupAndRestore: backup_dir"),
        ({"backup_dir": None}, "BackupAndRestore: backup_dir"),
        ({"backup_dir": "b", "double_checkpoint": "yes"}, "BackupAndRestore: double_checkpoint"),
        ({"backup_dir": "b", "delete_checkpoint": 1}, "BackupAndRestore: delete_checkpoint"),
    ],
)
def test_bad_arguments_are_refused_naming_them(arguments, argument):
    with pytest.raises(NetTrainError) as error:
        BackupAndRestore(**arguments)
    assert error.value.argument == argument


def test_keras_argument_order_and_defaults():
    backup = BackupAndRestore("b", 10, True, False)
    assert (backup.backup_dir, backup.save_freq) == ("b", 10)
    assert (backup.double_checkpoint, backup.delete_checkpoint) == (True, False)
    default = BackupAndRestore(Path("b"))
    assert (default.save_freq, default.double_checkpoint, default.delete_checkpoint) == (
        "epoch", False, True,
    )  # fmt: skip


def test_a_stream_or_two_backups_are_refused_before_training(tmp_path):
    model = _model()
    with pytest.raises(NetTrainError, match=r"^callbacks: BackupAndRestore: a fit resumes only"):
        _fit(model, BackupAndRestore(tmp_path / "b"), shuffle=False)
    with pytest.raises(NetTrainError, match=r"^callbacks: has more than one"):
        _fit(model, BackupAndRestore(tmp_path / "b"), BackupAndRestore(tmp_path / "c"))
    assert model.optimizer.iterations == 0 and not (tmp_path / "b").exists()
