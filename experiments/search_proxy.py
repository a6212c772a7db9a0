r"""Would shorter trials have ranked a search's graphs as its full trials did?

  python experiments/search_proxy.py --workdir=runs/ssl_search \
      --proxy_epochs=8,16 --full_epoch=32

Reads the validation curves every trial of ``experiments/search.py`` reported
(Ray Tune's results under ``<workdir>/tune``; the search may still be running)
and prints, for each proxy length, over the graphs that reached
``--full_epoch``: Spearman's rho of the proxy's and the full length's scores,
whether the proxy's best graph is the full length's best, and the full-length
score it would lose (``ktg_jax/search/proxy.py``). ``--json`` also writes the
rows. A search may shorten its trials to a proxy only where these agree.
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


def main(argv):
  del argv
  from ray.tune import ExperimentAnalysis  # pylint: disable=import-outside-toplevel
  path = os.path.abspath(os.path.join(_WORKDIR.value, "tune"))
  if not os.path.isdir(path):
    raise app.UsageError(f"--workdir={_WORKDIR.value!r} has no tune/ folder "
                         "(an experiments/search.py --workdir)")
  curves = proxy.curves_of(ExperimentAnalysis(path).trial_dataframes)
  full = _FULL.value or max((max(c) for c in curves.values()), default=0)
  rows = []
  print(f"{len(curves)} graphs; full length {full} epochs "
        f"({sum(full in c for c in curves.values())} reached it)")
  print("| proxy epochs | graphs | Spearman rho | same best | regret |")
  print("|---|---|---|---|---|")
  for epoch in [int(e) for e in _PROXY.value]:
    a = proxy.agreement(curves, epoch, full)
    rows.append(a._asdict())
    print(f"| {epoch} | {a.n} | {a.spearman:.3f} | {a.same_best} | "
          f"{100 * a.regret:.2f} |")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump({"workdir": _WORKDIR.value, "curves": curves, "rows": rows},
                f, indent=1)
    print(f"json: {_JSON.value}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "proxy_epochs"])
  common.run(main)
