"""What must not change between a run and its resume, kept beside the run.

A search (``tune``) or a sweep (``exhaustive``) resumed from its output
directory continues with the settings it started with; a changed command
would silently run the old one. The first run writes a JSON *fingerprint* of
its settings; every later run compares its own and refuses a difference.

A field that one side lacks counts as ``None`` or empty: a field added by a
later version of the library with a ``None`` or empty default (the old
behaviour; e.g. a space's ``crop_sizes=()``) does not block resuming a run
started before it existed.

Example:
  >>> changed({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": None})
  ['b.c']
  >>> changed({"a": 1}, {"a": 1, "e": []}), changed({"a": 1}, {"e": [2]})
  ([], ['a', 'e'])
"""

from __future__ import annotations

import json
import os


def _json(value) -> object:
  """Tuples become lists, as they come back from a JSON file."""
  return json.loads(json.dumps(value, default=list))


_ABSENT = object()


def _absent_as_none(value):
  """An absent field, or one at an empty default, means ``None``."""
  return None if value is _ABSENT or value in ([], {}, ()) else value


def changed(before: dict, now: dict, prefix: str = "") -> list[str]:
  """Dotted names of the fields whose values differ (absent == ``None`` ==
  empty)."""
  out = []
  for k in sorted(set(before) | set(now)):
    a = _absent_as_none(before.get(k, _ABSENT))
    b = _absent_as_none(now.get(k, _ABSENT))
    if isinstance(a, dict) and isinstance(b, dict):
      out += changed(a, b, f"{prefix}{k}.")
    elif a != b:
      out.append(f"{prefix}{k}")
  return out


def _lookup(d: dict, dotted: str):
  for part in dotted.split("."):
    d = d.get(part) if isinstance(d, dict) else None
  return d


def check_or_write(path: str, now: dict, what: str,
                   error: type[Exception] = ValueError,
                   normalize=None) -> None:
  """Writes ``now`` to ``path`` on the first run; later, raises ``error``
  naming every changed field with its stored and new value. ``normalize``
  (a function of a fingerprint) maps both sides to what they mean before
  they are compared (e.g. overrides resolved over their defaults)."""
  now = _json(now)
  if not os.path.exists(path):
    with open(path, "w") as f:
      json.dump(now, f, indent=2)
    return
  with open(path) as f:
    before = json.load(f)
  if normalize is not None:
    before, now = _json(normalize(before)), _json(normalize(now))
  diff = changed(before, now)
  if diff:
    shown = ", ".join(f"{k}: {_lookup(before, k)!r} -> {_lookup(now, k)!r}"
                      for k in diff)
    raise error(f"{os.path.dirname(path) or '.'!r} holds a {what} with other "
                f"settings ({shown}); allowed: the same command (to resume) "
                "or a new output_dir")
