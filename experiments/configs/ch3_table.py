"""The tabulated 2-node ch.3 benchmark (issue 23): a converged regime.

Chosen on the *validation* split (test split sealed); the pilot's numbers,
commands, date and machine load are in docs/ch3_table.md.

* Data ``fashion_pairs14`` (the 100-class Fashion-MNIST pairs stand-in of
  experiments/configs/reproduce_fashion_pairs.py, 14 x 28), but 1,200 pairs
  with a third held out: 800 training / 400 validation pairs. Fewer pairs
  converge in fewer steps (12 steps an epoch instead of 25); 400 validation
  pairs keep the score's resolution at 0.25 %. The 2,000-pair regime
  (1,600 / 400, 15 epochs) left the target at ~0.84 training accuracy.
* 40 epochs, cosine lr from 0.05. Pilot (3 seeds each): the target's
  training accuracy passes 0.98 at epoch 18-20 and ends at 1.00 in Vanilla
  and in DML (criterion (a)); validation: Vanilla resnet8 42.67 +- 3.21 %,
  DML (resnet8 + wrn10_2) 45.75 +- 0.66 % — +3.08 points, Welch p = 0.24
  (one Vanilla seed at 39.0); with 5 Vanilla seeds (42.70 +- 2.30) p = 0.039,
  the gain still under 2 std of Vanilla: criterion (b) holds by the Welch
  test, not by the 2-std rule (docs/ch3_table.md).
  Both curves are flat from about epoch 25; 40 keeps the slower gated
  graphs converged too.
* Target resnet8, aux wrn10_2 (the ch.3 pair scaled down, as in the
  reproduction): DML (target + aux) is the DML of the table's space.
* Otherwise the reproduction's protocol: SGD + Nesterov, wd 5e-4, batch 64,
  no augmentation; evaluation on the validation split after every epoch
  (per-epoch curves of both nodes, for replayed multi-fidelity searchers).
* Cost (pilot, single-threaded, load 15-20): a DML graph 136 CPU-s, Vanilla
  31 CPU-s; 225 graphs with two trained nodes + 15 with the frozen teacher
  ~ 8.7 CPU-hours a seed, so 1 seed for all graphs fits the ~12 CPU-hour
  budget and a second seed does not (it runs after, if left running).
* ``table``: seeds in order (all 240 graphs at one seed, then the next),
  the reference graphs first, 2 single-threaded shards (at this size XLA:CPU
  spends the same CPU seconds a step on 1 or 2 threads, so two 1-thread
  processes get twice the work from two cores), one graph a pack (one
  ``fit`` a graph: exact wall_s per record and the finest resume).
"""

from ktg_jax.cli import common


def _base():
  """reproduce_fashion_pairs.get_config(), the file beside this one."""
  return common.config_beside(__file__,
                              "reproduce_fashion_pairs.py").get_config()


def get_config():
  c = _base()
  c.limit, c.val_fraction = 1200, 1 / 3
  c.epochs = 40
  c.eval_every_epochs = 1
  c.keep_checkpoints = 1
  # (name, gates on label->0, label->1, 1->0, 0->1), trained first in order.
  # Node 1 all-Cutoff (label->1 and 0->1) = the frozen pre-trained aux.
  c.table = dict(
      shards=2, pack_size=1,  # seeds: experiments/ch3_table.py --seeds
      gates=("through", "cutoff", "linear", "correct"),  # ch.3's four
      first=(
          ("vanilla_like", ("through", "cutoff", "cutoff", "cutoff")),
          ("independent", ("through", "through", "cutoff", "cutoff")),
          ("dml", ("through", "through", "through", "through")),
          ("kd", ("through", "cutoff", "through", "cutoff")),
          # thesis Fig. 3.7a: Correct on ResNet32 -> WRN28-2, else Through
          ("thesis_2node", ("through", "through", "through", "correct")),
      ))
  return c
