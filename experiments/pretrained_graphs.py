r"""002 Table 1 at reduced scale: an all-Through 3-node graph whose nodes start
from scratch, all from one pre-training source, or from a mix of sources.

  python experiments/pretrain.py --config.dataset=fractal ...  # prints a triple
  python experiments/pretrain.py --config.dataset=fashion_mnist ...  # another
  python experiments/pretrained_graphs.py --workdir=runs/table002 \
      --init_source=fractal:small_cnn=runs/pre_fractal/variables/node0 \
      --init_source=fashion_mnist:small_cnn=runs/pre_fm/variables/node0

The protocol is --config (default configs/pretrained002.py: digits, 6 epochs).
Every node is ``config.models``; every edge (label edges and all node pairs) is
Through (DML with labels). The nodes' initialisation is the search option of
002 (``spaces.SearchSpace.init_sources``): each row is one point of that
space. Each condition is trained on the whole training split with
``--seeds`` (one population) and the target node tested once per seed:
table.md, table.json.
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags


from ktg_jax.cli import common  # the scripts' command line
from ktg_jax.search import spaces
from ktg_jax.search import presets
from ktg_jax.search import space_ops

FLAGS = flags.FLAGS
_CONFIG = common.define_config(
    "pretrained002.py", "the training protocol (the target data set: "
    "--config.dataset; the nodes' model: --config.models)")
flags.DEFINE_string("workdir", None, "where table.md / table.json go")
flags.DEFINE_alias("output_dir", "workdir")  # the old name
flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds (>= 3 for mean +- std)")
flags.DEFINE_multi_string("init_source", [], "source:model=checkpoint "
                          "(experiments/pretrain.py prints it)")


def conditions(sources: list[str]) -> dict[str, tuple]:
  """Row name -> the init of nodes 0, 1, 2 (002 Table 1's rows)."""
  rows = {"none pre-trained": (spaces.SCRATCH,) * 3}
  rows.update({f"all pre-trained on {s}": (s,) * 3 for s in sources})
  if len(sources) > 1:
    mixed = tuple(sources[i % len(sources)] for i in range(3))
    rows[f"mixed ({', '.join(mixed)})"] = mixed
  return rows


def main(argv):
  common.check_command_line(argv, workdir=FLAGS.workdir)
  from ktg_jax import data, reproduce  # pylint: disable=import-outside-toplevel
  from ktg_jax.run import training
  config = _CONFIG.value
  model = config.models.split(",")[0]
  try:
    space = presets.get("tiny", target_model=model, aux_models=(model,),
                        gates=("through",),
                        init_sources=spaces.init_sources_from(
                            FLAGS.init_source))
  except space_ops.SpaceError as e:
    raise app.UsageError(str(e)) from None
  start = time.time()
  os.makedirs(FLAGS.workdir, exist_ok=True)
  cfg = reproduce.train_config(config)
  full = data.from_config(config)  # config.val_fraction: 0, the whole split
  seeds = common.parse_seeds(FLAGS.seeds)
  base = {k: d.options[0] for k, d in space.parameters().items()}
  table = {}
  for name, inits in conditions(list(space.init_sources)).items():
    point = {**base, **{f"init_{i}": v for i, v in enumerate(inits)}}
    res = training.fit([space.to_spec(point)], full, cfg, seeds=seeds)
    r = common.seed_summary([m.final_target_accuracy for m in res.members])
    table[name] = {"init": inits, **r}
    print(f"[002] {name}: target test {r['mean']:.4f} +- {r['std']:.4f} "
          f"{r['test']}", flush=True)
  print(common.write_table(
      FLAGS.workdir, table,
      ("nodes' initialisation (node 0 = target, 1, 2)",
       f"target test accuracy, mean ± std (ddof 1) over {len(seeds)} seeds")))
  print(f"[002] wall time: {time.time() - start:.0f} s")


if __name__ == "__main__":
  common.run(main)
