r"""KNN score of an untrained ssl node: the reference row of 000 Table 2.

  python experiments/ssl_untrained.py --config=experiments/configs/ssl_fashion.py \
      --split=val --seeds=0,1,2

The node (``classic.ssl(model)``'s backbone and heads) is initialised with
each seed, as ``fit`` initialises a member, and scored like a trained one:
weighted cosine KNN (``config.knn_k``, ``config.knn_temperature``) of its
backbone ``features`` in inference mode, the training split as the bank and
the val or test split as the queries (``node_knn.untrained_knn``).
``--split=val`` holds out ``config.val_fraction`` of the training split, as
``--mode=search`` does; ``--split=test`` banks the whole training split, as
``--mode=final`` does. Prints per-seed accuracies, mean and sample std.
"""

from __future__ import annotations

import time

from absl import flags
import numpy as np


from ktg_jax.cli import common  # the scripts' command line
from ktg_jax import data as data_lib, stats
from ktg_jax.metrics import node_knn

_SPLIT = flags.DEFINE_enum("split", "val", ["val", "test"], "query split")
_SEEDS = flags.DEFINE_string("seeds", "0", "comma-separated seeds")
_CONFIG = common.define_config(
    None, "the run's config (the backbone: --config.models, first)")


def main(argv):
  del argv
  start = time.time()
  config = _CONFIG.value
  model = config.models.split(",")[0]
  data = data_lib.from_config(
      config, val_fraction=0.0 if _SPLIT.value == "test" else None)
  query = getattr(data, _SPLIT.value)
  accs = 100 * node_knn.untrained_knn(
      data, model, list(common.parse_seeds(_SEEDS.value)),
      split=_SPLIT.value, k=config.knn_k, temperature=config.knn_temperature)
  s = stats.summarize(accs)
  print(f"untrained {model} ssl node, knn(k={config.knn_k}, "
        f"T={config.knn_temperature}) {_SPLIT.value} acc. (%) per seed "
        f"{np.round(accs, 2).tolist()}: "
        f"{stats.mean_std(s.mean, s.std, sep=' +- ')} "
        f"(bank {len(data.train.labels)}, queries {len(query.labels)}; "
        f"{time.time() - start:.0f} s)")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  common.run(main)
