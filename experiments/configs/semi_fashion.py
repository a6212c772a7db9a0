"""Semi-supervised Fashion-MNIST on a CPU (the README run; not a published protocol).

small_cnn, labelled batch 32 + unlabelled 3 x 32 = 96 per step, an evaluation
every 100 iterations, 3 evaluations (300 iterations); SGD + Nesterov, lr 0.03
(FixMatch's) half-cosine to 0, weight decay 5e-4; weak view = the data set's
crop (pad 2), strong = weak + RandAugment + Cutout (ktg_jax/data/randaugment.py).
Baseline weights (literature defaults, not tuned): consistency (MSE, mean over
classes) 10 with a Positive Linear ramp (Pi-model, Mean Teacher), Pseudo-Label
1 with the same ramp, FixMatch tau 0.95 weight 1; EMA decay 0.99 (300
iterations are too few for 0.999), EMA BatchNorm statistics of its own
forward (``ema_bn="own"``). The KTG graph is searched by
experiments/search.py --space=ch5_fixmatch --config=<this file> (README).
"""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.models, c.val_fraction = "fashion_mnist", "small_cnn", 0.2
  c.labels_per_class = 10
  c.batch_size, c.unlabeled_ratio, c.eval_every, c.epochs = 32, 3, 100, 3
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.03, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.eval_batch_size = 1000
  c.checkpoint_every, c.save_variables, c.pictures = 0, False, False
  c.consistency_weight, c.pseudo_label_weight, c.tau = 10.0, 1.0, 0.95
  c.ema_decay, c.ema_eval = 0.99, True
  # The EMA models keep the statistics of their own forward (Mean Teacher's
  # code): averaged statistics left them near chance at this length (README).
  c.ema_bn = "own"
  return c
