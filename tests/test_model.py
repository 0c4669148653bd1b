"""The multi-task model: weighted losses, zero weight ⇒ no gradient, seeded reproducibility."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

import names
from models.hparams import TrainingConfig
from models.model import MovieLensModel, make_optimizer
from models.retrieval_loss import catalog_softmax_loss, in_batch_softmax_loss

NUM_USERS, NUM_MOVIES = 20, 30


def _batch(size: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        names.USER_INDEX: tf.constant(rng.integers(0, NUM_USERS, size), tf.int64),
        names.MOVIE_INDEX: tf.constant(rng.integers(0, NUM_MOVIES, size), tf.int64),
        names.RATING_LABEL: tf.constant(rng.integers(1, 6, size), tf.float32),
    }


def _model(**overrides) -> MovieLensModel:
    config = TrainingConfig(embedding_dim=8, rating_layers=(16,), top_ks=(1, 5), **overrides)
    tf.keras.utils.set_random_seed(config.seed)
    return MovieLensModel(config, NUM_USERS, NUM_MOVIES)


def _gradients(model: MovieLensModel, batch):
    with tf.GradientTape() as tape:
        loss = model.compute_loss(batch, training=True)
    grads = tape.gradient(loss, model.trainable_variables)
    return loss, {v.ref(): g for v, g in zip(model.trainable_variables, grads)}


def test_loss_is_the_weighted_sum_of_the_task_losses():
    batch = _batch()
    model = _model(rating_weight=0.3, retrieval_weight=2.0)
    losses = model.task_losses(batch, training=True)
    loss = model.compute_loss(batch, training=True)
    expected = 0.3 * losses["rating"] + 2.0 * losses["retrieval"]
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-6)


def test_zero_rating_weight_gives_the_rating_head_no_gradient():
    model = _model(rating_weight=0.0, retrieval_weight=1.0)
    _, grads = _gradients(model, _batch())
    head = [grads[v.ref()] for v in model.rating_head.trainable_variables]
    assert head and all(g is None for g in head)
    assert grads[model.user_tower.embeddings.ref()] is not None


def test_zero_retrieval_weight_leaves_only_the_rating_gradient():
    batch = _batch()
    rating_only = _model(rating_weight=1.0, retrieval_weight=0.0)
    loss, grads = _gradients(rating_only, batch)
    rating_loss = rating_only.task_losses(batch, training=True)["rating"]
    np.testing.assert_allclose(loss.numpy(), rating_loss.numpy(), rtol=1e-6)
    # Gradient on the movie embeddings equals that of the rating loss alone.
    with tf.GradientTape() as tape:
        alone = rating_only.task_losses(batch, training=True)["rating"]
    movie_var = rating_only.movie_tower.embeddings
    expected = tf.convert_to_tensor(tape.gradient(alone, movie_var))
    actual = tf.convert_to_tensor(grads[movie_var.ref()])
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-7)


def test_both_weights_zero_is_rejected():
    with pytest.raises(ValueError, match="at least one"):
        TrainingConfig(rating_weight=0.0, retrieval_weight=0.0)


def test_top_k_metrics_are_computed_in_evaluation_only():
    model = _model()
    model.compile(optimizer=make_optimizer(model.config))
    data = tf.data.Dataset.from_tensor_slices(_batch(256)).batch(64)
    history = model.fit(data, epochs=1, verbose=0).history
    assert not [name for name in history if "top_" in name]  # not computed, not logged
    assert "root_mean_squared_error" in history
    metrics = model.evaluate(data, return_dict=True, verbose=0)
    assert 0.0 < metrics["factorized_top_k/top_5_categorical_accuracy"] <= 1.0


def test_training_is_reproducible_from_the_seed():
    def train():
        model = _model(learning_rate=0.1)
        model.compile(optimizer=make_optimizer(model.config))
        data = tf.data.Dataset.from_tensor_slices(_batch(512)).shuffle(512, seed=1).batch(64)
        model.fit(data, epochs=2, verbose=0)
        return model.evaluate(data, return_dict=True, verbose=0)

    tf.config.experimental.enable_op_determinism()
    assert train() == train()


def test_the_xla_compiled_step_trains_the_same_model_and_evaluation_still_runs():
    """jit_compile compiles the training step only (evaluation's catalog top-K streams through
    tf.data, which XLA cannot compile): same losses to float32 rounding, same metrics."""
    def train(jit_compile: bool):
        model = _model(learning_rate=0.1, jit_compile=jit_compile)
        model.compile(optimizer=make_optimizer(model.config))
        data = tf.data.Dataset.from_tensor_slices(_batch(512)).shuffle(512, seed=1).batch(64)
        history = model.fit(data, epochs=2, verbose=0).history
        return history["loss"], model.evaluate(data, return_dict=True, verbose=0)

    tf.config.experimental.enable_op_determinism()
    plain_losses, plain = train(False)
    xla_losses, xla = train(True)
    np.testing.assert_allclose(xla_losses, plain_losses, rtol=1e-4)
    assert set(xla) == set(plain)
    for name in plain:
        # Top-K over 30 near-tied titles after two epochs flips on float32 rounding: a few of
        # the 512 examples (on ML-100K the pipeline's top-100 agrees to 4 decimals).
        atol = 0.05 if names.TOP_K_PREFIX in name else 1e-3
        np.testing.assert_allclose(xla[name], plain[name], rtol=1e-3, atol=atol, err_msg=name)
    assert train(True) == (xla_losses, xla)  # and it is deterministic


def test_example_order_does_not_change_the_training_order():
    from models.data import canonical_order

    batch = _batch(200, seed=3)
    permutation = np.random.default_rng(7).permutation(200)
    shuffled = {name: tf.gather(values, permutation) for name, values in batch.items()}
    a, b = canonical_order(batch), canonical_order(shuffled)
    for name in batch:
        np.testing.assert_array_equal(a[name].numpy(), b[name].numpy())
    keys = list(zip(*(a[name].numpy().tolist() for name in sorted(a))))
    assert keys == sorted(keys)


# -- missing ratings: masked out of the rating loss, still used by retrieval -------------------

def _masked_batch(size: int = 64, seed: int = 0):
    batch = _batch(size, seed)
    mask = np.random.default_rng(seed + 1).integers(0, 2, size).astype(np.float32)
    mask[:2] = [1.0, 0.0]
    return {**batch, names.RATING_MASK: tf.constant(mask)}


def test_masked_examples_ratings_do_not_change_the_loss_or_its_gradient():
    batch = _masked_batch()
    unrated = batch[names.RATING_MASK].numpy() == 0
    changed = batch[names.RATING_LABEL].numpy().copy()
    changed[unrated] = 1000.0  # any rating: it must not matter
    other = {**batch, names.RATING_LABEL: tf.constant(changed)}
    model = _model(rating_weight=1.0, retrieval_weight=1.0)
    loss, grads = _gradients(model, batch)
    other_loss, other_grads = _gradients(model, other)
    np.testing.assert_allclose(other_loss.numpy(), loss.numpy(), rtol=1e-6)
    for ref, grad in grads.items():
        if grad is not None:
            np.testing.assert_allclose(tf.convert_to_tensor(other_grads[ref]).numpy(),
                                       tf.convert_to_tensor(grad).numpy(), atol=1e-6)


def test_rating_loss_is_the_mean_over_rated_examples_only():
    batch = _masked_batch()
    model = _model()
    rated = batch[names.RATING_MASK].numpy() == 1
    predicted = model(batch)["rating"].numpy()[:, 0]
    expected = np.mean((predicted[rated] - batch[names.RATING_LABEL].numpy()[rated]) ** 2)
    loss = model.task_losses(batch, training=True)["rating"]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_an_all_ones_mask_is_the_same_as_no_mask():
    batch = _batch()
    model = _model()
    with_mask = {**batch, names.RATING_MASK: tf.ones([64])}
    np.testing.assert_array_equal(model.compute_loss(batch, training=True).numpy(),
                                  model.compute_loss(with_mask, training=True).numpy())


def test_unrated_examples_still_train_retrieval():
    batch = _masked_batch()
    everything_rated = {**batch, names.RATING_MASK: tf.ones([64])}
    model = _model(rating_weight=1.0, retrieval_weight=1.0)
    masked = model.task_losses(batch, training=True)["retrieval"]
    unmasked = model.task_losses(everything_rated, training=True)["retrieval"]
    np.testing.assert_allclose(masked.numpy(), unmasked.numpy(), rtol=1e-6)
    # A user seen only in unrated examples still gets a gradient (from retrieval alone).
    only_unrated = {names.USER_INDEX: tf.constant([3, 4], tf.int64),
                    names.MOVIE_INDEX: tf.constant([5, 6], tf.int64),
                    names.RATING_LABEL: tf.constant([0.0, 0.0]),
                    names.RATING_MASK: tf.constant([0.0, 0.0])}
    _, grads = _gradients(model, only_unrated)
    user_grad = tf.convert_to_tensor(grads[model.user_tower.embeddings.ref()]).numpy()
    assert np.abs(user_grad[3]).sum() > 0
    # ... and with retrieval off, no gradient reaches anything from unrated examples.
    rating_only = _model(rating_weight=1.0, retrieval_weight=0.0)
    _, grads = _gradients(rating_only, only_unrated)
    assert all(g is None or not np.any(tf.convert_to_tensor(g).numpy()) for g in grads.values())


def test_masked_rmse_ignores_unrated_examples():
    batch = _masked_batch()
    model = _model()
    model.compile(optimizer=make_optimizer(model.config))
    metrics = model.evaluate(tf.data.Dataset.from_tensor_slices(batch).batch(16),
                             return_dict=True, verbose=0)
    rated = batch[names.RATING_MASK].numpy() == 1
    predicted = model(batch)["rating"].numpy()[:, 0]
    expected = np.sqrt(np.mean(
        (predicted[rated] - batch[names.RATING_LABEL].numpy()[rated]) ** 2))
    np.testing.assert_allclose(metrics["root_mean_squared_error"], expected, rtol=1e-5)


def test_rating_biases_start_from_the_training_mean():
    config = TrainingConfig(embedding_dim=8, rating_layers=(16,), rating_biases=True)
    model = MovieLensModel(config, NUM_USERS, NUM_MOVIES, rating_mean=3.5)
    batch = _batch()
    mlp = model.rating_head.mlp(tf.concat([model(batch)["user_embedding"],
                                           model(batch)["movie_embedding"]], axis=1))
    np.testing.assert_allclose(model(batch)["rating"].numpy(), mlp.numpy() + 3.5, rtol=1e-6)


def _in_batch_softmax(user, movie, titles, drop_accidental_hits: bool) -> float:
    """TFRS's retrieval loss from its definition: the summed cross-entropy of each example's
    own title against the batch's titles (the other rows of the same title left out when
    `drop_accidental_hits`)."""
    scores = (user @ movie.T).astype(np.float64)
    same_title = titles[:, None] == titles[None, :]
    if drop_accidental_hits:
        scores = np.where(same_title & ~np.eye(len(titles), dtype=bool), -np.inf, scores)
    log_softmax = scores - np.log(np.exp(scores - scores.max(axis=1, keepdims=True)).sum(
        axis=1, keepdims=True)) - scores.max(axis=1, keepdims=True)
    return float(-np.trace(log_softmax))


@pytest.mark.parametrize("lever", [False, True])
def test_accidental_hits_are_dropped_from_the_in_batch_softmax_only_when_asked(lever):
    batch = _batch(64)  # 64 draws of 30 titles: many titles occur in several rows
    titles = batch[names.MOVIE_INDEX].numpy()
    assert len(set(titles)) < len(titles)
    model = _model(remove_accidental_hits=lever)
    outputs = model(batch)
    user, movie = (outputs[names.USER_EMBEDDING].numpy(), outputs[names.MOVIE_EMBEDDING].numpy())
    loss = model.task_losses(batch, training=True)["retrieval"].numpy()
    assert loss == pytest.approx(_in_batch_softmax(user, movie, titles, lever), rel=1e-4)
    assert loss != pytest.approx(_in_batch_softmax(user, movie, titles, not lever), rel=1e-4)
    # Evaluation still runs (TFRS then counts a catalog top-K hit by title index).
    model.compile(optimizer=make_optimizer(model.config))
    data = tf.data.Dataset.from_tensor_slices(_batch(256)).batch(64)
    metrics = model.evaluate(data, return_dict=True, verbose=0)
    assert 0.0 < metrics["factorized_top_k/top_5_categorical_accuracy"] <= 1.0


@pytest.mark.parametrize("temperature, corrected, accidental", [
    (None, False, False), (0.2, False, False), (None, True, False), (None, False, True),
    (0.5, True, True)])
def test_the_training_loss_and_its_gradient_are_tfrs_retrieval_loss(temperature, corrected,
                                                                    accidental):
    rng = np.random.default_rng(3)
    queries = tf.constant(rng.normal(size=(48, 8)), tf.float32)
    candidates = tf.constant(rng.normal(size=(48, 8)), tf.float32)
    ids = tf.constant(rng.integers(0, 12, 48), tf.int32)  # repeats: accidental hits
    probabilities = tf.constant(rng.uniform(1e-7, 0.3, 48), tf.float32) if corrected else None
    task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=accidental)

    def both():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([queries, candidates])
            ours = in_batch_softmax_loss(queries, candidates, temperature, probabilities,
                                         ids if accidental else None)
            theirs = task(queries, candidates, candidate_sampling_probability=probabilities,
                          candidate_ids=ids if accidental else None, compute_metrics=False)
        return (ours, theirs,
                tape.gradient(ours, [queries, candidates]),
                tape.gradient(theirs, [queries, candidates]))

    ours, theirs, our_grads, their_grads = both()
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)
    for mine, reference in zip(our_grads, their_grads):
        np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-4, atol=1e-6)
    # The levers change the loss (the comparison above is not between two constants).
    plain = in_batch_softmax_loss(queries, candidates)
    assert (temperature, corrected, accidental) == (None, False, False) or (
        abs(float(plain) - float(ours)) > 1e-3)


def test_the_model_trains_on_the_loss_it_evaluates():
    batch = _batch(64)
    model = _model(remove_accidental_hits=True, retrieval_temperature=0.5)
    trained = model.task_losses(batch, training=True)["retrieval"]
    evaluated = model.task_losses(batch, training=False)["retrieval"]  # TFRS's task
    np.testing.assert_allclose(trained.numpy(), evaluated.numpy(), rtol=1e-5)


def test_retrieve_then_rank_in_slices_orders_as_in_one_call():
    """The Trainer's measurement of recommend_ranked bounds the rating head's batch; slicing
    the users changes no title."""
    from models.training import reranked_top_titles

    model = _model()
    rng = np.random.default_rng(0)
    users = np.arange(9)
    scores = rng.normal(size=(9, model.num_movies)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf  # titles rated in train
    whole = reranked_top_titles(model, depth=6, k=4)(users, scores)
    sliced = reranked_top_titles(model, depth=6, k=4, max_rows=12)(users, scores)  # 2 users
    assert whole.shape == (9, 4)
    np.testing.assert_array_equal(whole, sliced)


def test_rating_factors_add_their_dot_product_and_only_the_rating_loss_trains_them():
    batch = _batch()
    model = _model(rating_biases=True, rating_factors=4, rating_factor_l2=0.5)
    head = model.rating_head
    users, movies = batch[names.USER_INDEX], batch[names.MOVIE_INDEX]
    # Give the (zero-initialized) biases and the factors values, so every term shows.
    head.user_bias.embeddings.assign(tf.random.normal(head.user_bias.embeddings.shape))
    head.movie_bias.embeddings.assign(tf.random.normal(head.movie_bias.embeddings.shape))
    outputs = model(batch)
    user_factors = tf.gather(head.user_factors.embeddings, users)
    movie_factors = tf.gather(head.movie_factors.embeddings, movies)
    expected = (head.mlp(tf.concat([outputs[names.USER_EMBEDDING],
                                    outputs[names.MOVIE_EMBEDDING]], axis=1))
                + tf.gather(head.user_bias.embeddings, users)
                + tf.gather(head.movie_bias.embeddings, movies)
                + tf.reduce_sum(user_factors * movie_factors, axis=1, keepdims=True))
    np.testing.assert_allclose(outputs[names.RATING_OUTPUT].numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-6)

    losses = model.task_losses(batch, training=True)
    norms = tf.reduce_sum(tf.square(user_factors)) + tf.reduce_sum(tf.square(movie_factors))
    np.testing.assert_allclose(losses["rating_factor_l2"].numpy(), norms.numpy() / 64, rtol=1e-5)
    np.testing.assert_allclose(
        model.compute_loss(batch, training=True).numpy(),
        (losses["rating"] + losses["retrieval"] + 0.5 * losses["rating_factor_l2"]).numpy(),
        rtol=1e-5)
    factor_tables = [head.user_factors.embeddings, head.movie_factors.embeddings]
    with tf.GradientTape() as tape:
        retrieval = model.task_losses(batch, training=True)["retrieval"]
    assert all(g is None for g in tape.gradient(retrieval, factor_tables))
    with tf.GradientTape() as tape:
        rating = model.task_losses(batch, training=True)["rating"]
    assert all(g is not None for g in tape.gradient(rating, factor_tables))
    # Rows keyed by id, so a warm start maps them by user and title.
    keyed = {vocabulary: {v.ref() for v in variables}
             for vocabulary, variables in model.id_keyed_variables().items()}
    assert head.user_factors.embeddings.ref() in keyed[names.USER_VOCABULARY]
    assert head.movie_factors.embeddings.ref() in keyed[names.MOVIE_VOCABULARY]


def test_the_tutorial_config_has_no_rating_factors():
    model = _model()
    assert not any("factors" in v.name for v in model.weights)
    assert float(model.task_losses(_batch(), training=True)["rating_factor_l2"]) == 0.0


def test_rating_factor_l2_needs_rating_factors():
    with pytest.raises(ValueError, match="rating_factor_l2 needs rating_factors"):
        TrainingConfig(rating_factor_l2=0.1)
    with pytest.raises(ValueError, match="rating_factors must be >= 0"):
        TrainingConfig(rating_factors=-1)


def test_catalog_softmax_is_the_cross_entropy_over_every_title():
    rng = np.random.default_rng(3)
    queries = rng.normal(size=(6, 4)).astype(np.float32)
    catalog = rng.normal(size=(9, 4)).astype(np.float32)
    positives = np.array([0, 3, 3, 8, 1, 5])
    loss = catalog_softmax_loss(tf.constant(queries), tf.constant(catalog),
                                tf.constant(positives, tf.int64), temperature=0.5)
    scores = queries @ catalog.T / 0.5
    expected = -sum(np.log(np.exp(row[p]) / np.exp(row).sum())
                    for row, p in zip(scores.astype(np.float64), positives))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_the_model_with_catalog_negatives_trains_on_the_catalog_softmax():
    batch = _batch()
    model = _model(retrieval_negatives="catalog")
    outputs = model(batch)
    expected = catalog_softmax_loss(outputs[names.USER_EMBEDDING], model.catalog_embeddings(),
                                    batch[names.MOVIE_INDEX])
    for training in (True, False):  # validation's loss is the same one (early stopping)
        np.testing.assert_allclose(
            float(model.task_losses(batch, training=training)["retrieval"]), float(expected),
            rtol=1e-5)
    # Every title's embedding gets a gradient, not only the batch's.
    with tf.GradientTape() as tape:
        loss = model.task_losses(batch, training=True)["retrieval"]
    gradient = tf.convert_to_tensor(tape.gradient(loss, model.movie_tower.embeddings))
    assert np.all(np.abs(gradient.numpy()[:NUM_MOVIES]).sum(axis=1) > 0)


def test_catalog_negatives_reject_the_in_batch_corrections():
    for lever in ("sampling_bias_correction", "remove_accidental_hits"):
        with pytest.raises(ValueError, match="samples no negatives"):
            TrainingConfig(retrieval_negatives="catalog", **{lever: True})
    with pytest.raises(ValueError, match="retrieval_negatives 'sampled' is not one of"):
        TrainingConfig(retrieval_negatives="sampled")


def test_rating_history_adds_the_users_titles_implicit_factors_svd_plus_plus():
    from models.training import user_histories

    batch = _batch()
    histories = user_histories(batch, NUM_USERS, NUM_MOVIES)
    # Row u: 1/sqrt(n_u) at each of user u's titles; the OOV row empty.
    users, movies = batch[names.USER_INDEX].numpy(), batch[names.MOVIE_INDEX].numpy()
    for user in range(NUM_USERS):
        titles = set(movies[users == user].tolist())
        expected = np.zeros(NUM_MOVIES + 1, np.float32)
        expected[list(titles)] = 1 / np.sqrt(max(len(titles), 1))
        np.testing.assert_allclose(histories[user], expected, rtol=1e-6)
    assert not histories[NUM_USERS].any()

    config = TrainingConfig(embedding_dim=8, rating_layers=(16,), top_ks=(1, 5),
                            rating_factors=4, rating_history=True)
    tf.keras.utils.set_random_seed(config.seed)
    model = MovieLensModel(config, NUM_USERS, NUM_MOVIES, user_histories=histories)
    head = model.rating_head
    outputs = model(batch)
    user_factors = (tf.gather(head.user_factors.embeddings, users)
                    + tf.gather(histories, users) @ head.implicit_factors.embeddings)
    expected = (head.mlp(tf.concat([outputs[names.USER_EMBEDDING],
                                    outputs[names.MOVIE_EMBEDDING]], axis=1))
                + tf.reduce_sum(user_factors * tf.gather(head.movie_factors.embeddings, movies),
                                axis=1, keepdims=True))
    np.testing.assert_allclose(outputs[names.RATING_OUTPUT].numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert [v.name for v in model.run_data_variables()] == [head.user_histories.name]
    assert not head.user_histories.trainable
    with pytest.raises(ValueError, match="needs the users' histories"):
        MovieLensModel(config, NUM_USERS, NUM_MOVIES)
    with pytest.raises(ValueError, match="rating_history needs rating_factors"):
        TrainingConfig(rating_history=True)


def test_rating_history_refuses_a_table_over_its_limit(monkeypatch):
    from models import training

    monkeypatch.setattr(training, "MAX_HISTORY_CELLS", 100)
    with pytest.raises(ValueError, match=r"21 x 31 table of users' titles"):
        training.user_histories(_batch(), NUM_USERS, NUM_MOVIES)


def test_rating_bias_l2_penalizes_the_batchs_biases_per_example():
    batch = _batch()
    model = _model(rating_biases=True, rating_bias_l2=0.3)
    head = model.rating_head
    head.user_bias.embeddings.assign(tf.random.normal(head.user_bias.embeddings.shape))
    head.movie_bias.embeddings.assign(tf.random.normal(head.movie_bias.embeddings.shape))
    losses = model.task_losses(batch, training=True)
    norms = (tf.reduce_sum(tf.square(tf.gather(head.user_bias.embeddings,
                                               batch[names.USER_INDEX])))
             + tf.reduce_sum(tf.square(tf.gather(head.movie_bias.embeddings,
                                                 batch[names.MOVIE_INDEX]))))
    np.testing.assert_allclose(losses["rating_bias_l2"].numpy(), norms.numpy() / 64, rtol=1e-5)
    np.testing.assert_allclose(
        model.compute_loss(batch, training=True).numpy(),
        (losses["rating"] + losses["retrieval"] + 0.3 * losses["rating_bias_l2"]).numpy(),
        rtol=1e-5)
    with pytest.raises(ValueError, match="rating_bias_l2 needs rating_biases"):
        TrainingConfig(rating_bias_l2=0.1)


def test_rating_clip_clips_predictions_to_the_range_outside_training_only():
    batch = _batch()
    config = TrainingConfig(embedding_dim=8, rating_layers=(16,), top_ks=(1, 5),
                            rating_biases=True, rating_clip=True)
    tf.keras.utils.set_random_seed(config.seed)
    model = MovieLensModel(config, NUM_USERS, NUM_MOVIES, rating_mean=3.0,
                           rating_range=(1.0, 5.0))
    # Biases of ±4 push many predictions past the scale at both ends.
    model.rating_head.user_bias.embeddings.assign(
        4.0 * tf.sign(tf.random.normal(model.rating_head.user_bias.embeddings.shape)))
    raw = model(batch, training=True)[names.RATING_OUTPUT].numpy()
    served = model(batch)[names.RATING_OUTPUT].numpy()
    assert raw.max() > 5.0 and raw.min() < 1.0
    np.testing.assert_allclose(served, np.clip(raw, 1.0, 5.0), rtol=1e-6)
    # So the evaluated RMSE is the clipped predictions' error, and training's loss the raw one's.
    labels = batch[names.RATING_LABEL].numpy()[:, None]
    model.compile(optimizer=make_optimizer(config))
    rmse = model.evaluate(tf.data.Dataset.from_tensors(batch), return_dict=True,
                          verbose=0)["root_mean_squared_error"]
    np.testing.assert_allclose(rmse, np.sqrt(np.mean((np.clip(raw, 1, 5) - labels) ** 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(model.task_losses(batch, training=True)["rating"].numpy(),
                               np.mean((raw - labels) ** 2), rtol=1e-5)
    with pytest.raises(ValueError, match="rating_clip needs the fit examples' rating range"):
        MovieLensModel(config, NUM_USERS, NUM_MOVIES)


def test_rating_head_dropout_drops_units_only_while_the_head_trains_alone():
    batch = _batch()
    model = _model(rating_head_epochs=1, rating_head_dropout=0.5)
    model.compile(optimizer=make_optimizer(model.config))

    def ratings(training):
        return model(batch, training=training)[names.RATING_OUTPUT].numpy()

    np.testing.assert_array_equal(ratings(True), ratings(False))  # joint epochs: none
    model.train_rating_head_only()
    assert not np.array_equal(ratings(True), ratings(False))
    assert not np.array_equal(ratings(True), ratings(True))  # a new mask each step
    model.train_rating_head_only(False)
    np.testing.assert_array_equal(ratings(True), ratings(False))
    with pytest.raises(ValueError, match="rating_head_dropout needs rating_head_epochs"):
        TrainingConfig(rating_head_dropout=0.2)


def test_rating_mlp_product_feeds_the_embeddings_product_to_the_mlp():
    batch = _batch()
    model = _model(rating_mlp_product=True)
    kernel = model.rating_head.mlp.layers[0].kernel
    assert kernel.shape[0] == 3 * 8  # user, movie, user * movie
    outputs = model(batch)
    product = (outputs[names.USER_EMBEDDING] * outputs[names.MOVIE_EMBEDDING]).numpy()
    # Weights of 1 on the product's inputs, 0 on the embeddings': each hidden unit sees the
    # dot product.
    kernel.assign(tf.concat([tf.zeros([16, 16]), tf.ones([8, 16])], axis=0))
    hidden = np.maximum(product.sum(axis=1, keepdims=True)
                        + model.rating_head.mlp.layers[0].bias.numpy(), 0.0)
    expected = hidden @ model.rating_head.mlp.layers[1].kernel.numpy() \
        + model.rating_head.mlp.layers[1].bias.numpy()
    np.testing.assert_allclose(model(batch)[names.RATING_OUTPUT].numpy(), expected, rtol=1e-4,
                               atol=1e-5)
