"""Compile a graph spec to one pure, jitted KTG train step (SPEC §1–§3).

``compile(spec, ...)`` returns ``Program(init, step, evaluate)``:

* ``init(rng, images, edges=None, frozen_variables=None) -> KTGState``: ONE
  pytree with every node's parameters, BatchNorm statistics, the optimizer
  state, the step count, the rng and the edge table.
* ``step(state, batch) -> (state, metrics)``: all nodes see the same batch; one
  forward of every node; sources under ``stop_gradient`` (edge direction);
  each node's loss is the sum of its gated incoming edge losses; one
  simultaneous update of all trainable nodes.
* ``evaluate(state, images) -> logits[N, B, C]`` in inference mode.

The edge table lives *in the state*, as arrays: graphs with the same node
models share the compiled program, and ``jax.vmap(program.step)`` over stacked
states trains a population of graphs (or seeds) at once.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ktg_jax import gates
from ktg_jax import losses
from ktg_jax import models as models_lib
from ktg_jax.graph import EdgeTable, GraphSpec


class KTGState(NamedTuple):
  step: Any          # int32 scalar: updates done so far (k in SPEC §3)
  params: dict       # "node{i}" -> params, trainable nodes only
  model_state: dict  # "node{i}" -> non-param collections (batch_stats)
  opt_state: Any     # one optimizer over all trainable params
  frozen: dict       # "node{i}" -> full variables of frozen nodes, never updated
  edges: EdgeTable   # the graph as data
  rng: Any


class Program(NamedTuple):
  init: Callable
  step: Callable
  evaluate: Callable
  spec: GraphSpec
  modules: tuple


def node_key(i: int) -> str:
  return f"node{i}"


def node_variables(state: KTGState, i: int) -> dict:
  """Node i's full variables (params + batch_stats), as ``module.apply`` and
  ``checkpoint.load_variables`` take them; frozen nodes are the ones in
  ``state.frozen``."""
  k = node_key(i)
  if k in state.frozen:
    return state.frozen[k]
  return {"params": state.params[k], **state.model_state[k]}


def graph_losses(edges: EdgeTable, logits, labels, t, reduction: str):
  """Every node's loss from every node's logits: the KTG objective.

  ``L_t = G_{y,t}(CE(y, p_t)) + sum_{s != t} G_{s,t}(L_{s,t})`` (SPEC §1,
  thesis eq 3.3), each edge's per-sample loss gated then reduced over the batch.

  Args:
    edges: the edge table (arrays).
    logits: float[N, B, C], every node's logits on the same batch.
    labels: int[B].
    t: training progress k / k_end in [0, 1].
    reduction: "mean" or "sum" over the batch (SPEC §2).

  Returns:
    (node_loss[N], aux) where aux holds the label losses [N], edge losses
    [N_source, N_target] and the mean gate weights.
  """
  source = jax.lax.stop_gradient(logits)  # edge direction: no grad into s
  source_probs = jax.nn.softmax(source, axis=-1)
  # [s, t, B]: source s broadcast over targets, target t over sources.
  per_sample = losses.edge_losses(edges.loss_kind, edges.loss_param,
                                  source[:, None], logits[None, :])
  weight = gates.gate_weights(edges.kind, edges.params, t,
                              source_probs[:, None], labels)
  edge_loss = losses.reduce_batch(weight * per_sample, reduction)
  # Label edges: Correct and Threshold pass every sample of a one-hot source
  # (SPEC §3), so only the schedule part applies.
  label_weight = gates.schedules(edges.label_kind, edges.label_params, t)
  label_loss = label_weight * losses.reduce_batch(
      losses.cross_entropy(labels, logits), reduction)
  node_loss = label_loss + jnp.sum(edge_loss, axis=0)
  aux = {"label_loss": label_loss, "edge_loss": edge_loss,
         "gate": jnp.mean(weight, axis=-1), "label_gate": label_weight}
  return node_loss, aux


def compile(spec: GraphSpec, *, num_classes: int, total_steps: int,
            optimizer: optax.GradientTransformation,
            augment: Callable | None = None, jit: bool = True,
            donate: bool = False) -> Program:
  """Builds the KTG program of ``spec``.

  Programs of specs with the same structure (node models, frozen set,
  reduction) and the same other arguments share one ``step``/``evaluate``
  function, so stepping many graphs of the same nodes compiles once.

  Args:
    spec: the graph; its node models and frozen set are compiled in, its edge
      table is data (``init`` puts ``spec.edge_table()`` in the state unless
      given another of the same structure).
    num_classes: classes of the task.
    total_steps: k_end of the gate schedules (SPEC §3: t = k / k_end).
    optimizer: one optax transformation for all trainable nodes (elementwise
      transformations equal one optimizer per node).
    augment: optional ``augment(rng, images) -> images`` run inside the step.
    jit: wrap ``step`` and ``evaluate`` in ``jax.jit``.
    donate: let ``step`` reuse the input state's buffers (saves a copy of the
      whole state per step, mostly on GPUs); the state passed in is then
      invalid after the call, so only for loops that rebind it.
  """
  if not isinstance(total_steps, int) or total_steps <= 0:
    raise ValueError(f"total_steps={total_steps!r}; allowed: an int > 0")
  models, frozen_ids, reduction = spec.structure()
  modules, step, evaluate = _step_functions(
      models, frozen_ids, reduction, num_classes, total_steps, optimizer,
      augment, jit, donate)

  def init(rng, images, edges: EdgeTable | None = None,
           frozen_variables: dict | None = None) -> KTGState:
    edges = spec.edge_table() if edges is None else edges
    edges = EdgeTable(*(jnp.asarray(x) for x in edges))
    rng, *node_rngs = jax.random.split(rng, spec.num_nodes + 1)
    params, model_state, frozen = {}, {}, {}
    for i, module in enumerate(modules):
      variables = module.init(node_rngs[i], images, train=False)
      if i in frozen_ids:
        frozen[node_key(i)] = _frozen_variables(spec, i, variables,
                                                frozen_variables)
        continue
      params[node_key(i)] = variables["params"]
      model_state[node_key(i)] = {k: v for k, v in variables.items()
                                  if k != "params"}
    return KTGState(step=jnp.zeros((), jnp.int32), params=params,
                    model_state=model_state, opt_state=optimizer.init(params),
                    frozen=frozen, edges=edges, rng=rng)

  return Program(init=init, step=step, evaluate=evaluate, spec=spec,
                 modules=modules)


# Small: each entry holds compiled executables, and a search worker calls
# fit (a new optimizer, so a new key) trial after trial.
@functools.lru_cache(maxsize=8)
def _step_functions(models, frozen_ids, reduction, num_classes, total_steps,
                    optimizer, augment, jit, donate):
  """The structure-specialised step and evaluate (cached: one per structure)."""
  modules = tuple(models_lib.create(m, num_classes) for m in models)

  def forward(params, model_state, frozen, images):
    """Logits [N, B, C] of all nodes and the trainable nodes' new BN state."""
    logits, new_model_state = [], {}
    for i, module in enumerate(modules):
      k = node_key(i)
      if i in frozen_ids:  # a teacher in inference mode, BN stats untouched
        out = jax.lax.stop_gradient(module.apply(frozen[k], images,
                                                 train=False))
      else:
        out, new_model_state[k] = module.apply(
            {"params": params[k], **model_state[k]}, images, train=True,
            mutable=list(model_state[k]))
      logits.append(out)
    return jnp.stack(logits), new_model_state

  def step(state: KTGState, batch) -> tuple[KTGState, dict]:
    images, labels = batch["image"], batch["label"]
    rng, aug_rng = jax.random.split(state.rng)
    if augment is not None:
      images = augment(aug_rng, images)
    t = state.step.astype(jnp.float32) / total_steps

    def total_loss(params):
      logits, new_model_state = forward(params, state.model_state,
                                        state.frozen, images)
      node_loss, aux = graph_losses(state.edges, logits, labels, t, reduction)
      # Sources are stop_gradient-ed, so d(sum_t L_t)/d(theta_t) = dL_t/dtheta_t.
      return jnp.sum(node_loss), (node_loss, logits, new_model_state, aux)

    grads, (node_loss, logits, new_model_state, aux) = jax.grad(
        total_loss, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"node_loss": node_loss,
               "node_accuracy": jnp.mean(
                   jnp.argmax(logits, -1) == labels, axis=-1),
               "t": t, **aux}
    return state._replace(step=state.step + 1, params=params,
                          model_state=new_model_state, opt_state=opt_state,
                          rng=rng), metrics

  def evaluate(state: KTGState, images):
    return jnp.stack([module.apply(node_variables(state, i), images,
                                   train=False)
                      for i, module in enumerate(modules)])

  if jit:
    step = jax.jit(step, donate_argnums=(0,) if donate else ())
    evaluate = jax.jit(evaluate)
  return modules, step, evaluate


def _frozen_variables(spec: GraphSpec, i: int, like: dict,
                      given: dict | None) -> dict:
  """Variables of frozen node i: given in memory, else read from its checkpoint."""
  if given is not None and i in given:
    variables = given[i]
  else:
    from ktg_jax import checkpoint  # I/O only when a frozen node needs it
    variables = checkpoint.load_variables(spec.nodes[i].checkpoint, like)
  got = jax.tree_util.tree_structure(variables)
  want = jax.tree_util.tree_structure(like)
  if got != want:
    raise ValueError(f"nodes[{i}].checkpoint: its variables do not match model "
                     f"{spec.nodes[i].model!r} (structure {got} != {want})")
  return variables
