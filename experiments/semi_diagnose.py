r"""What a FixMatch run's unlabelled term is doing, from its latest checkpoint
(issue 25: "check that the unlabelled loss is non-zero and masked, that the
strong views are really strong, that the mask rate rises").

  python experiments/semi_diagnose.py --config=experiments/configs/semi_regime.py \
      --per_class=10 --seeds=0,1 --workdir=runs/semi_pilot --n_unlabeled=2000

For each member of ``<workdir>/n<per_class>/fixmatch/seeds<s..>`` (a
``semi_pilot.py`` run of the same ``--seeds``), on ``n_unlabeled`` images of the unlabelled pool (their hidden labels are
read for this diagnosis only; never the test split): the student's weak-view
(train-mode forward, as the step's) max probability, the **mask rate** (share
above tau), the pseudo-labels' accuracy on the masked and on all images, the
strong view's agreement with the weak argmax, and the mean unlabelled loss
(masked CE averaged over all images, FixMatch's). Prints one JSON line a member.

With an EMA node (FixMatch's EMA scorer, node 1), also its *validation*
accuracy with three sets of BatchNorm statistics for the same averaged
weights: its own (``ema_bn="own"``, what the run scores), the student's
current running statistics (USB's ``EMA.update`` copies the buffers), and
statistics recomputed by one pass over the ``n_unlabeled`` unlabelled images
(SWA's ``update_bn``); and the student's own validation accuracy.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

# pylint: disable=wrong-import-position
from ktg_jax.cli import common  # the scripts' command line
import semi  # experiments/semi.py: its flags and builders
import semi_pilot  # the runs diagnosed here: their folders
from ktg_jax import checkpoint
from ktg_jax.run import feeds
from ktg_jax.run import population
from ktg_jax.run import training
from ktg_jax.core.step import node_variables
from ktg_jax.data import augment as augment_lib

_N = flags.DEFINE_integer("n_unlabeled", 2000, "unlabelled images to score")
_METHOD = flags.DEFINE_string("method", "fixmatch", "the run to diagnose")


def main(argv):
  common.check_command_line(argv)
  cfg = semi._CONFIG.value  # pylint: disable=protected-access
  seeds = [int(s) for s in semi._SEEDS.value]  # pylint: disable=protected-access
  n = int((semi._PER_CLASS.value or [cfg.labels_per_class])[0])  # pylint: disable=protected-access
  data = semi.load(cfg, n, 0)
  spec = semi.spec_of(_METHOD.value, cfg, None)
  run_cfg = semi.method_config(cfg, _METHOD.value, eval_split="val")
  members_ = population.members(spec, seeds)
  feed = feeds.make(data, run_cfg, seeds, [spec])
  optimizer, _ = training.make_optimizer(run_cfg, feed.steps_per_epoch)
  runner = population.runner(
      members_, "sequential", num_classes=data.num_classes,
      total_steps=run_cfg.epochs * feed.steps_per_epoch, optimizer=optimizer,
      augment=augment_lib.for_dataset(data.name), views=feed.views)
  state = runner.init(feed.init_images)
  mngr = checkpoint.run_manager(os.path.join(semi_pilot.run_dir(
      semi._OUT.value, n, _METHOD.value, seeds), "checkpoints"))  # pylint: disable=protected-access
  epoch, saved, _ = checkpoint.restore_run(mngr, runner.stacked(state))
  state = runner.from_stacked(saved)
  idx = np.random.default_rng(0).choice(len(data.unlabeled.labels), _N.value,
                                        replace=False)
  x = jnp.asarray(data.unlabeled.images[idx])
  y = data.unlabeled.labels[idx]
  module = population.compile_graph(spec, num_classes=data.num_classes,
                                    total_steps=1,
                                    optimizer=optimizer,
                                    views=feed.views).modules[0]
  for k, seed in enumerate(seeds):
    variables = node_variables(runner.member(state, k), 0)
    rng = jax.random.key(100 + k)
    xw = feed.views["weak"](jax.random.fold_in(rng, 0), x)
    xs = feed.views["strong"](jax.random.fold_in(rng, 1), x)
    logits = lambda im: module.apply(variables, im, train=True,
                                     mutable=["batch_stats"])[0]["logits"]
    pw = np.asarray(jax.nn.softmax(logits(xw)))
    zs = np.asarray(logits(xs))
    logps = zs - np.log(np.exp(zs - zs.max(-1, keepdims=True)).sum(
        -1, keepdims=True)) - zs.max(-1, keepdims=True)
    pseudo, conf = pw.argmax(-1), pw.max(-1)
    mask = conf > run_cfg.tau
    loss = float(np.mean(mask * -logps[np.arange(len(y)), pseudo]))
    print(json.dumps({
        "seed": seed, "iteration": epoch * run_cfg.eval_every,
        "mask_rate": float(mask.mean()),
        "pseudo_label_acc_masked": float((pseudo == y)[mask].mean())
        if mask.any() else None,
        "weak_acc_all": float((pseudo == y).mean()),
        "strong_agrees_with_weak": float((zs.argmax(-1) == pseudo).mean()),
        "strong_acc_all": float((zs.argmax(-1) == y).mean()),
        "unlabelled_loss": loss,
        "mean_max_prob_weak": float(conf.mean()),
        **ema_stats(runner.member(state, k), module, data, x)}), flush=True)


def _accuracy(module, variables, data, batch=2000):
  hits = 0
  for i in range(0, len(data.val.labels), batch):
    z = module.apply(variables, jnp.asarray(data.val.images[i:i + batch]),
                     train=False)["logits"]
    hits += int((np.asarray(z).argmax(-1) == data.val.labels[i:i + batch]).sum())
  return hits / len(data.val.labels)


def ema_stats(member_state, module, data, x) -> dict:
  """Validation accuracy of the EMA weights under three sets of BN stats."""
  if "node1" not in member_state.ema:
    return {}
  ema = member_state.ema["node1"]
  student = node_variables(member_state, 0)
  full = _batch_stats(module, ema["params"], ema["batch_stats"], x)
  return {
      "val_student": _accuracy(module, student, data),
      "val_ema_own_stats": _accuracy(module, ema, data),
      "val_ema_student_stats": _accuracy(module, {
          "params": ema["params"],
          "batch_stats": student["batch_stats"]}, data),
      "val_ema_recomputed_stats": _accuracy(module, {
          "params": ema["params"], "batch_stats": full}, data)}


def _batch_stats(module, params, stats, x):
  """BN statistics of ``params`` on images ``x``: the running statistics
  after 60 momentum-0.9 updates on the same batch (its mean / var)."""
  for _ in range(60):  # 0.9^60 < 0.2 %: the batch's statistics
    _, new = module.apply({"params": params, "batch_stats": stats}, x,
                          train=True, mutable=["batch_stats"])
    stats = new["batch_stats"]
  return stats


if __name__ == "__main__":
  common.run(main)
