"""Typed configuration records read out of a script's ``ConfigDict``.

A script's configuration is one flat ``ml_collections.ConfigDict`` (every
field overridable as ``--config.FIELD=...``); each consumer reads its own
typed ``NamedTuple`` out of it — ``fit`` a ``run.fit_config.FitConfig``, the
data loader a ``data.data_config.DataConfig`` — so a consumer depends on
exactly the fields it reads. ``pick`` takes those fields (checking their
types, naming a wrong one), ``config_fields`` gives a record back as
``ConfigDict`` entries, with typed placeholders for ``None`` defaults.

Example:
  >>> from typing import NamedTuple
  >>> class Knobs(NamedTuple):
  ...   epochs: int = 3
  ...   metric: str | None = None
  >>> pick(Knobs, {"epochs": 5, "dataset": "digits"})
  Knobs(epochs=5, metric=None)
  >>> pick(Knobs, {"epochs": "five"})
  Traceback (most recent call last):
  ...
  ValueError: config.epochs='five'; allowed: an int
"""

from __future__ import annotations

import types
import typing
from typing import Any, Mapping

from ml_collections import config_dict


def field_type(cls, name: str) -> tuple[type, bool]:
  """(type, may be None) of field ``name`` of the NamedTuple ``cls``."""
  hint = typing.get_type_hints(cls)[name]
  if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0], True
  return hint, False


def checked(cls, name: str, value):
  """``value`` as the type of field ``name`` (an int for a float field, a
  list for a tuple field), or a ValueError naming the field and the type."""
  kind, optional = field_type(cls, name)
  if value is None and optional:
    return None
  if kind is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if kind is tuple and isinstance(value, list):
    return tuple(value)
  if kind is dict and isinstance(value, Mapping):
    return dict(value)
  if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
    article = "an" if kind.__name__[0] in "aeiou" else "a"
    raise ValueError(f"config.{name}={value!r}; allowed: {article} "
                     f"{kind.__name__}" + (" or None" if optional else ""))
  return value


def pick(cls, config: Any):
  """The fields of NamedTuple ``cls`` in ``config`` (an instance, a
  ``ConfigDict``, a mapping, or an object with those attributes); absent
  fields keep their defaults, other fields are left out."""
  if isinstance(config, cls):
    return config
  if hasattr(config, "to_dict"):
    given = config.to_dict()
  elif isinstance(config, Mapping):
    given = dict(config)
  else:
    given = {f: getattr(config, f) for f in cls._fields if hasattr(config, f)}
  return cls(**{name: checked(cls, name, given[name])
                for name in cls._fields if name in given})


def config_fields(record) -> dict:
  """``record``'s fields as ``ConfigDict`` entries: ``None`` becomes a typed
  placeholder, so a command line can still set it."""
  cls = type(record)
  return {name: (config_dict.placeholder(field_type(cls, name)[0])
                 if value is None else value)
          for name, value in record._asdict().items()}
