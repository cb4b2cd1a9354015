"""Pyraformer: the pyramidal graph against the paper and a rule oracle, dense vs sparse attention,
parameter counts, and the model against numbers produced by the official PyTorch implementation.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from precursor_jax.models import pyraformer as pf

ETTH1 = dict(history_len=168, horizon=168, channels=7)  # every other hyperparameter at its default
SMALL = dict(
  history_len=30,
  horizon=8,
  channels=3,
  d_model=32,
  d_inner=48,
  n_heads=2,
  d_k=8,
  d_v=12,
  n_layers=2,
  window_sizes=(3, 3, 3),
  inner_size=3,
  d_bottleneck=8,
  dropout=0.0,
)


# --------------------------------------------------------------------------------- graph structure


def oracle_mask(seq_len, window_sizes, inner_size):
  """The pyramidal mask written pair by pair from the paper's rules (slow, independent)."""
  sizes = [seq_len]
  for window in window_sizes:
    sizes.append(sizes[-1] // window)
  where = [(scale, local) for scale, size in enumerate(sizes) for local in range(size)]

  def is_parent(child_scale, child, parent):
    # parent of child: child // C, except that the last parent also takes the leftover children
    last = sizes[child_scale + 1] - 1
    return child // window_sizes[child_scale] == parent or (
      parent == last and child >= last * window_sizes[child_scale]
    )

  allowed = np.zeros((len(where), len(where)), dtype=bool)
  for i, (scale_i, local_i) in enumerate(where):
    for j, (scale_j, local_j) in enumerate(where):
      if scale_i == scale_j:
        allowed[i, j] = abs(local_i - local_j) <= inner_size // 2
      elif scale_j == scale_i + 1:
        allowed[i, j] = is_parent(scale_i, local_i, local_j)
      elif scale_i == scale_j + 1:
        allowed[i, j] = is_parent(scale_j, local_j, local_i)
  return allowed


@pytest.mark.parametrize(
  "seq_len,window_sizes,inner_size",
  [
    (169, (4, 4, 4), 3),
    (73, (4, 4, 4), 5),
    (31, (3, 3, 3), 3),
    (100, (2, 3, 5), 3),
    (57, (5, 2), 4),
    (12, (12,), 1),
  ],
)
def test_mask_matches_rule_oracle(seq_len, window_sizes, inner_size):
  mask = pf.pyramid_mask(seq_len, window_sizes, inner_size)
  np.testing.assert_array_equal(mask, oracle_mask(seq_len, window_sizes, inner_size))
  np.testing.assert_array_equal(mask, mask.T)


def test_pyramid_sizes_and_public_contract():
  assert pf.pyramid_sizes(169, (4, 4, 4)) == (169, 42, 10, 2)
  allowed = pf.pyramid_mask(seq_len=169, window_sizes=(4, 4, 4), inner_size=3)
  assert allowed.shape == (223, 223) and allowed.dtype == bool
  with pytest.raises(ValueError, match="scale 3 is empty"):
    pf.pyramid_sizes(31, (4, 4, 4))


@pytest.mark.parametrize(
  "history,window_sizes,inner_size,expected",
  [
    (168, (4, 4, 4), 3, 26_472),  # ETTh1 168 / 336
    (336, (4, 4, 4), 5, 74_280),  # ETTh1 720 (input 336)
    (384, (5, 5, 5), 3, 57_264),  # ETTm1 96
    (672, (6, 6, 6), 3, 96_384),  # ETTm1 672
  ],
)
def test_qk_pairs_reproduce_paper_table3(history, window_sizes, inner_size, expected):
  # The mask is built on L + 1 nodes (predict token); 6 heads x 4 layers, as in the paper's scripts.
  assert pf.qk_pair_count(history + 1, window_sizes, inner_size, n_heads=6, n_layers=4) == expected
  assert pf.pyramid_mask(history + 1, window_sizes, inner_size).sum() * 6 * 4 == expected


@pytest.mark.parametrize(
  "seq_len,window_sizes", [(169, (4, 4, 4)), (100, (2, 3, 5)), (73, (4, 4, 4))]
)
def test_refer_points_are_each_node_and_its_ancestors(seq_len, window_sizes):
  points = pf.refer_points(seq_len, window_sizes)
  mask = oracle_mask(seq_len, window_sizes, 1)  # inner size 1: only self and parent/child links
  sizes = pf.pyramid_sizes(seq_len, window_sizes)
  starts = np.cumsum((0,) + sizes[:-1])
  assert points.shape == (seq_len, len(sizes))
  np.testing.assert_array_equal(points[:, 0], np.arange(seq_len))
  for i, row in enumerate(points):
    for scale in range(1, len(sizes)):
      # exactly one node of the coarser scale is linked to the previous ancestor: the parent
      linked = np.flatnonzero(mask[row[scale - 1], starts[scale] : starts[scale] + sizes[scale]])
      assert linked.tolist() == [row[scale] - starts[scale]], (i, scale)


@pytest.mark.parametrize(
  "seq_len,window_sizes,inner_size", [(169, (4, 4, 4), 3), (100, (2, 3, 5), 5)]
)
def test_neighbour_table_lists_exactly_the_mask(seq_len, window_sizes, inner_size):
  mask = oracle_mask(seq_len, window_sizes, inner_size)
  table = pf.neighbour_table(seq_len, window_sizes, inner_size)
  assert table.is_square
  for node in range(len(mask)):
    assert sorted(table.indices[node][table.valid[node]]) == np.flatnonzero(mask[node]).tolist()
    queries = table.reverse_indices[node][table.reverse_valid[node]]
    slots = table.reverse_slots[node][table.reverse_valid[node]]
    assert sorted(queries) == np.flatnonzero(mask[:, node]).tolist()
    np.testing.assert_array_equal(table.indices[queries, slots], node)
  # about A + C + 1 neighbours (the last nodes take leftover children)
  assert table.indices.shape[1] <= inner_size + 2 * max(window_sizes)
  assert pf.neighbour_table(seq_len, window_sizes, inner_size) is table  # built once, cached


def test_pruned_plan_keeps_every_node_the_forecast_depends_on():
  seq_len, window_sizes, inner_size, layers = 169, (4, 4, 4), 3, 4
  mask = oracle_mask(seq_len, window_sizes, inner_size)
  plan = pf.layer_plan(seq_len, window_sizes, inner_size, layers, prune=True)
  # Walk back from the predict token and its ancestors with the oracle mask.
  needed = set(pf.refer_points(seq_len, window_sizes)[-1].tolist())
  expected = [sorted(needed)]
  for _ in range(layers):
    needed = {int(k) for q in needed for k in np.flatnonzero(mask[q])}
    expected.append(sorted(needed))
  expected = expected[::-1]
  nodes = plan.input_nodes
  assert nodes.tolist() == expected[0]
  for layer, table in enumerate(plan.tables):
    queries = nodes[table.query_rows]
    assert queries.tolist() == expected[layer + 1]
    for row, query in enumerate(queries):
      assert (
        sorted(nodes[table.indices[row][table.valid[row]]]) == np.flatnonzero(mask[query]).tolist()
      )
    nodes = queries
  assert [len(t.query_rows) for t in plan.tables] == [159, 63, 19, 4]
  np.testing.assert_array_equal(nodes[plan.output_rows], pf.refer_points(seq_len, window_sizes)[-1])


# --------------------------------------------------------------------------------- attention paths


def _dense_scale_from_sparse(scale, table, nodes):
  """Places (B, H, N, K) per-edge multipliers at their (query, key) cells of (B, H, N, N)."""
  dense = np.zeros(scale.shape[:2] + (nodes, nodes), np.float32)
  rows, slots = np.nonzero(table.valid)
  dense[:, :, rows, table.indices[rows, slots]] = scale[:, :, rows, slots]
  return jnp.asarray(dense)


@pytest.mark.parametrize(
  "with_dropout,block_bytes",
  [(False, pf.SPARSE_BLOCK_BYTES), (True, pf.SPARSE_BLOCK_BYTES), (True, 1)],
)
def test_sparse_attention_equals_dense_outputs_and_gradients(with_dropout, block_bytes):
  """block_bytes=1 forces the sequential row blocks (8 rows each) used for long sequences."""
  seq_len, window_sizes, inner_size = 73, (4, 4, 4), 3
  table = pf.neighbour_table(seq_len, window_sizes, inner_size)
  mask = pf.pyramid_mask(seq_len, window_sizes, inner_size)
  nodes = mask.shape[0]
  keys = jax.random.split(jax.random.key(0), 5)
  q, k = (jax.random.normal(key, (2, nodes, 3, 8)) for key in keys[:2])
  v = jax.random.normal(keys[2], (2, nodes, 3, 5))
  weights = jax.random.normal(keys[3], (2, nodes, 3, 5))
  sparse_scale = dense_scale = None
  if with_dropout:
    keep = np.asarray(jax.random.bernoulli(keys[4], 0.7, (2, 3, nodes, table.indices.shape[1])))
    sparse_scale = jnp.asarray(keep / 0.7, jnp.float32)
    dense_scale = _dense_scale_from_sparse(np.asarray(sparse_scale), table, nodes)

  def dense_loss(q, k, v):
    return jnp.sum(pf.dense_attention(q, k, v, mask, dense_scale) * weights)

  def sparse_loss(q, k, v):
    return jnp.sum(pf.sparse_attention(q, k, v, table, sparse_scale, block_bytes) * weights)

  np.testing.assert_allclose(
    pf.sparse_attention(q, k, v, table, sparse_scale, block_bytes),
    pf.dense_attention(q, k, v, mask, dense_scale),
    atol=2e-6,
    rtol=1e-5,
  )
  dense_grads = jax.grad(dense_loss, argnums=(0, 1, 2))(q, k, v)
  sparse_grads = jax.jit(jax.grad(sparse_loss, argnums=(0, 1, 2)))(q, k, v)
  for dense_grad, sparse_grad in zip(dense_grads, sparse_grads, strict=True):
    np.testing.assert_allclose(sparse_grad, dense_grad, atol=1e-5, rtol=1e-5)


def _batch(key, batch=4, history=30, horizon=8, channels=3, features=4):
  keys = jax.random.split(key, 4)
  return (
    jax.random.normal(keys[0], (batch, history, channels)),
    jax.random.uniform(keys[1], (batch, history, features), minval=-0.5, maxval=0.5),
    jax.random.uniform(keys[2], (batch, horizon, features), minval=-0.5, maxval=0.5),
    jax.random.normal(keys[3], (batch, horizon, channels)),
  )


def _loss_and_grads(model, variables, batch):
  history, history_time, future_time, future = batch

  def loss(params):
    forecast, updates = model.apply(
      {"params": params, "batch_stats": variables["batch_stats"]},
      history,
      history_time,
      future_time,
      train=True,
      mutable=["batch_stats"],
    )
    return jnp.mean((forecast - future) ** 2), (forecast, updates)

  (_, (forecast, updates)), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(
    variables["params"]
  )
  return forecast, updates, grads


def test_model_dense_sparse_and_pruned_agree():
  batch = _batch(jax.random.key(1))
  models = {
    "dense": pf.Pyraformer(**SMALL, attention="dense", prune=False),  # the official computation
    "sparse": pf.Pyraformer(**SMALL, attention="sparse", prune=False),
    "sparse_pruned": pf.Pyraformer(**SMALL, attention="sparse", prune=True),
    "dense_pruned": pf.Pyraformer(**SMALL, attention="dense", prune=True),
  }
  variables = models["dense"].init(jax.random.key(0), *batch[:3])
  results = {name: _loss_and_grads(model, variables, batch) for name, model in models.items()}
  dense_forecast, dense_updates, dense_grads = results["dense"]
  grad_scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(dense_grads))
  dense_eval = jax.jit(models["dense"].apply)(variables, *batch[:3])  # compiled once
  for name in ("sparse", "sparse_pruned", "dense_pruned"):
    forecast, updates, grads = results[name]
    np.testing.assert_allclose(forecast, dense_forecast, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), updates, dense_updates)
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5 * grad_scale), grads, dense_grads
    )
    # eval mode (running statistics) too
    np.testing.assert_allclose(
      jax.jit(models[name].apply)(variables, *batch[:3]), dense_eval, atol=1e-5
    )


def test_remat_gives_the_same_gradients():
  batch = _batch(jax.random.key(2))
  model = pf.Pyraformer(**SMALL)
  variables = model.init(jax.random.key(0), *batch[:3])
  _, _, grads = _loss_and_grads(model, variables, batch)
  _, _, remat_grads = _loss_and_grads(pf.Pyraformer(**SMALL, remat=True), variables, batch)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), remat_grads, grads)


# ----------------------------------------------------------------------------- parameters and init


def test_parameter_counts_match_official_etth1():
  model = pf.Pyraformer(**ETTH1)
  shapes = jax.eval_shape(
    model.init,
    jax.random.key(0),
    jnp.zeros((2, 168, 7)),
    jnp.zeros((2, 168, 4)),
    jnp.zeros((2, 168, 4)),
  )
  count = lambda tree: sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))
  params = shapes["params"]
  assert count(params["embedding"]) == 13_824
  assert count(params["cscm"]) == 330_496
  assert sum(count(params[f"layer_{i}"]) for i in range(4)) == 8_402_944
  assert count(params["predictor"]) == 2_408_448
  assert count(params) == 11_155_712
  assert count(shapes["batch_stats"]) == 3 * 2 * 128


def test_initialisation_follows_official_distributions():
  model = pf.Pyraformer(**ETTH1)
  history, history_time, future_time, _ = _batch(jax.random.key(3), 2, 168, 168, 7)
  params = jax.jit(model.init)(jax.random.key(0), history, history_time, future_time)["params"]
  predictor = np.asarray(params["predictor"]["kernel"])  # xavier normal (2048 -> 1176)
  assert predictor.std() == pytest.approx(np.sqrt(2.0 / (2048 + 1176)), rel=0.01)
  assert abs(predictor.mean()) < 1e-4
  token = np.asarray(params["embedding"]["token_conv"]["kernel"])  # kaiming normal, fan_in 21
  assert token.std() == pytest.approx(np.sqrt(2.0 / 21), rel=0.05)
  query = np.asarray(params["layer_0"]["attention"]["query"]["kernel"])  # xavier uniform 512 -> 768
  bound = np.sqrt(6.0 / (512 + 768))
  assert np.abs(query).max() <= bound and np.abs(query).max() > 0.99 * bound
  hidden = np.asarray(
    params["layer_0"]["feed_forward"]["hidden"]["kernel"]
  )  # torch default U(+-1/sqrt(512))
  assert np.abs(hidden).max() <= 1 / np.sqrt(512) and np.abs(hidden).max() > 0.99 / np.sqrt(512)


# --------------------------------------------------------------------- the official implementation


def load_official(test_data_dir, name):
  data = np.load(test_data_dir / "pyraformer_official" / name)
  return {key: data[key] for key in data.files}


@pytest.mark.parametrize(
  "fixture,attention,prune",
  [
    ("official_small.npz", "dense", False),
    ("official_small.npz", "sparse", False),
    ("official_small.npz", "sparse", True),
    ("official_small.npz", "dense", True),
    ("official_small_attention_decoder.npz", "dense", False),
    ("official_small_attention_decoder.npz", "sparse", False),
  ],
)
def test_matches_official_pytorch_implementation(test_data_dir, fixture, attention, prune):
  """Identical weights and batch: outputs, loss, gradients and BatchNorm statistics agree."""
  official = load_official(test_data_dir, fixture)
  config = json.loads(str(official["config_json"]))
  decoder = {"FC": "fc", "attention": "attention"}[config["decoder"]]
  finest = config["history"] + (decoder == "fc")  # the predict token
  state = {
    name[len("param/") :]: value for name, value in official.items() if name.startswith("param/")
  }
  np.testing.assert_allclose(
    pf.sinusoid_positions(config["history"] + 1, config["d_model"]),
    state["encoder.enc_embedding.position_embedding.pe"][0],
    atol=1e-5,
  )
  model = pf.Pyraformer(
    history_len=config["history"],
    horizon=config["horizon"],
    channels=config["channels"],
    d_model=config["d_model"],
    d_inner=config["d_inner"],
    n_heads=config["n_heads"],
    d_k=config["d_k"],
    d_v=config["d_k"],
    n_layers=config["n_layers"],
    window_sizes=tuple(config["window_sizes"]),
    inner_size=config["inner_size"],
    d_bottleneck=config["d_bottleneck"],
    dropout=0.0,
    attention=attention,
    prune=prune,
    decoder=decoder,
  )
  variables = pf.from_official_state_dict(state, n_heads=config["n_heads"])
  inputs = (official["history"], official["history_time"], official["future_time"])
  template = jax.eval_shape(model.init, jax.random.key(0), *inputs)
  assert jax.tree.structure(template) == jax.tree.structure(variables)
  forecast, updates, grads = _loss_and_grads(model, variables, inputs + (official["future"],))
  np.testing.assert_allclose(forecast, official["train_output"], atol=2e-5)
  loss = np.mean((np.asarray(forecast) - official["future"]) ** 2)
  assert loss == pytest.approx(float(official["train_loss"]), rel=1e-5)
  official_grads = pf.from_official_state_dict(
    {**state, **{n[len("grad/") :]: v for n, v in official.items() if n.startswith("grad/")}},
    n_heads=config["n_heads"],
  )["params"]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-5), grads, official_grads)
  # Running statistics: means identical; PyTorch updates the variance with the unbiased batch
  # variance.
  prefix = "state_after_train/encoder.conv_layers.conv_layers"
  sizes = pf.pyramid_sizes(finest, config["window_sizes"])
  for index in range(len(config["window_sizes"])):
    ours = updates["batch_stats"]["cscm"][f"batch_norm_{index}"]
    np.testing.assert_allclose(
      ours["mean"], official[f"{prefix}.{index}.norm.running_mean"], atol=1e-6
    )
    n = config["batch"] * sizes[index + 1]
    batch_var = (np.asarray(ours["var"]) - 0.9) / 0.1
    np.testing.assert_allclose(
      0.9 + 0.1 * batch_var * n / (n - 1), official[f"{prefix}.{index}.norm.running_var"], rtol=1e-5
    )
  # Eval mode with the official running statistics.
  after = {
    n[len("state_after_train/") :]: v
    for n, v in official.items()
    if n.startswith("state_after_train/")
  }
  eval_variables = pf.from_official_state_dict({**state, **after}, n_heads=config["n_heads"])
  np.testing.assert_allclose(
    model.apply(eval_variables, *inputs), official["eval_output"], atol=2e-5
  )


# --------------------------------------------------------------------------------- model behaviour


def test_forecast_shape_contract_and_dropout():
  model = pf.Pyraformer(**{**SMALL, "dropout": 0.1})
  history, history_time, future_time, _ = _batch(jax.random.key(4))
  variables = model.init(jax.random.key(0), history, history_time, future_time)
  assert set(variables) == {"params", "batch_stats"}
  evaluated = model.apply(variables, history, history_time, future_time)
  assert evaluated.shape == (4, 8, 3)
  np.testing.assert_array_equal(
    evaluated, model.apply(variables, history, history_time, future_time)
  )

  def train(key):
    out, _ = model.apply(
      variables,
      history,
      history_time,
      future_time,
      train=True,
      rngs={"dropout": key},
      mutable=["batch_stats"],
    )
    return out

  assert not np.allclose(train(jax.random.key(1)), train(jax.random.key(2)))
  np.testing.assert_array_equal(train(jax.random.key(1)), train(jax.random.key(1)))
  with pytest.raises(ValueError, match="history must be"):
    model.apply(variables, history[:, :-1], history_time[:, :-1], future_time)
  with pytest.raises(ValueError, match="decoder must be"):
    pf.Pyraformer(**SMALL, decoder="rnn").init(
      jax.random.key(0), history, history_time, future_time
    )
  with pytest.raises(ValueError, match="attention must be"):
    pf.Pyraformer(**SMALL, attention="flash").init(
      jax.random.key(0), history, history_time, future_time
    )


def test_overfits_one_batch():
  model = pf.Pyraformer(**SMALL)
  history, history_time, future_time, future = _batch(jax.random.key(5))
  variables = model.init(jax.random.key(0), history, history_time, future_time)
  optimizer = optax.adam(3e-3)

  @jax.jit
  def step(params, batch_stats, opt_state):
    def loss_fn(p):
      out, updates = model.apply(
        {"params": p, "batch_stats": batch_stats},
        history,
        history_time,
        future_time,
        train=True,
        mutable=["batch_stats"],
      )
      return jnp.mean((out - future) ** 2), updates["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), batch_stats, opt_state, loss

  params, batch_stats = variables["params"], variables["batch_stats"]
  opt_state = optimizer.init(params)
  losses = []
  for _ in range(60):
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
    losses.append(float(loss))
  assert losses[-1] < 0.1 * losses[0], losses[::10]


def test_graph_tables_are_static_constants_built_once():
  pf._layer_plan.cache_clear()
  model = pf.Pyraformer(**SMALL)
  batch = _batch(jax.random.key(6))
  variables = model.init(jax.random.key(0), *batch[:3])
  apply = jax.jit(
    lambda v, k: model.apply(
      v, *batch[:3], train=True, rngs={"dropout": k}, mutable=["batch_stats"]
    )
  )
  for key in jax.random.split(jax.random.key(7), 3):
    apply(variables, key)
  info = pf._layer_plan.cache_info()
  assert info.misses == 1  # built at the first trace, reused by every later use


@pytest.mark.parametrize("history", [24, 48])
def test_all_pyramid_sizes_supported(history):
  """Sizes with leftover children at every scale build, and dense and sparse agree."""
  config = {**SMALL, "history_len": history, "window_sizes": (2, 3, 2), "inner_size": 5}
  batch = _batch(jax.random.key(8), history=history)
  dense = pf.Pyraformer(**config, attention="dense", prune=False)
  variables = dense.init(jax.random.key(0), *batch[:3])
  for prune in (False, True):
    sparse = pf.Pyraformer(**config, attention="sparse", prune=prune)
    np.testing.assert_allclose(
      jax.jit(sparse.apply)(variables, *batch[:3]),
      jax.jit(dense.apply)(variables, *batch[:3]),
      atol=1e-5,
    )
