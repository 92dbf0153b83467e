"""Encoders (raw values -> tensors) and decoders (net outputs -> answers), SPEC S3.

Every encoder is a frozen dataclass with ``fit`` (learn from the training column), ``encode``
(column -> :class:`Encoded`), ``prepare`` (per-batch work on the device), ``config`` /
``from_config`` (JSON, no pickle) and ``describe``. Decoders have ``decode(output, prop)``.
:func:`infer_encoder` chooses an encoder from the data; :func:`decoder_for` the matching decoder.

Example:
    >>> import torch
    >>> enc = encoder("class").fit(["circle", "square", "triangle"])
    >>> y = enc.encode(["square", "circle"]).tensor
    >>> dec = decoder_for(enc)
    >>> dec.decode(torch.nn.functional.one_hot(y, 3).float() * 10)
    ['square', 'circle']
    >>> encoder_from_config(enc.config()) == enc
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import NetTrainError, did_you_mean
from .base import Encoded, Encoder
from .decoders import BooleanDecoder, ClassDecoder, Decoder, decoder_from_config
from .function import FunctionEncoder
from .image import ImageEncoder
from .infer import decoder_for, infer_encoder
from .labels import BooleanEncoder, ClassEncoder
from .scalar import ScalarEncoder
from .text import CharactersEncoder, TokensEncoder

__all__ = [
    "BooleanDecoder",
    "BooleanEncoder",
    "CharactersEncoder",
    "ClassDecoder",
    "ClassEncoder",
    "Decoder",
    "Encoded",
    "Encoder",
    "FunctionEncoder",
    "ImageEncoder",
    "ScalarEncoder",
    "TokensEncoder",
    "decoder",
    "decoder_for",
    "decoder_from_config",
    "encoder",
    "encoder_from_config",
    "infer_encoder",
]

ENCODERS: dict[str, type[Encoder]] = {
    cls.kind: cls
    for cls in (
        ImageEncoder,
        ClassEncoder,
        BooleanEncoder,
        ScalarEncoder,
        CharactersEncoder,
        TokensEncoder,
        FunctionEncoder,
    )
}
DECODERS: dict[str, type[Decoder]] = {"class": ClassDecoder, "boolean": BooleanDecoder}


def _lookup(kind: Any, table: Mapping[str, type[Any]], what: str) -> type[Any]:
    if kind not in table:
        raise NetTrainError(
            "kind",
            f"unknown {what} kind {kind!r}",
            expected="one of " + ", ".join(repr(k) for k in table),
            hint=did_you_mean(str(kind), table),
        )
    return table[kind]


def _construct(cls: type[Any], params: dict[str, Any], what: str) -> Any:
    names = list(cls.__dataclass_fields__)
    for key in params:
        if key not in names:
            raise NetTrainError(
                key,
                f"not a parameter of the {cls.kind!r} {what}",
                expected="one of " + ", ".join(repr(n) for n in names) if names else "none",
                hint=did_you_mean(key, names) if names else "give no parameters",
            )
    return cls(**params)


def encoder(kind: str, **params: Any) -> Encoder:
    """Make an encoder by kind name: "image", "class", "boolean", "scalar", "characters",
    "tokens" or "function".

    Raises:
        NetTrainError: an unknown kind or parameter (with close matches), a bad value.

    >>> encoder("image", size=(32, 32), color_space="rgb").describe()
    'Image encoder: image -> uint8 (rgb, 32x32), batches as x/255'
    """
    made: Encoder = _construct(_lookup(kind, ENCODERS, "encoder"), params, "encoder")
    return made


def decoder(kind: str, **params: Any) -> Decoder:
    """Make a decoder by kind name: "class" or "boolean".

    >>> decoder("class", classes=["no", "yes"]).classes
    ('no', 'yes')
    """
    made: Decoder = _construct(_lookup(kind, DECODERS, "decoder"), params, "decoder")
    return made


def encoder_from_config(config: Mapping[str, Any]) -> Encoder:
    """Rebuild any encoder from its ``config()`` dict (as read back from JSON).

    Raises:
        NetTrainError: no or unknown ``kind``, bad fields, a function encoder (code is not saved).
    """
    kind = config.get("kind") if isinstance(config, Mapping) else None
    made: Encoder = _lookup(kind, ENCODERS, "encoder").from_config(config)
    return made
