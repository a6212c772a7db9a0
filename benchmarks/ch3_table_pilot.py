"""The pilot of docs/ch3_table.md: one graph, one seed, on the validation split.

  env JAX_PLATFORMS=cpu XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \\
    python benchmarks/ch3_table_pilot.py LIMIT VAL_FRACTION EPOCHS GRAPH SEED OUT
  # e.g. 1200 0.3333333 40 dml_aux 0 pilot.jsonl   (GRAPH: vanilla, dml_aux, dml)

The reproduction's protocol (experiments/configs/reproduce_fashion_pairs.py)
with LIMIT pairs, VAL_FRACTION of them held out, EPOCHS epochs, evaluated on
the validation split after every epoch; the test split is sealed. Appends a
JSON line to OUT: per-epoch validation and training accuracy of every node,
final target accuracy, wall and CPU seconds.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from ktg_jax import classic, data as data_lib
from ktg_jax.run import training
from ktg_jax.reproduce import train_config


def _base():
  import importlib.util  # pylint: disable=import-outside-toplevel
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))), "experiments", "configs", "reproduce_fashion_pairs.py")
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


GRAPHS = {"vanilla": lambda c: classic.vanilla(c.target),
          "dml_aux": lambda c: classic.dml([c.target, c.aux]),
          "dml": lambda c: classic.dml([c.target, c.target])}


def main(limit, val_fraction, epochs, name, seed, out):
  c = _base()
  cfg = train_config(c)
  cfg.update(epochs=int(epochs), verbose=False, pictures=False,
             save_variables=False, eval_every_epochs=1, eval_split="val",
             seed=int(seed))
  d = data_lib.sealed(data_lib.from_config(
      dict(c.items(), limit=int(limit)), val_fraction=float(val_fraction)))
  t0, c0 = time.time(), time.process_time()
  x = training.fit(GRAPHS[name](c), d, cfg)
  rec = {"graph": name, "seed": int(seed), "limit": int(limit),
         "val_fraction": float(val_fraction), "epochs": int(epochs),
         "wall_s": time.time() - t0, "cpu_s": time.process_time() - c0,
         "val_curve": [m["accuracy"] for m in x.history],
         "train_acc_curve": [m["train_accuracy"] for m in x.history],
         "final": x.final_target_accuracy}
  with open(out, "a") as f:
    f.write(json.dumps(rec) + "\n")
  print(name, seed, "final", round(x.final_target_accuracy, 4), "cpu",
        round(rec["cpu_s"]), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
