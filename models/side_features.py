"""Side features per id: the tables the towers look them up in, built from the examples.

A user's age bucket, gender, occupation and zip code, and a title's genres, belong to the id,
not to the rating, so the towers hold one row per id (users and titles in vocabulary order,
then the OOV row) and every path that knows only an id (serving's `recommend`, the catalog's
embeddings, the per-user ranking metrics) gets the same features training saw. The rows come
from the train and eval examples (features, never labels): a title rated only in eval still
gets its genres.
"""

import collections
import dataclasses
import re
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow_transform as tft

import names
from models.data import Columns
from models.hparams import ConfigError, TrainingConfig


@dataclasses.dataclass(frozen=True)
class SideFeatures:
    """The side-feature tables of one set of vocabularies (None: the source has none)."""

    # [num_users + 1, len(names.USER_FEATURE_INDICES)] int64: each user's feature indices;
    # users without examples and the OOV row hold each feature's unknown index.
    user_features: Optional[np.ndarray] = None
    # Rows of each user feature's embedding (its vocabulary, then the unknown index).
    user_feature_sizes: Tuple[int, ...] = ()
    # [num_movies + 1] int64: each title's genre bits (0 = no genre known, the OOV row too).
    movie_genres: Optional[np.ndarray] = None
    # [num_movies + 1, longest title's tokens] int64: each title's token indices, 0 padding
    # (the OOV row: all 0); indices 1..title_token_count - 1 (see title_token_table).
    title_tokens: Optional[np.ndarray] = None
    title_token_count: int = 0


def user_feature_sizes(tf_transform_output: tft.TFTransformOutput) -> Tuple[int, ...]:
    """Embedding rows of each user feature: gender's two values and the vocabularies' sizes,
    each plus the unknown index."""
    sizes = []
    for feature in names.USER_FEATURE_INDICES:
        vocabulary = names.USER_FEATURE_VOCABULARIES.get(feature)
        known = (names.NUM_GENDERS if vocabulary is None
                 else tf_transform_output.vocabulary_size_by_name(vocabulary))
        sizes.append(known + names.NUM_OOV_BUCKETS)
    return tuple(sizes)


def _has_user_features(splits: Sequence[Columns]) -> bool:
    """Whether the loaded columns hold the user side features (not so without a user file,
    or when the training config does not ask for them)."""
    return bool(splits) and all(name in splits[0] for name in names.USER_FEATURE_INDICES)


def side_features(splits: Sequence[Columns], num_users: int, num_movies: int,
                  feature_sizes: Tuple[int, ...]) -> SideFeatures:
    """The tables from the examples of `splits` (columns as models.data loads them); a table
    is None when the columns lack its features (a source without a user file)."""
    user_table = movie_table = None
    if _has_user_features(splits):
        unknown = np.array(feature_sizes, dtype=np.int64) - names.NUM_OOV_BUCKETS
        user_table = np.tile(unknown, (num_users + names.NUM_OOV_BUCKETS, 1))
        for columns in splits:
            users = np.asarray(columns[names.USER_INDEX])
            user_table[users] = np.stack(
                [np.asarray(columns[name]) for name in names.USER_FEATURE_INDICES], axis=1)
        user_table[num_users:] = unknown  # the OOV row: nothing is known
    if splits and names.MOVIE_GENRE_MASK in splits[0]:
        movie_table = np.zeros(num_movies + names.NUM_OOV_BUCKETS, dtype=np.int64)
        for columns in splits:
            movie_table[np.asarray(columns[names.MOVIE_INDEX])] = np.asarray(
                columns[names.MOVIE_GENRE_MASK])
        movie_table[num_movies:] = 0
    return SideFeatures(user_features=user_table,
                        user_feature_sizes=feature_sizes if user_table is not None else (),
                        movie_genres=movie_table)


# A token must occur in this many titles to get an embedding: one in a single title would
# only duplicate that title's id embedding.
MIN_TITLES_PER_TOKEN = 2


def title_token_table(titles: Sequence[bytes]) -> Tuple[np.ndarray, int]:
    """(table, count) for `titles` in vocabulary order: row t holds title t's tokens (its
    lower-cased words and numbers, the year included) as indices 1..count - 1, 0 padding;
    tokens in fewer than MIN_TITLES_PER_TOKEN titles are left out, and the OOV row is empty.
    Indices follow the tokens' sorted order, so the same titles give the same table."""
    words = [sorted(set(re.findall(r"[a-z0-9]+", title.decode("utf-8", "replace").lower())))
             for title in titles]
    titles_per_token = collections.Counter(token for tokens in words for token in tokens)
    kept = sorted(t for t, n in titles_per_token.items() if n >= MIN_TITLES_PER_TOKEN)
    index = {token: i + 1 for i, token in enumerate(kept)}
    rows = [[index[token] for token in tokens if token in index] for tokens in words]
    table = np.zeros((len(titles) + names.NUM_OOV_BUCKETS, max([len(r) for r in rows] + [1])),
                     np.int64)
    for row, tokens in enumerate(rows):
        table[row, :len(tokens)] = tokens
    return table, len(kept) + 1


def from_transform(tf_transform_output: tft.TFTransformOutput, splits: Sequence[Columns],
                   num_users: int, num_movies: int) -> SideFeatures:
    """`side_features` sized by the Transform output's vocabularies, with the title tokens of
    its movie vocabulary (the titles themselves)."""
    sizes = user_feature_sizes(tf_transform_output) if _has_user_features(splits) else ()
    side = side_features(splits, num_users, num_movies, sizes)
    tokens, count = title_token_table(
        tf_transform_output.vocabulary_by_name(names.MOVIE_VOCABULARY))
    return dataclasses.replace(side, title_tokens=tokens, title_token_count=count)


def check_available(config: TrainingConfig, side: Optional[SideFeatures]) -> None:
    """ConfigError when the config asks for side features the data does not have."""
    if config.user_features and (side is None or side.user_features is None):
        raise ConfigError(
            "user_features needs the user side features (age, gender, occupation, zip code), "
            "which only GroupLens 100k and 1m have (a users file); this data has none")
    if config.title_tokens and (side is None or side.title_tokens is None):
        raise ConfigError("title_tokens needs the titles' token table (side features built "
                          "with side_features.from_transform)")
    if config.movie_genres and (side is None or side.movie_genres is None):
        raise ConfigError("movie_genres needs the movie_genres feature, which this data "
                          "(its Transform output) does not have")


def check_time_bins(config: TrainingConfig, columns: Columns) -> None:
    """ConfigError when the config asks for the ratings' time bins and the examples (their
    Transform output) have none: without them every rating would train as "now"."""
    if config.uses_time() and names.RATING_TIME_BIN not in columns:
        raise ConfigError(
            f"rating_time_bias and query_time need the ratings' time bins "
            f"({names.RATING_TIME_BIN}), which this Transform output does not write: it "
            f"predates them or its examples have no {names.TIMESTAMP}; run Transform again "
            f"(--no-cache)")
