r"""Would shorter trials have ranked a search's graphs as its full trials did?

  python experiments/search_proxy.py --workdir=runs/ssl_search \
      --proxy_epochs=8,16 --full_epoch=32

Reads the validation curves every trial of ``experiments/search.py`` reported
(Ray Tune's results under ``<workdir>/tune``; the search may still be running)
and prints, for each proxy length, over the graphs that reached
``--full_epoch``: Spearman's rho of the proxy's and the full length's scores,
whether the proxy's best graph is the full length's best, and the full-length
score it would lose (``ktg_jax/search/proxy.py``). ``--json`` also writes the
rows, ``--plot`` draws every graph's curve. A search may shorten its trials to a proxy only where these agree.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags

from ktg_jax.cli import common  # the scripts' command line
from ktg_jax.search import proxy

_WORKDIR = flags.DEFINE_string("workdir", None, "the search's --workdir")
_PROXY = flags.DEFINE_list("proxy_epochs", None, "proxy lengths (epochs)")
_FULL = flags.DEFINE_integer("full_epoch", None, "the full length (default: "
                             "the longest epoch any trial reached)")
_JSON = flags.DEFINE_string("json", None, "also write the rows here")
_PLOT = flags.DEFINE_string("plot", None, "also draw every graph's curve "
                            "(validation score against epochs) here, the "
                            "proxy lengths marked")
_REFERENCE = flags.DEFINE_list(
    "reference", [], "horizontal lines on --plot, label=score (e.g. "
    "'untrained=0.7333'), in the search's score units")


def plot(curves, proxy_epochs, path: str, references=()) -> str:
  """Every graph's validation curve, the proxy lengths as vertical lines,
  ``references`` ((label, score), ...) as horizontal ones."""
  from ktg_jax.viz import figures  # pylint: disable=import-outside-toplevel
  fig, ax = figures.subplots(figsize=(6.5, 4))
  for name, curve in curves.items():
    epochs = sorted(curve)
    ax.plot(epochs, [100 * curve[e] for e in epochs], lw=1, alpha=0.8,
            marker=".", ms=3)
  for e in proxy_epochs:
    ax.axvline(e, color="grey", ls=":", lw=1)
  for k, (label, score) in enumerate(references):
    ax.axhline(100 * score, color="k", ls=("--", "-.", ":")[k % 3], lw=1.2,
               label=f"{label} {100 * score:.2f}")
  ax.set_xlabel("epoch")
  ax.set_ylabel("validation score (%)")
  ax.set_title(f"{len(curves)} searched graphs; dotted: proxy lengths",
               fontsize=9)
  ax.grid(alpha=0.3)
  if references:
    ax.legend(fontsize=7, loc="lower right")
  return figures.save(fig, path)


def main(argv):
  del argv
  from ray.tune import ExperimentAnalysis  # pylint: disable=import-outside-toplevel
  path = os.path.abspath(os.path.join(_WORKDIR.value, "tune"))
  if not os.path.isdir(path):
    raise app.UsageError(f"--workdir={_WORKDIR.value!r} has no tune/ folder "
                         "(an experiments/search.py --workdir)")
  curves = proxy.curves_of(ExperimentAnalysis(path).trial_dataframes)
  full = _FULL.value or max((max(c) for c in curves.values()), default=0)
  proxy_epochs = [int(e) for e in _PROXY.value]
  rows = []
  print(f"{len(curves)} graphs; full length {full} epochs "
        f"({sum(full in c for c in curves.values())} reached it)")
  print("| proxy epochs | graphs | Spearman rho | same best | regret |")
  print("|---|---|---|---|---|")
  for epoch in proxy_epochs:
    a = proxy.agreement(curves, epoch, full)
    rows.append(a._asdict())
    print(f"| {epoch} | {a.n} | {a.spearman:.3f} | {a.same_best} | "
          f"{100 * a.regret:.2f} |")
  if _PLOT.value:
    refs = [(label, float(score)) for label, _, score in
            (r.partition("=") for r in _REFERENCE.value)]
    print("plot:", plot(curves, proxy_epochs, _PLOT.value, refs))
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      # the search's folder name, not its path on this machine
      json.dump({"search": os.path.basename(os.path.abspath(_WORKDIR.value)),
                 "curves": curves, "rows": rows}, f, indent=1)
    print(f"json: {_JSON.value}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "proxy_epochs"])
  common.run(main)
