"""Self-supervised KTG (000) on Fashion-MNIST, sized for a CPU.

Views a and b: SimCLR's augmentation (``randaugment.VIEWS["ssl"]``: crop
0.08-1, flip, brightness / contrast 0.4 with p 0.8; grayscale, so no
saturation / hue / grayscale step). Nodes are scored by weighted cosine KNN
of their backbone features (k = 20, T = 0.07, DINO's; the training split is
the bank). SGD + Nesterov, lr 0.05 half-cosine, wd 5e-4, batch 128 (000 gives
no SSL protocol; these are not tuned).
"""

from ktg_jax import training


def get_config():
  c = training.default_config()
  c.dataset = "fashion_mnist"
  c.models = "resnet8"
  c.limit = 3000
  c.epochs, c.batch_size, c.eval_batch_size = 8, 128, 500
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.views.a = c.views.b = "ssl"
  c.eval_metric, c.knn_k, c.knn_temperature = "knn", 20, 0.07
  return c
