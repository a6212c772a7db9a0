"""Each classic method written as a graph equals a direct, hand-written JAX
implementation of the method after 3 steps (losses and parameters to 1e-5),
and every semi-supervised term has a non-zero gradient.

The direct implementations know nothing of graphs, slots or edge tables: they
write each method's loss from its paper. They share with the program only the
initial variables, the rng of each view (``step.view_key``) and the BatchNorm
convention documented in ``ktg_jax/core/plan.py`` (one forward over all the images
a node sees; BN statistics do not depend on their order).
"""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ktg_jax as ktg
from ktg_jax import classic
from ktg_jax import data
from ktg_jax.run import scoring
from ktg_jax.core.step import view_key

C, HW, BL, BU = 5, 8, 8, 12
OPT = optax.sgd(0.1, momentum=0.9)


def batch(i, unlabeled=True):
  rng = np.random.default_rng(i)
  b = {"image": rng.normal(size=(BL, HW, HW, 1)).astype(np.float32),
       "label": rng.integers(0, C, BL).astype(np.int32)}
  if unlabeled:
    b["unlabeled_image"] = rng.normal(size=(BU, HW, HW, 1)).astype(np.float32)
  return b


def noise(scale):
  return lambda rng, x: x + scale * jax.random.normal(rng, x.shape)


VIEWS = {"a": noise(0.1), "b": noise(0.2), "weak": noise(0.05),
         "strong": lambda rng, x: 0.5 * x + noise(0.5)(rng, x)}
MODULE = ktg.models.create("small_cnn", C)


def ce(labels, logits):
  return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None],
                              -1)[:, 0]


def kl(p_logits, q_logits, temperature=1.0):
  logp = jax.nn.log_softmax(p_logits / temperature)
  return jnp.sum(jnp.exp(logp) * (logp - jax.nn.log_softmax(
      q_logits / temperature)), -1)


def mse_probs(s, t):
  return jnp.mean(jnp.square(jax.nn.softmax(s) - jax.nn.softmax(t)), -1)


def apply_train(params, stats, x):
  out, new = MODULE.apply({"params": params, **stats}, x, train=True,
                          mutable=["batch_stats"])
  return out["logits"], new


def run_program(spec, steps=3, unlabeled=True, state_fn=None, **kw):
  program = ktg.compile(spec, num_classes=C, total_steps=10, optimizer=OPT,
                        views={k: v for k, v in VIEWS.items()}, **kw)
  state = program.init(jax.random.key(0), batch(0)["image"])
  if state_fn is not None:
    state = state_fn(state)
  init = state
  losses = []
  for i in range(steps):
    state, m = program.step(state, batch(i, unlabeled))
    losses.append(np.asarray(m["node_loss"]))
  return program, init, state, losses


def run_direct(loss_fn, init, steps=3, unlabeled=True, ema=None):
  """Plain SGD on ``loss_fn(params, stats, ema, batch, aug_rng)``, the state's
  rng consumed as ``compile``'s step does: one split per step."""
  params, stats = init.params, init.model_state
  opt_state, rng, losses = OPT.init(params), init.rng, []
  for i in range(steps):
    rng, aug = jax.random.split(rng)
    (_, (stats_new, node_losses)), g = jax.value_and_grad(
        loss_fn, has_aux=True)(params, stats, ema, batch(i, unlabeled), aug)
    updates, opt_state = OPT.update(g, opt_state, params)
    params = optax.apply_updates(params, updates)
    stats = stats_new
    if ema is not None:  # EMA after the update, of the new student, with
      a = min(1.0 - 1.0 / (i + 1), ema[0])  # Mean Teacher's warm-up
      new = {"params": params["node0"], **stats["node0"]}
      ema = (ema[0], jax.tree.map(lambda e, n: a * e + (1 - a) * n, ema[1], new))
    losses.append(np.asarray(node_losses))
  return params, stats, ema, losses


def assert_same(state, params, stats, losses_p, losses_d):
  chex.assert_trees_all_close(state.params, params, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(state.model_state, stats, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(np.stack(losses_p), np.stack(losses_d),
                             atol=1e-5, rtol=1e-5)


# --- supervised ---------------------------------------------------------------

def test_kd_equals_hinton_kd():
  teacher = MODULE.init(jax.random.key(7), batch(0)["image"], train=False)
  spec = classic.kd("small_cnn", "small_cnn", "/unused", temperature=3.0)
  program = ktg.compile(spec, num_classes=C, total_steps=10, optimizer=OPT)
  state = program.init(jax.random.key(0), batch(0)["image"],
                       checkpoint_variables={1: teacher})
  init, losses_p = state, []
  for i in range(3):
    state, m = program.step(state, batch(i, False))
    losses_p.append(np.asarray(m["node_loss"]))

  def loss(params, stats, _, b, aug):
    z, new = apply_train(params["node0"], stats["node0"], b["image"])
    zt = MODULE.apply(teacher, b["image"], train=False)["logits"]
    l0 = jnp.mean(ce(b["label"], z)) + jnp.mean(9.0 * kl(zt, z, 3.0))
    return l0, ({"node0": new}, jnp.stack([l0, 0.0]))

  params, stats, _, losses_d = run_direct(loss, init, unlabeled=False)
  assert_same(state, params, stats, losses_p, losses_d)


def test_dml_equals_mutual_learning():
  _, init, state, losses_p = run_program(classic.dml(2, model="small_cnn"),
                                         unlabeled=False)

  def loss(params, stats, _, b, aug):
    z0, n0 = apply_train(params["node0"], stats["node0"], b["image"])
    z1, n1 = apply_train(params["node1"], stats["node1"], b["image"])
    sg = jax.lax.stop_gradient
    l0 = jnp.mean(ce(b["label"], z0)) + jnp.mean(kl(sg(z1), z0))
    l1 = jnp.mean(ce(b["label"], z1)) + jnp.mean(kl(sg(z0), z1))
    return l0 + l1, ({"node0": n0, "node1": n1}, jnp.stack([l0, l1]))

  params, stats, _, losses_d = run_direct(loss, init, unlabeled=False)
  assert_same(state, params, stats, losses_p, losses_d)


def test_independent_ensemble_equals_members_trained_alone():
  spec = classic.ensemble(2, model="small_cnn")
  assert spec.target == 2 and spec.node_kinds()[2] == "ensemble"
  program, init, state, losses_p = run_program(spec, unlabeled=False)

  def loss(params, stats, _, b, aug):
    z0, n0 = apply_train(params["node0"], stats["node0"], b["image"])
    z1, n1 = apply_train(params["node1"], stats["node1"], b["image"])
    l0, l1 = jnp.mean(ce(b["label"], z0)), jnp.mean(ce(b["label"], z1))
    return l0 + l1, ({"node0": n0, "node1": n1}, jnp.stack([l0, l1, 0.0]))

  params, stats, _, losses_d = run_direct(loss, init, unlabeled=False)
  assert_same(state, params, stats, losses_p, losses_d)
  # The ensemble node's logits are the mean of the members' (eq 4.10), and
  # its accuracy is the accuracy of those mean logits.
  images, labels = batch(9)["image"], batch(9)["label"]
  members = [MODULE.apply({"params": params[k], **stats[k]}, images,
                          train=False)["logits"] for k in ("node0", "node1")]
  logits = program.evaluate(state, images)
  np.testing.assert_allclose(logits[2], (members[0] + members[1]) / 2,
                             atol=1e-5)
  acc = scoring.accuracy(program.evaluate, state, data.Split(images, labels),
                          4)
  want = np.mean(np.argmax((members[0] + members[1]) / 2, -1) == labels)
  assert acc[2] == pytest.approx(want)


# --- semi-supervised ------------------------------------------------------------

def test_pi_model_equals_two_view_consistency():
  _, init, state, losses_p = run_program(classic.pi_model("small_cnn", 2.0))

  def loss(params, stats, _, b, aug):
    x = jnp.concatenate([b["image"], b["unlabeled_image"]])
    xa, xb = VIEWS["a"](view_key(aug, "a"), x), VIEWS["b"](view_key(aug, "b"), x)
    z, new = apply_train(params["node0"], stats["node0"],
                         jnp.concatenate([xa, xb]))
    za, zb = z[:BL + BU], z[BL + BU:]
    l0 = jnp.mean(ce(b["label"], za[:BL])) + 2.0 * jnp.mean(
        mse_probs(jax.lax.stop_gradient(zb), za))
    return l0, ({"node0": new}, jnp.stack([l0]))

  params, stats, _, losses_d = run_direct(loss, init)
  assert_same(state, params, stats, losses_p, losses_d)


def test_mean_teacher_equals_ema_consistency():
  decay = 0.9
  spec = classic.mean_teacher("small_cnn", 3.0, decay=decay)
  _, init, state, losses_p = run_program(spec)

  def loss(params, stats, ema, b, aug):
    x = jnp.concatenate([b["image"], b["unlabeled_image"]])
    xa, xb = VIEWS["a"](view_key(aug, "a"), x), VIEWS["b"](view_key(aug, "b"), x)
    z, new = apply_train(params["node0"], stats["node0"], xa)
    # The teacher: EMA variables, the batch's BN statistics (Mean Teacher's
    # code runs its teacher in train mode), no gradient.
    zt = MODULE.apply(ema[1], xb, train=True, mutable=["batch_stats"])[0]
    zt = jax.lax.stop_gradient(zt["logits"])
    l0 = jnp.mean(ce(b["label"], z[:BL])) + 3.0 * jnp.mean(mse_probs(zt, z))
    return l0, ({"node0": new}, jnp.stack([l0, 0.0]))

  ema0 = {"params": init.params["node0"], **init.model_state["node0"]}
  params, stats, ema, losses_d = run_direct(loss, init, ema=(decay, ema0))
  assert_same(state, params, stats, losses_p, losses_d)
  chex.assert_trees_all_close(state.ema["node1"], ema[1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bn", ["batch", "running"])
def test_ema_warm_up_then_decay_against_numpy(bn):
  """Mean Teacher's ``a_k = min(1 - 1/(k+1), a)``: update 0 copies the
  student, update 1 averages the two iterates, later ones use ``a`` (0.3 <
  1/2, so the direction ``a * ema + (1 - a) * new`` is visible); parameters
  and BatchNorm statistics alike, whichever statistics the teacher's forward
  uses."""
  a, steps = 0.3, 4
  spec = classic.mean_teacher("small_cnn", decay=a)
  spec = dataclasses.replace(spec, nodes=(
      spec.nodes[0], dataclasses.replace(spec.nodes[1], bn=bn)))
  program = ktg.compile(spec, num_classes=C, total_steps=10, optimizer=OPT,
                        views=VIEWS)
  state = program.init(jax.random.key(0), batch(0)["image"])
  to_np = lambda tree: jax.tree.map(np.asarray, tree)
  want = init_stats = to_np(state.ema["node1"])
  chex.assert_trees_all_close(want, to_np({"params": state.params["node0"],
                                           **state.model_state["node0"]}))
  for k in range(steps):
    state, _ = program.step(state, batch(k))
    student = to_np({"params": state.params["node0"],
                     **state.model_state["node0"]})
    a_k = min(1.0 - 1.0 / (k + 1), a)
    assert a_k == [0.0, 0.3, 0.3, 0.3][k]
    want = jax.tree.map(lambda e, n: a_k * e + (1.0 - a_k) * n, want, student)
    got = to_np(state.ema["node1"])
    chex.assert_trees_all_close(got, want, atol=1e-6, rtol=1e-6)
    if k == 0:  # a copy of the student, BN statistics included
      chex.assert_trees_all_close(got, student, atol=0, rtol=0)
  # The statistics moved with the student (not left at their init).
  moved = jax.tree.map(lambda g, i: not np.allclose(g, i),
                       got["batch_stats"], init_stats["batch_stats"])
  assert all(jax.tree.leaves(moved))


@pytest.mark.parametrize("bn", ["own", "student"])
def test_ema_with_own_or_the_students_statistics_averages_weights_only(bn):
  """The weights follow the warm-up average; the running statistics are not
  averaged. ``bn="own"`` (Mean Teacher's code averages ``parameters()``
  only): those the EMA model's own train-mode forward accumulates from its
  previous variables on its input (here the labelled images: the EMA scorer
  of a Vanilla node, no augmentation). ``bn="student"`` (USB's ``EMA``:
  parameters averaged, buffers copied): the student's of that update, bit
  for bit."""
  a = 0.3
  spec = classic.with_ema_target(classic.vanilla("small_cnn"), a, bn=bn)
  program = ktg.compile(spec, num_classes=C, total_steps=10, optimizer=OPT)
  state = program.init(jax.random.key(0), batch(0)["image"])
  to_np = lambda tree: jax.tree.map(np.asarray, tree)
  want_params = to_np(state.params["node0"])
  for k in range(3):
    _, own_stats = MODULE.apply(state.ema["node1"],
                                batch(k, unlabeled=False)["image"],
                                train=True, mutable=["batch_stats"])
    state, _ = program.step(state, batch(k, unlabeled=False))
    a_k = min(1.0 - 1.0 / (k + 1), a)
    want_params = jax.tree.map(lambda e, n: a_k * e + (1.0 - a_k) * n,
                               want_params, to_np(state.params["node0"]))
    got = to_np(state.ema["node1"])
    chex.assert_trees_all_close(got["params"], want_params, atol=1e-6,
                                rtol=1e-6)
    student_stats = to_np(state.model_state["node0"]["batch_stats"])
    if bn == "own":
      chex.assert_trees_all_close(got["batch_stats"],
                                  to_np(own_stats["batch_stats"]), atol=1e-6,
                                  rtol=1e-6)
    else:
      chex.assert_trees_all_equal(got["batch_stats"], student_stats)
  first = lambda tree: jax.tree.leaves(tree)[0]
  # "own": not the student's statistics, nor their average
  assert np.allclose(first(got["batch_stats"]),
                     first(student_stats)) == (bn == "student")
  # averaged weights, not the student's
  assert not np.allclose(first(got["params"]),
                         first(to_np(state.params["node0"])))


def test_pseudo_label_equals_own_argmax_ce():
  _, init, state, losses_p = run_program(classic.pseudo_label("small_cnn", 0.5))

  def loss(params, stats, _, b, aug):
    x = jnp.concatenate([b["image"], b["unlabeled_image"]])
    z, new = apply_train(params["node0"], stats["node0"], x)
    zu = z[BL:]
    pseudo = jnp.argmax(jax.lax.stop_gradient(zu), -1)
    l0 = jnp.mean(ce(b["label"], z[:BL])) + 0.5 * jnp.mean(ce(pseudo, zu))
    return l0, ({"node0": new}, jnp.stack([l0]))

  params, stats, _, losses_d = run_direct(loss, init)
  assert_same(state, params, stats, losses_p, losses_d)


def confident(state):
  """Sharper logits, so that some weak-view probabilities pass tau = 0.95."""
  fc = state.params["node0"]["fc"]
  return state._replace(params={"node0": {**state.params["node0"], "fc": {
      "kernel": fc["kernel"] * 40.0, "bias": fc["bias"]}}})


def test_fixmatch_equals_thresholded_weak_to_strong():
  _, init, state, losses_p = run_program(classic.fixmatch("small_cnn"),
                                         state_fn=confident)
  passed = []

  def loss(params, stats, _, b, aug):
    x = jnp.concatenate([b["image"], b["unlabeled_image"]])
    xw = VIEWS["weak"](view_key(aug, "weak"), x)
    xs = VIEWS["strong"](view_key(aug, "strong"), x)
    # FixMatch's one forward: labelled weak, unlabelled weak, unlabelled strong.
    z, new = apply_train(params["node0"], stats["node0"],
                         jnp.concatenate([xw, xs[BL:]]))
    z_l, z_uw, z_us = z[:BL], z[BL:BL + BU], z[BL + BU:]
    p = jax.nn.softmax(jax.lax.stop_gradient(z_uw))
    mask = (jnp.max(p, -1) > 0.95).astype(jnp.float32)
    passed.append(mask)
    # Averaged over ALL unlabelled samples, masked ones included.
    l_u = jnp.sum(mask * ce(jnp.argmax(p, -1), z_us)) / BU
    l0 = jnp.mean(ce(b["label"], z_l)) + l_u
    return l0, ({"node0": new}, jnp.stack([l0]))

  params, stats, _, losses_d = run_direct(loss, init)
  assert_same(state, params, stats, losses_p, losses_d)
  masks = np.concatenate([np.asarray(m) for m in passed])
  assert 0 < masks.sum() < masks.size  # the threshold really selected


# --- the unsupervised term moves the student (a silently-zero term fails) -----

@pytest.mark.parametrize("build, state_fn", [
    (lambda: classic.pi_model("small_cnn"), None),
    (lambda: classic.mean_teacher("small_cnn"), None),
    (lambda: classic.pseudo_label("small_cnn"), None),
    (lambda: classic.fixmatch("small_cnn"), confident),
])
def test_unsupervised_term_has_a_gradient(build, state_fn):
  spec = build()
  table = spec.edge_table()
  table.label_kind[:] = ktg.gates.CUTOFF  # only the unsupervised edge is live
  program = ktg.compile(spec, num_classes=C, total_steps=10,
                        optimizer=optax.sgd(0.1), views=VIEWS)
  state = program.init(jax.random.key(0), batch(0)["image"], edges=table)
  if state_fn is not None:
    state = state_fn(state)
  new, metrics = program.step(state, batch(0))
  assert float(metrics["node_loss"][0]) > 0
  moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                       new.params["node0"], state.params["node0"])
  assert max(jax.tree.leaves(moved)) > 1e-6
