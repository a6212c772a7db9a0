"""Compile a graph spec to one pure, jitted KTG train step (docs/papers.md §1–§3).

``compile(spec, ...)`` returns ``Program(init, step, evaluate)``:

* ``init(rng, images, edges=None, checkpoint_variables=None) -> KTGState``: ONE
  pytree with every node's parameters, BatchNorm statistics, EMA copies, the
  optimizer state, the step count, the rng and the edge table.
* ``step(state, batch) -> (state, metrics)``. ``batch``: ``image`` and
  ``label`` (the labelled part) and optionally ``unlabeled_image``. Views are
  made inside the step; each node runs one forward over the chunks that its
  edges need (``ktg_jax/core/plan.py``); sources are under ``stop_gradient`` (edge
  direction); each node's loss is the sum of its gated incoming edge losses
  (ch.5 eq 5.9 with self-loops); one simultaneous update of all learning
  nodes; then every EMA node moves towards its node.
* ``evaluate(state, images) -> logits[N, B, C]`` in inference mode (a node
  without a network: its kind's combination of its members' logits, eq 4.10).

What a node does — its module, forward, state, own objective, averaged
copies — is its kind's (``ktg_jax.core.nodes.NodeKind``, a registry): the step
asks the kind and never tests its name.

The edge table lives *in the state*, as arrays: graphs of one structure share
the compiled program, and ``jax.vmap(program.step)`` over stacked states trains
a population of graphs (or seeds) at once.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ktg_jax import models as models_lib
from ktg_jax.core import precision
from ktg_jax.parallel import node_axis
from ktg_jax.core import gradient_aggregation
from ktg_jax.core import losses
from ktg_jax.core import nodes as nodes_lib
from ktg_jax.core import table_checks
from ktg_jax.core.nodes import node_key
from ktg_jax.core.objective import slot_losses
from ktg_jax.core.parts import DEFAULT_VIEW, LABEL, EdgeTable
from ktg_jax.core.plan import make_plan
from ktg_jax.core.spec import GraphSpec


# What a step can select unless told otherwise: the probability losses of docs/papers.md
# §2 that ch.3/ch.4 graphs use (cheap: a few ops on [B, C] logits per edge).
DEFAULT_LOSS_KINDS = ("kl", "kd", "prob_cosine")


class KTGState(NamedTuple):
  step: Any          # int32 scalar: updates done so far (k in docs/papers.md §3)
  params: dict       # "node{i}" -> params of the nodes that learn
  model_state: dict  # "node{i}" -> their non-param collections (batch_stats)
  opt_state: Any     # one optimizer over all learning nodes' params
  frozen: dict       # "node{i}" -> full variables of frozen nodes, never updated
  ema: dict          # "node{i}" -> full variables of EMA nodes (no gradient)
  edges: EdgeTable   # the graph as data
  rng: Any
  kind_state: dict = {}  # "node{i}" -> what its kind keeps besides variables
                         # (NodeKind.init_state; e.g. a MoCo queue, 000)


class Program(NamedTuple):
  init: Callable
  step: Callable
  evaluate: Callable
  spec: GraphSpec
  modules: tuple  # per node: its flax module, None without a network


def node_variables(state: KTGState, i: int) -> dict:
  """Node i's full variables (params + batch_stats), as ``module.apply`` and
  ``checkpoint.load_variables`` take them."""
  k = node_key(i)
  for held in (state.frozen, state.ema):
    if k in held:
      return held[k]
  if k not in state.params:
    raise ValueError(f"node {i} has no variables (it has no network)")
  return {"params": state.params[k], **state.model_state[k]}


def view_key(aug_rng, name: str):
  """The rng of view ``name`` in a step: the default view gets ``aug_rng``."""
  if name == DEFAULT_VIEW:
    return aug_rng
  return jax.random.fold_in(aug_rng, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def compile(spec: GraphSpec, *, num_classes: int, total_steps: int,
            optimizer: optax.GradientTransformation,
            augment: Callable | None = None,
            views: Mapping[str, Callable] | None = None,
            loss_kinds=None, jit: bool = True,
            donate: bool = False, aggregate: str | None = None,
            node_mesh=None, compute_dtype=None) -> Program:
  """Builds the KTG program of ``spec``.

  Programs of specs with the same structure (``GraphSpec.structure()``) and the
  same other arguments share one ``step``/``evaluate`` function.

  Args:
    spec: the graph; its structure is compiled in, its edge table is data
      (``init`` puts ``spec.edge_table()`` in the state unless given another
      table of the same structure).
    num_classes: classes of the task.
    total_steps: k_end of the gate schedules (docs/papers.md §3: t = k / k_end).
    optimizer: one optax transformation for all learning nodes (elementwise
      transformations equal one optimizer per node).
    augment: ``augment(rng, images) -> images``, the default view (identity
      if None).
    views: other named views ``{name: fn(rng, images) -> images}`` that the
      spec's edges name (e.g. ``weak``, ``strong``).
    loss_kinds: the loss names the step can select besides the spec's
      (default ``DEFAULT_LOSS_KINDS``, the probability losses of docs/papers.md §2). A
      search passes its space's, so every graph drawn shares the program.
    jit: wrap ``step`` and ``evaluate`` in ``jax.jit``.
    donate: let ``step`` reuse the input state's buffers (the state passed in
      is then invalid after the call, so only for loops that rebind it).
    aggregate: None (the plain sum of the edge losses' gradients) or
      "pcgrad": the node edges' gradients are PCGrad-projected before summing
      (thesis §4.3.3, ``gradient_aggregation.pcgrad_grad``); metrics then
      hold ``conflicts[a, b]``, the edges a -> t and b -> t whose gradients
      had a negative inner product this step.
    node_mesh: a 1-D ``node`` mesh (``sharding.mesh("node")``): each group
      of learning nodes of one model runs ONE forward split over its devices
      (``ktg_jax.parallel.node_axis.forwards``); the step's numbers are unchanged.
      None: every node applied separately.
    compute_dtype: None (float32) or "bfloat16": every node's forward and
      backward in that dtype, its variables and the losses in float32
      (``ktg_jax.core.precision``, mixed precision).
  """
  if aggregate not in gradient_aggregation.AGGREGATES:
    raise ValueError(f"aggregate={aggregate!r}; allowed: "
                     f"{list(gradient_aggregation.AGGREGATES)}")
  if not isinstance(total_steps, int) or total_steps <= 0:
    raise ValueError(f"total_steps={total_steps!r}; allowed: an int > 0")
  view_fns = {DEFAULT_VIEW: augment, **(views or {})}
  named = spec.views()
  missing = sorted(named - set(view_fns))
  if missing:
    raise ValueError(f"views={sorted(views or {})} lacks {missing}, named by "
                     f"the spec's edges; allowed: a dict with those names")
  names = sorted(set(loss_kinds or DEFAULT_LOSS_KINDS) | set(spec.loss_kinds()))
  unknown = [k for k in names if k not in losses.BY_NAME]
  if unknown:
    raise ValueError(f"loss_kinds has {unknown}; allowed: "
                     f"{sorted(losses.BY_NAME)}")
  table_checks.check_outputs(spec, names)
  structure = spec.structure()
  modules, step, evaluate = _step_functions(
      structure, num_classes, total_steps, optimizer,
      tuple(sorted((k, v) for k, v in view_fns.items() if k in named
                   or k == DEFAULT_VIEW)), tuple(names), jit, donate, aggregate,
      node_mesh, precision.check(compute_dtype))

  def init(rng, images, edges: EdgeTable | None = None,
           checkpoint_variables: dict | None = None,
           frozen_variables: dict | None = None) -> KTGState:
    if edges is None:
      edges = spec.edge_table()
    else:
      table_checks.check_edge_table(spec, edges, names)
    edges = EdgeTable(*(jnp.asarray(x) for x in edges))
    given = {**(frozen_variables or {}), **(checkpoint_variables or {})}
    rng, *node_rngs = jax.random.split(rng, spec.num_nodes + 1)
    params, model_state, frozen, ema, kind_state = {}, {}, {}, {}, {}
    records = spec.structure()[0]
    for i, module in enumerate(modules):
      kind = nodes_lib.KINDS[records[i].kind]
      if module is None or not kind.initialises:
        continue
      variables = module.init(node_rngs[i], images, train=False)
      holder, variables = kind.initial_variables(
          variables, functools.partial(_loaded, spec, i, variables, given))
      if holder == "frozen":
        frozen[node_key(i)] = variables
        continue
      params[node_key(i)] = variables["params"]
      model_state[node_key(i)] = {k: v for k, v in variables.items()
                                  if k != "params"}
    copy = lambda j: jax.tree_util.tree_map(jnp.copy, {
        "params": params[node_key(j)], **model_state[node_key(j)]})
    for i, record in enumerate(records):  # averaged copies, kinds' state
      entries, held = nodes_lib.KINDS[record.kind].init_state(
          i, record, modules[i], node_rngs[i], copy)
      ema.update(entries)
      if held is not None:
        kind_state[node_key(i)] = held
    return KTGState(step=jnp.zeros((), jnp.int32), params=params,
                    model_state=model_state, opt_state=optimizer.init(params),
                    frozen=frozen, ema=ema, edges=edges, rng=rng,
                    kind_state=kind_state)

  return Program(init=init, step=step, evaluate=evaluate, spec=spec,
                 modules=modules)


# Small: each entry holds compiled executables, and a search worker calls
# fit (a new optimizer, so a new key) trial after trial.
@functools.lru_cache(maxsize=8)
def _step_functions(structure, num_classes, total_steps, optimizer, view_fns,
                    loss_names, jit, donate, aggregate=None, node_mesh=None,
                    compute_dtype=None):
  """The structure-specialised step and evaluate (cached: one per structure)."""
  nodes, slots, _, reduction = structure
  kinds_of = [nodes_lib.KINDS[n.kind] for n in nodes]
  modules = tuple(precision.wrap(k.module(n, num_classes), compute_dtype)
                  for k, n in zip(kinds_of, nodes))
  own_nodes = [i for i, k in enumerate(kinds_of) if k.own_objective
               and any(s.source == LABEL and s.target == i for s in slots)]
  view_fns = dict(view_fns)
  kinds = [losses.BY_NAME[k] for k in loss_names]
  label_outputs = tuple(models_lib.label_outputs(n.model) if m is not None
                        else ("logits",) for n, m in zip(nodes, modules))
  node_edges = [(s.source, s.target) for s in slots if s.source != LABEL]

  def forward(params, state, chunk_images, plan):
    """Per node, ``(view, part) -> outputs``; the learning nodes' new BN
    state; per node its kind's extra outputs (a momentum encoder's); the
    BatchNorm statistics that averaged copies keep of their own forward."""
    outputs, new_model_state, extra, own_stats = [None] * len(nodes), {}, {}, {}
    grouped = {}  # node_mesh: node -> (outputs, new BN state) of its group
    if node_mesh is not None:
      grouped = node_axis.forwards(
          nodes, modules, params, state.model_state, plan.chunks,
          lambda i: jnp.concatenate([chunk_images[c] for c in plan.chunks[i]]),
          node_mesh)
    for i, (record, kind) in enumerate(zip(nodes, kinds_of)):
      k, chunks, module = node_key(i), plan.chunks[i], modules[i]
      if module is None:
        continue
      x = jnp.concatenate([chunk_images[c] for c in chunks])
      if i in grouped:
        out, new_model_state[k] = grouped[i]
      else:
        variables = ({"params": params[k], **state.model_state[k]}
                     if k in params else None)
        fwd = kind.forward(i, record, module, variables, state, x)
        out = fwd.outputs
        if fwd.model_state is not None:
          new_model_state[k] = fwd.model_state
        if fwd.own_stats is not None:
          own_stats[k] = fwd.own_stats
      sizes = np.cumsum([chunk_images[c].shape[0] for c in chunks])[:-1]
      split = lambda out: {c: {name: v[j] for name, v in {
          name: jnp.split(v, sizes) for name, v in out.items()}.items()}
                           for j, c in enumerate(chunks)}
      outputs[i] = split(out)
      more = kind.extra_outputs(i, record, module, state, x, split)
      if more is not None:
        extra[i] = more
      outputs[i] = kind.paired(outputs[i])
    for i, (record, kind) in enumerate(zip(nodes, kinds_of)):
      if modules[i] is None:  # no network: combines its members (eq 4.10)
        outputs[i] = {c: {"logits": kind.combine(
            record, [outputs[m][c]["logits"] for m in record.members])}
                      for c in plan.chunks[i]}
    return outputs, new_model_state, extra, own_stats

  def step(state: KTGState, batch) -> tuple[KTGState, dict]:
    labels = batch["label"]
    unlabeled = batch.get("unlabeled_image")
    plan = make_plan(structure, unlabeled is not None)
    n_l = batch["image"].shape[0]
    images = (batch["image"] if unlabeled is None
              else jnp.concatenate([batch["image"], unlabeled]))
    rng, aug_rng = jax.random.split(state.rng)
    chunk_images = {}
    for v in plan.views:
      fn = view_fns[v]
      x = images if fn is None else fn(view_key(aug_rng, v), images)
      chunk_images[(v, "l")], chunk_images[(v, "u")] = x[:n_l], x[n_l:]
    t = state.step.astype(jnp.float32) / total_steps

    def total_loss(params):
      outputs, new_model_state, extra, own_stats = forward(
          params, state, chunk_images, plan)
      own, held, monitors = {}, dict(state.kind_state), {}
      for i in own_nodes:  # own objectives in their label slots (000)
        own[i], held[node_key(i)], monitor = kinds_of[i].own_loss(
            nodes[i], outputs[i], extra.get(i), state.kind_state[node_key(i)],
            plan.parts["labeled"])
        for name, v in monitor.items():
          monitors.setdefault(name, {})[i] = v
      node_loss, aux = slot_losses(slots, state.edges, outputs, labels, t,
                                   reduction, plan.parts, kinds, len(nodes),
                                   label_outputs, own)
      aux = {**aux, "kind_state": held, "own_stats": own_stats}
      for name, by_node in monitors.items():  # e.g. a collapse monitor
        aux[name] = jnp.stack([by_node.get(i, jnp.zeros(()))
                               for i in range(len(nodes))])
      # Sources are stop_gradient-ed, so d(sum_t L_t)/d(theta_t) = dL_t/dtheta_t.
      return jnp.sum(node_loss), (node_loss, outputs, new_model_state, aux)

    if aggregate is None:
      grads, (node_loss, outputs, new_model_state, aux) = jax.grad(
          total_loss, has_aux=True)(state.params)
    else:  # per-edge gradients, projected (thesis §4.3.3)
      grads, (node_loss, outputs, new_model_state, aux) = (
          gradient_aggregation.AGGREGATES[aggregate](
              total_loss, state.params, node_edges, len(nodes)))
    kind_state, own_stats = aux.pop("kind_state"), aux.pop("own_stats")
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = {avg.key: nodes_lib.apply_averaging(  # EMA nodes, momentum encoders
        avg, state.ema, params, new_model_state, own_stats)
           for i, (record, kind) in enumerate(zip(nodes, kinds_of))
           for avg in kind.averages(i, record, state.step, total_steps, state)}
    accuracy = jnp.stack([jnp.mean(jnp.argmax(
        outputs[i][plan.metric_chunk[i]]["logits"], -1) == labels)
                          for i in range(len(nodes))])
    metrics = {"node_loss": node_loss, "node_accuracy": accuracy, "t": t,
               **aux}
    return state._replace(step=state.step + 1, params=params,
                          model_state=new_model_state, opt_state=opt_state,
                          ema=ema, rng=rng, kind_state=kind_state), metrics

  def evaluate(state: KTGState, images):
    logits = [None if m is None else m.apply(
        node_variables(state, i), images, train=False)["logits"]
              for i, m in enumerate(modules)]
    for i, (record, kind) in enumerate(zip(nodes, kinds_of)):
      if modules[i] is None:  # combines its members' logits (eq 4.10)
        logits[i] = kind.combine(record, [logits[m] for m in record.members])
    return jnp.stack(logits)

  if jit:
    step = jax.jit(step, donate_argnums=(0,) if donate else ())
    evaluate = jax.jit(evaluate)
  return modules, step, evaluate


def node_modules(spec: GraphSpec, num_classes: int) -> tuple:
  """Every node's flax module (None for a node without a network)."""
  return tuple(nodes_lib.KINDS[n.kind].module(n, num_classes)
               for n in spec.structure()[0])


def _loaded(spec: GraphSpec, i: int, like: dict, given: dict,
            merge: bool) -> dict:
  """Variables of a frozen or pre-trained node: given in memory, else read
  from its checkpoint; ``merge`` (a pre-trained node) re-initialises its
  ``reinit`` layers and a classifier head whose class count differs (002)."""
  node = spec.nodes[i]
  from ktg_jax import checkpoint  # I/O only when a node needs it
  if merge:
    source = given.get(i) or checkpoint.load_raw(node.checkpoint)
    return checkpoint.merge_pretrained(source, like, node.reinit,
                                       models_lib.HEAD, field=f"nodes[{i}]")
  variables = (given[i] if i in given
               else checkpoint.load_variables(node.checkpoint, like))
  got = jax.tree_util.tree_structure(variables)
  want = jax.tree_util.tree_structure(like)
  if got != want:
    raise ValueError(f"nodes[{i}].checkpoint: its variables do not match model "
                     f"{node.model!r} (structure {got} != {want})")
  return variables
