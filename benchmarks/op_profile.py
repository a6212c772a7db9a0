r"""Where the step's time goes: one ResNet-20 node's ops, ktg_jax vs PyTorch.

Each op of one ResNet-20 training step (batch 64, 32x32x3, CIFAR widths
16/32/64) is timed alone in both frameworks, at the threading the process
has (default: all cores, as users run):

* ``conv fwd``, ``conv dx`` (input gradient), ``conv dW`` (weight gradient)
  of each of the 19 3x3 convolutions, summed over the network; ``conv dW
  9-matmul`` is ``benchmarks/fast_conv.py``'s formulation of the same
  gradient where it applies (>= 32 channels or stride 2; XLA's elsewhere);
* ``batchnorm`` train-mode forward + backward of the 19 BN layers;
* ``ktg losses``: the two KL edges of a 2-node DML graph on [64, 100]
  logits, forward + backward.

Then the whole step of one node and of 2-node DML (``step``), for scale:
the op sums leave out ReLU, the shortcut, the classifier and the optimizer.

JAX: each op is its own ``jax.jit`` program, timed to ``block_until_ready``
(the dispatch of a small program, ~10-50 us, is inside the number). torch:
``torch.nn.grad.conv2d_input`` / ``conv2d_weight`` (the same
``convolution_backward`` kernels autograd calls) and autograd for BN / KL.
A row is the median over ``--repeats`` of each op's time, summed over the
layers; the frameworks alternate op by op.

  python benchmarks/op_profile.py                     # default threads
  python benchmarks/op_profile.py --threads 1
  python benchmarks/op_profile.py --xla_flags=--xla_cpu_use_xnnpack=true
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def resnet20_convs(batch=64, image=32):
  """(N, H, W, C_in, C_out, stride) of ResNet-20's 19 3x3 convolutions."""
  layers = [(batch, image, image, 3, 16, 1)]
  size, c_in = image, 16
  for stage, width in enumerate((16, 32, 64)):
    for i in range(3):
      stride = 2 if stage > 0 and i == 0 else 1
      layers.append((batch, size, size, c_in, width, stride))
      size //= stride
      layers.append((batch, size, size, width, width, 1))
      c_in = width
  return layers


def timed(fn, repeats, sync):
  """Median seconds of ``fn()`` after one warm-up call (compile excluded)."""
  sync(fn())
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    sync(fn())
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def jax_ops(n, h, w, ci, co, s):
  """Zero-argument callables of one conv layer's ops in JAX (jitted)."""
  import jax
  import jax.numpy as jnp
  from benchmarks import fast_conv
  k = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(k[0], (n, h, w, ci))
  wt = jax.random.normal(k[1], (3, 3, ci, co)) * 0.1
  conv = lambda x, wt: jax.lax.conv_general_dilated(
      x, wt, (s, s), ((1, 1), (1, 1)), dimension_numbers=fast_conv._DN)
  dy = jax.random.normal(k[2], conv(x, wt).shape)
  fwd = jax.jit(conv)
  dx = jax.jit(lambda x, wt, dy: jax.vjp(lambda a: conv(a, wt), x)[1](dy)[0])
  dw = jax.jit(lambda x, wt, dy: jax.vjp(lambda b: conv(x, b), wt)[1](dy)[0])
  dw9 = jax.jit(lambda x, dy: fast_conv._dw_matmuls(x, dy, s))
  use9 = fast_conv._use_matmuls(x, wt, s) and ci > 3
  ops = {"conv fwd": lambda: fwd(x, wt), "conv dx": lambda: dx(x, wt, dy),
         "conv dW": lambda: dw(x, wt, dy),
         "conv dW 9-matmul": (lambda: dw9(x, dy)) if use9 else
                             (lambda: dw(x, wt, dy))}
  return ops, dy.shape


def torch_ops(n, h, w, ci, co, s):
  import torch
  import torch.nn.functional as F
  g = torch.Generator().manual_seed(0)
  x = torch.randn(n, ci, h, w, generator=g)
  wt = torch.randn(co, ci, 3, 3, generator=g) * 0.1
  y = F.conv2d(x, wt, stride=s, padding=1)
  dy = torch.randn(y.shape, generator=g)
  with torch.no_grad():
    return {"conv fwd": lambda: F.conv2d(x, wt, stride=s, padding=1),
            "conv dx": lambda: torch.nn.grad.conv2d_input(
                x.shape, wt, dy, stride=s, padding=1),
            "conv dW": lambda: torch.nn.grad.conv2d_weight(
                x, wt.shape, dy, stride=s, padding=1)}


def bn_ops(shape):
  """Train-mode BN forward + backward on an NHWC (jax) / NCHW (torch) map."""
  import jax
  import jax.numpy as jnp
  import torch
  import torch.nn.functional as F
  n, h, w, c = shape
  x = jax.random.normal(jax.random.PRNGKey(1), shape)
  scale, bias = jnp.ones(c), jnp.zeros(c)

  def bn(x, scale, bias):  # flax.linen.BatchNorm's train-mode arithmetic
    mean = jnp.mean(x, (0, 1, 2))
    var = jnp.mean(jnp.square(x), (0, 1, 2)) - jnp.square(mean)
    return jnp.sum(((x - mean) * jax.lax.rsqrt(var + 1e-5)) * scale + bias)
  g = jax.jit(jax.grad(bn, argnums=(0, 1, 2)))
  xt = torch.randn(n, c, h, w, requires_grad=True)
  st = torch.ones(c, requires_grad=True)
  bt = torch.zeros(c, requires_grad=True)

  def t_bn():
    out = F.batch_norm(xt, None, None, st, bt, training=True, eps=1e-5)
    return torch.autograd.grad(out.sum(), (xt, st, bt))
  return (lambda: g(x, scale, bias)), t_bn


def kl_ops(batch=64, classes=100):
  """The two DML KL edges (source detached), forward + backward."""
  import jax
  import jax.numpy as jnp
  import torch
  import torch.nn.functional as F
  from ktg_jax.core import losses
  k = jax.random.split(jax.random.PRNGKey(2), 2)
  a, b = (jax.random.normal(kk, (batch, classes)) for kk in k)

  def two_edges(a, b):
    kl = lambda s, t: jnp.mean(losses.kl(jax.lax.stop_gradient(s), t, 1.0))
    return kl(a, b) + kl(b, a)
  g = jax.jit(jax.grad(two_edges, argnums=(0, 1)))
  at = torch.randn(batch, classes, requires_grad=True)
  bt = torch.randn(batch, classes, requires_grad=True)

  def t_kl():
    kl = lambda s, t: F.kl_div(F.log_softmax(t, -1),
                               F.softmax(s.detach(), -1), reduction="batchmean")
    return torch.autograd.grad(kl(at, bt) + kl(bt, at), (at, bt))
  return (lambda: g(a, b)), t_kl


def profile(repeats):
  import jax
  import torch
  j_sync = jax.block_until_ready
  t_sync = lambda r: r
  rows = {}

  def add(op, fw, seconds):
    rows.setdefault(op, {"jax": 0.0, "torch": 0.0})[fw] += seconds * 1e3

  for layer in resnet20_convs():
    jops, out_shape = jax_ops(*layer)
    tops = torch_ops(*layer)
    for op, fn in jops.items():
      add(op, "jax", timed(fn, repeats, j_sync))
      if op in tops:
        add(op, "torch", timed(tops[op], repeats, t_sync))
    rows["conv dW 9-matmul"]["torch"] = rows["conv dW"]["torch"]
    j_bn, t_bn = bn_ops(out_shape)
    add("batchnorm", "jax", timed(j_bn, repeats, j_sync))
    add("batchnorm", "torch", timed(t_bn, repeats, t_sync))
  j_kl, t_kl = kl_ops()
  add("ktg losses", "jax", timed(j_kl, repeats, j_sync))
  add("ktg losses", "torch", timed(t_kl, repeats, t_sync))
  del torch
  return rows


def whole_steps(rounds):
  """Steps/s of the full step: one ResNet-20 and 2-node DML, both frameworks."""
  from benchmarks import harness as h
  import ktg_jax as ktg
  x, y = h.batch(64, 32, 100)
  out = {}
  for models in (["resnet20"], ["resnet20", "resnet20"]):
    spec = ktg.classic.dml(models)
    runners = [h.jax_runner("jax", spec, x, y, num_classes=100)[0],
               h.torch_runner("torch", spec, x, y, num_classes=100)]
    rates = h.interleave(runners, 3, rounds)
    out["+".join(models)] = {
        "jax steps/s": statistics.median(rates["jax"]),
        "torch steps/s": statistics.median(rates["torch"]),
        "ratio jax/torch": h.paired_ratio(rates, "jax", "torch")}
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--threads", type=int, default=0,
                 help="0: each framework's default (all cores)")
  p.add_argument("--xla_flags", default="")
  p.add_argument("--repeats", type=int, default=7)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--out", default="")
  args = p.parse_args(argv)
  from benchmarks import step_speed
  step_speed.set_threads(args)  # before jax is imported
  import torch
  if args.threads:
    torch.set_num_threads(args.threads)
  result = {"command": "python benchmarks/op_profile.py " + " ".join(
      argv if argv is not None else sys.argv[1:]),
            "env": step_speed.environment(), "ops_ms": profile(args.repeats),
            "steps": whole_steps(args.rounds)}
  for op, v in result["ops_ms"].items():
    v["ratio jax/torch time"] = v["jax"] / v["torch"]
  print(json.dumps(result, indent=1), flush=True)
  step_speed.write_json(result, args.out)


if __name__ == "__main__":
  main()
