"""Self-supervised KTG (000) on Fashion-MNIST, sized for a CPU.

Views a and b: SimCLR's augmentation (``randaugment.VIEWS["ssl"]``: crop
0.08-1, flip, brightness / contrast 0.4 with p 0.8; grayscale, so no
saturation / hue / grayscale step). Nodes are scored by weighted cosine KNN
of their backbone features (k = 20, T = 0.07, DINO's; the training split is
the bank). SGD + Nesterov, lr 0.05 half-cosine, wd 5e-4, batch 128 (000 gives
no SSL protocol; these are not tuned).

Scale: the first 3,000 images of each split, 4 epochs of batch 128, chosen
on the validation split on 2026-11-23 (2-core CPU VM, load 7-20). At 1,000
images x 3 epochs SimCLR barely beat an untrained network. Here an 8-epoch
SimCLR ResNet-8 run with ``--mode=search`` (bank 2,400, 600 val queries)
scored 68.8 / 71.5 / 71.5 / 72.8 / 72.8 / 72.7 / 71.7 / 72.8 % val KNN
after epochs 1-8, against 67.8 +- 2.8 % for untrained ResNet-8s (seeds
0-2, ``experiments/ssl_untrained.py``): SimCLR clearly beats random init by
epoch 4 and gains nothing after it, so 4 epochs halve the cost. That run
took 1,427 s wall at nice 10 on the loaded machine (0.1-0.3 steps/s);
the table (a search of 10 pairs + 3 graphs x 3 seeds) had ~80 min.
The test split did not confirm the val gap: SimCLR 70.0 +- 0.6 vs
untrained 70.2 +- 1.9 % (README, "Self-supervised KTG").
"""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset = "fashion_mnist"
  c.models = "resnet8"
  c.limit = 3000
  c.epochs, c.batch_size, c.eval_batch_size = 4, 128, 500
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.views.a = c.views.b = "ssl"
  c.eval_metric, c.knn_k, c.knn_temperature = "knn", 20, 0.07
  return c
