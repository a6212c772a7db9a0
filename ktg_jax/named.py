"""A registry name with parameters in one string: ``"name:key=value,key=value"``.

Where a graph or a config names an entry of a registry by a string (an ssl
node's ``learner``, a view kind of ``config.views``), the string may carry
that entry's parameters, so the graph / config stays one JSON-able record
(saved in graph.json, sent to search workers) and states what it trains:
``"simclr:temperature=0.2"``, ``"ssl:min_scale=0.2,blur_prob=0.5"``.

Values are read as int, then float, then ``true`` / ``false``, else kept as
text. ``format`` writes the string back (keys sorted).

Example:
  >>> parse("simclr:temperature=0.2,hidden_dim=512")
  Named(name='simclr', params={'temperature': 0.2, 'hidden_dim': 512})
  >>> parse("simclr")
  Named(name='simclr', params={})
  >>> format_named("ssl", {"min_scale": 0.2, "blur_prob": 0.5})
  'ssl:blur_prob=0.5,min_scale=0.2'
  >>> parse("ssl:min_scale")
  Traceback (most recent call last):
  ...
  ValueError: 'ssl:min_scale': parameter 'min_scale' has no value; allowed: name:key=value,key=value
"""

from __future__ import annotations

from typing import Any, NamedTuple

_FORM = "name:key=value,key=value"


class Named(NamedTuple):
  name: str
  params: dict


def _value(text: str) -> Any:
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {"true": True, "false": False}.get(text.lower(), text)


def parse(text: str) -> Named:
  """``"name:k=v,..."`` -> ``Named(name, {k: v})``; ValueError on a malformed
  string (a parameter without ``=``, an empty key, a repeated key)."""
  if not isinstance(text, str):
    raise ValueError(f"{text!r}; allowed: a string {_FORM}")
  name, _, rest = text.partition(":")
  params: dict = {}
  for item in filter(None, (s.strip() for s in rest.split(","))):
    key, eq, value = item.partition("=")
    key = key.strip()
    if not eq or not key:
      raise ValueError(f"{text!r}: parameter {item!r} has no value; "
                       f"allowed: {_FORM}")
    if key in params:
      raise ValueError(f"{text!r}: parameter {key!r} is repeated; "
                       f"allowed: each key once")
    params[key] = _value(value.strip())
  return Named(name.strip(), params)


def format_named(name: str, params: dict) -> str:
  """The string ``parse`` reads back as ``Named(name, params)``."""
  if not params:
    return name
  return name + ":" + ",".join(f"{k}={params[k]}" for k in sorted(params))


def check_keys(text: str, params: dict, allowed) -> None:
  """ValueError naming the unknown keys of ``params`` and the allowed ones."""
  unknown = sorted(set(params) - set(allowed))
  if unknown:
    raise ValueError(f"{text!r}: parameters {unknown}; allowed: "
                     f"{sorted(allowed)}")


__all__ = ["Named", "check_keys", "format_named", "parse"]
