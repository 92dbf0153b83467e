"""The image encoder: PIL images, numpy arrays and image files -> uint8 ``[n, C, H, W]``.

Images are kept as uint8 in memory (4x smaller than float32) and turned into normalised floats
one batch at a time by :meth:`ImageEncoder.prepare`, on the device (SPEC S8).

Pillow is needed only for PIL images, files, resizing and colour conversion; it is imported when
first used (install it with ``pip install pillow`` or ``pip install nettrain[images]``).

Example:
    >>> import numpy as np
    >>> pixels = np.full((4, 6), 255, dtype=np.uint8)
    >>> enc = ImageEncoder().fit([pixels])
    >>> enc.size, enc.color_space
    ((4, 6), 'grayscale')
    >>> batch = enc.encode([pixels, pixels]).tensor
    >>> batch.shape, batch.dtype, float(enc.prepare(batch).max())
    (torch.Size([2, 1, 4, 6]), torch.uint8, 1.0)
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import NetTrainError, describe
from .base import Encoded, Encoder, array_to_tensor, as_column, check_choice

__all__ = ["IMAGE_EXTENSIONS", "ImageEncoder", "is_image_path", "is_pil_image"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_CHANNELS = {"grayscale": 1, "rgb": 3}
_PIL_MODE = {"grayscale": "L", "rgb": "RGB"}
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


def _pil() -> Any:
    """The PIL.Image module, or a NetTrainError saying how to install Pillow."""
    try:
        from PIL import Image  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise NetTrainError(
            "data",
            "reading images needs the Pillow package, which is not installed",
            hint="pip install pillow  (or: pip install 'nettrain[images]')",
        ) from None
    return Image


def is_pil_image(value: object) -> bool:
    """Whether ``value`` is a PIL image (checked without importing PIL)."""
    return type(value).__module__.split(".")[0] == "PIL" and hasattr(value, "mode")


def is_image_path(value: object) -> bool:
    """Whether ``value`` is a str or path ending in an image file extension.

    >>> is_image_path("cat.PNG"), is_image_path("cat.txt"), is_image_path(3)
    (True, False, False)
    """
    if isinstance(value, (str, pathlib.PurePath)):
        return pathlib.PurePath(value).suffix.lower() in IMAGE_EXTENSIONS
    return False


def _channels_of_array(array: np.ndarray) -> int:
    return 1 if array.ndim == 2 else array.shape[2]


class _Unreadable(Exception):
    """A file that could not be read as an image: the example is skipped, not an error."""


@dataclass(frozen=True)
class ImageEncoder(Encoder):
    """Images -> uint8 ``[n, C, H, W]``; :meth:`prepare` makes normalised float batches.

    Accepted values: PIL images; numpy arrays ``(H, W)`` or ``(H, W, C)`` with C in 1, 3, 4
    (uint8 0-255, or floats in [0, 1]); file paths (str or ``pathlib.Path``). An alpha channel
    is dropped. A uint8 tensor or array already shaped ``[n, C, H, W]`` passes through.

    Args:
        size: ``(height, width)`` every image is resized to (bilinear, with PIL); ``None`` =
            the first image's size, learnt by :meth:`fit`.
        color_space: ``"grayscale"`` (C = 1) or ``"rgb"`` (C = 3); ``None`` = the first image's,
            learnt by :meth:`fit`.
        mean, std: per-channel values (or one for all) applied after scaling to [0, 1]:
            ``(x / 255 - mean) / std``; ``None`` = 0 and 1.

    Files that are missing or cannot be decoded are skipped: their indices are returned in
    :attr:`Encoded.skipped` (a dataset with a few broken files still trains).

    Raises:
        NetTrainError: an unsupported value (naming its index), float pixels outside [0, 1],
            bad parameters, an unfitted encoder, Pillow missing when it is needed.
    """

    kind: ClassVar[str] = "image"
    size: tuple[int, int] | None = None
    color_space: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.size is not None:
            size = tuple(self.size)
            if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
                raise NetTrainError(
                    "size",
                    "must be (height, width) in pixels",
                    expected="two positive integers",
                    received=repr(self.size),
                )
            object.__setattr__(self, "size", size)
        if self.color_space is not None:
            check_choice("color_space", self.color_space, tuple(_CHANNELS))
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is None:
                continue
            values = (value,) if isinstance(value, (int, float)) else tuple(value)
            ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
            if not ok or len(values) not in (1, 3) or (name == "std" and min(values) <= 0):
                raise NetTrainError(
                    name,
                    "must be one number or one per channel",
                    expected="1 or 3 finite numbers" + (", all > 0" if name == "std" else ""),
                    received=repr(value),
                )
            object.__setattr__(self, name, tuple(float(v) for v in values))

    @property
    def channels(self) -> int | None:
        """C: 1 for grayscale, 3 for RGB, None before fitting."""
        return None if self.color_space is None else _CHANNELS[self.color_space]

    @property
    def fitted(self) -> bool:
        return self.size is not None and self.color_space is not None

    # -- fitting --------------------------------------------------------------------------

    def fit(self, values: Sequence[Any]) -> ImageEncoder:
        """Take size and colour space, where not given, from the first readable image.

        Raises:
            NetTrainError: no readable image in the column.
        """
        if self.fitted:
            return self
        if isinstance(values, (torch.Tensor, np.ndarray)) and values.ndim == 4:
            # an already-encoded [n, C, H, W] block: its shape is the answer
            c, h, w = values.shape[1:]
            space = self.color_space or ("grayscale" if c == 1 else "rgb")
            return replace(self, size=self.size or (int(h), int(w)), color_space=space)
        column = as_column(values, argument="data", kind=self.kind)
        for i, value in enumerate(column):
            try:
                size, space = self._probe(value, i, "data")
            except _Unreadable:
                continue
            return replace(self, size=self.size or size, color_space=self.color_space or space)
        first = f", the first {describe(column[0])}" if column else ""
        raise NetTrainError(
            "data",
            "found no readable image to learn the image size and colour space from",
            expected="PIL images, image arrays or paths to image files",
            received=f"{len(column)} values{first}",
            hint="check the file paths, or give size=(h, w) and color_space explicitly",
        )

    def _probe(self, value: Any, index: int, argument: str) -> tuple[tuple[int, int], str]:
        if isinstance(value, (np.ndarray, torch.Tensor)):
            array = self._check_array(np.asarray(value), index, argument)
            space = "grayscale" if _channels_of_array(array) == 1 else "rgb"
            return (array.shape[0], array.shape[1]), space
        image = self._open(value, index, argument)
        space = "grayscale" if image.mode in _GRAY_MODES else "rgb"
        return (image.height, image.width), space

    # -- reading one value ----------------------------------------------------------------

    def _open(self, value: Any, index: int, argument: str) -> Any:
        """A PIL image from a PIL image or a path; _Unreadable for bad files."""
        if is_pil_image(value):
            return value
        if isinstance(value, (str, pathlib.PurePath)):
            Image = _pil()
            try:
                with Image.open(value) as image:
                    image.load()
                    return image.copy() if image.mode != "P" else image.convert("RGBA")
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
                raise _Unreadable(str(error)) from None
        raise NetTrainError(
            argument,
            "the image encoder cannot read this value",
            index=index,
            expected="a PIL image, a numpy array (H, W) or (H, W, C), or an image file path",
            received=describe(value),
        )

    def _check_array(self, array: np.ndarray, index: int, argument: str) -> np.ndarray:
        shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))
        if not shape_ok or array.dtype.kind not in "buif" or array.size == 0:
            raise NetTrainError(
                argument,
                "an image array must be (height, width) or (height, width, channels)",
                index=index,
                expected="a numeric array of shape (H, W) or (H, W, C) with C in 1, 3, 4",
                received=describe(array),
            )
        if array.dtype == np.uint8:
            return array
        if array.dtype.kind == "f":
            low, high = float(np.min(array)), float(np.max(array))
            if not (low >= 0.0 and high <= 1.0):  # also catches NaN
                raise NetTrainError(
                    argument,
                    "float image pixels must lie in [0, 1]",
                    index=index,
                    expected="floats in [0, 1] or uint8 in [0, 255]",
                    received=f"values from {low:g} to {high:g}",
                    hint="divide by 255, or convert the array to uint8",
                )
            return np.rint(array * 255).astype(np.uint8)
        if array.min() < 0 or array.max() > 255:
            raise NetTrainError(
                argument,
                "integer image pixels must lie in [0, 255]",
                index=index,
                received=f"values from {array.min()} to {array.max()}",
            )
        return array.astype(np.uint8)

    def _pixels(self, value: Any, index: int, argument: str) -> np.ndarray:
        """One value as uint8 (H, W, C) at the encoder's size and colour space."""
        assert self.size is not None and self.color_space is not None
        channels = _CHANNELS[self.color_space]
        if isinstance(value, (np.ndarray, torch.Tensor)):
            array = self._check_array(np.asarray(value), index, argument)
            if array.shape[:2] == self.size and _channels_of_array(array) == channels:
                # the common case (arrays already right): no round trip through PIL
                return array.reshape(*self.size, channels)
            if array.ndim == 3 and array.shape[2] == 1:
                array = array[:, :, 0]
            image = _pil().fromarray(array)
        else:
            image = self._open(value, index, argument)
        mode = _PIL_MODE[self.color_space]
        if image.mode != mode:
            image = image.convert(mode)
        height, width = self.size
        if (image.height, image.width) != (height, width):
            image = image.resize((width, height), _pil().Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8).reshape(height, width, channels)

    # -- the column -----------------------------------------------------------------------

    def encode(self, values: Sequence[Any], *, argument: str = "data") -> Encoded:
        """Encode a column of images.

        Returns:
            ``Encoded`` with uint8 ``[n - len(skipped), C, H, W]`` and the indices of the files
            that could not be read.
        """
        if self.size is None or self.color_space is None:
            raise self._not_fitted(argument)
        channels = _CHANNELS[self.color_space]
        shape = (channels, *self.size)
        passed = self._passthrough(values, shape)
        if passed is not None:
            return Encoded(passed)
        column = as_column(values, argument=argument, kind=self.kind)
        out = np.empty((len(column), *shape), dtype=np.uint8)
        skipped: list[int] = []
        for i, value in enumerate(column):
            try:
                pixels = self._pixels(value, i, argument)
            except _Unreadable:
                skipped.append(i)
                continue
            out[i - len(skipped)] = pixels.transpose(2, 0, 1)
        return Encoded(torch.from_numpy(out[: len(column) - len(skipped)]), skipped)

    def _passthrough(self, values: Any, shape: tuple[int, ...]) -> torch.Tensor | None:
        if not isinstance(values, (torch.Tensor, np.ndarray)) or values.dtype not in (
            np.uint8,
            torch.uint8,
        ):
            return None
        if values.ndim == 4 and tuple(values.shape[1:]) == shape:
            return values if isinstance(values, torch.Tensor) else array_to_tensor(values)
        channels, height, width = shape
        # a block of [n, H, W] or [n, H, W, C] uint8 images of the right size: transpose at once
        right_channels = (values.ndim == 3 and channels == 1) or (
            values.ndim == 4 and values.shape[3] == channels
        )
        if (
            isinstance(values, np.ndarray)
            and values.shape[1:3] == (height, width)
            and right_channels
        ):
            block = values.reshape(len(values), height, width, channels)
            return array_to_tensor(np.ascontiguousarray(block.transpose(0, 3, 1, 2)))
        return None

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 ``[b, C, H, W]`` -> float32 ``(x / 255 - mean) / std`` on the batch's device.

        A floating batch is taken as already scaled to [0, 1] (only mean/std are applied).

        >>> enc = ImageEncoder(size=(1, 1), color_space="grayscale", mean=0.5, std=0.5)
        >>> enc.prepare(torch.tensor([[[[0]]], [[[255]]]], dtype=torch.uint8)).flatten()
        tensor([-1.,  1.])
        """
        x = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch
        if self.mean is not None:
            x = x - torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        if self.std is not None:
            x = x / torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return x

    def describe(self) -> str:
        size = "size of the first image" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        space = self.color_space or "colour space of the first image"
        norm = "x/255"
        if self.mean is not None or self.std is not None:
            norm = f"(x/255 - {list(self.mean or (0.0,))}) / {list(self.std or (1.0,))}"
        return f"Image encoder: image -> uint8 ({space}, {size}), batches as {norm}"
