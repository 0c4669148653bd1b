"""MovieLens ratings as tf.Examples with TFDS's `movielens/*-ratings` feature names.

Ids are strings (serving requests carry "42", not 42). The user side features exist only where
the source has them (GroupLens 100k and 1m, TFDS): the 10m, 20m, 25m and latest archives have
no user file, and their examples simply lack those features, with no stand-in values.
"""

from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple

import tensorflow as tf

import names

# Features of every example, and the user side features of sources that have them.
RATING_FEATURE_SPEC: Dict[str, Any] = {
    names.USER_ID: tf.io.FixedLenFeature([], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([], tf.float32),
    names.TIMESTAMP: tf.io.FixedLenFeature([], tf.int64),
    names.MOVIE_ID: tf.io.FixedLenFeature([], tf.string),
    names.MOVIE_GENRES: tf.io.VarLenFeature(tf.int64),
}
USER_FEATURE_SPEC: Dict[str, Any] = {
    names.USER_GENDER: tf.io.FixedLenFeature([], tf.int64),
    names.BUCKETIZED_USER_AGE: tf.io.FixedLenFeature([], tf.float32),
    names.USER_OCCUPATION_TEXT: tf.io.FixedLenFeature([], tf.string),
    names.USER_ZIP_CODE: tf.io.FixedLenFeature([], tf.string),
}
RAW_FEATURE_SPEC: Dict[str, Any] = {**RATING_FEATURE_SPEC, **USER_FEATURE_SPEC}


def _strings(value: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def _ints(values: Iterable[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _floats(value: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def make_example(user_id: str, movie_title: str, rating: float, timestamp: int, movie_id: str,
                 genres: Sequence[int], gender: Optional[int] = None,
                 bucketized_age: Optional[float] = None, occupation: Optional[str] = None,
                 zip_code: Optional[str] = None) -> tf.train.Example:
    """One rating; the user side features are written only when given (all or none)."""
    feature = {
        names.USER_ID: _strings(user_id),
        names.MOVIE_TITLE: _strings(movie_title),
        names.USER_RATING: _floats(rating),
        names.TIMESTAMP: _ints([timestamp]),
        names.MOVIE_ID: _strings(movie_id),
        names.MOVIE_GENRES: _ints(genres),
    }
    user = (gender, bucketized_age, occupation, zip_code)
    if any(value is not None for value in user):
        if any(value is None for value in user):
            raise ValueError("user side features are all given or none")
        feature.update({
            names.USER_GENDER: _ints([gender]),
            names.BUCKETIZED_USER_AGE: _floats(bucketized_age),
            names.USER_OCCUPATION_TEXT: _strings(occupation),
            names.USER_ZIP_CODE: _strings(zip_code),
        })
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _entry(name: str, feature: tf.train.Feature) -> bytes:
    """One serialized entry of `Features.feature` (a one-entry `Features` is exactly that)."""
    return tf.train.Features(feature={name: feature}).SerializeToString()


class ExampleSerializer:
    """Serialized rating examples, byte for byte `make_example(...).SerializeToString(
    deterministic=True)`, at a fraction of the cost.

    Why: building a tf.train.Example per rating (five Feature messages, a map, then the
    serialization) was the largest share of ExampleGen's time per rating. A serialized
    `Features` is the concatenation of its map's entries, in key order when deterministic, so
    the entries that depend only on the movie, the user or the star value are serialized once
    and reused; per rating only the timestamp's entry is new. TFX's ExampleGen splits by a hash
    of exactly these bytes (its deterministic serialization), so splits do not change either.
    """

    def __init__(self) -> None:
        self._movies: Dict[str, Dict[str, bytes]] = {}
        self._users: Dict[Tuple[str, Any], Dict[str, bytes]] = {}
        self._ratings: Dict[float, bytes] = {}
        self._timestamp_heads: Dict[int, bytes] = {}  # by the timestamp's varint length
        self._orders: Dict[bool, Tuple[str, ...]] = {}  # by whether there are user features

    def _timestamp_entry(self, timestamp: int) -> bytes:
        """The timestamp's entry ends with its (packed) varint; what precedes it depends only
        on that varint's length, so it is built once per length by protobuf itself."""
        value = _varint(timestamp)
        head = self._timestamp_heads.get(len(value))
        if head is None:
            entry = _entry(names.TIMESTAMP, _ints([timestamp]))
            head = self._timestamp_heads[len(value)] = entry[:-len(value)]
        return head + value

    def _movie_entries(self, movie_id: str, title: str, genres: Sequence[int]
                       ) -> Dict[str, bytes]:
        entries = self._movies.get(movie_id)
        if entries is None:
            entries = self._movies[movie_id] = {
                names.MOVIE_TITLE: _entry(names.MOVIE_TITLE, _strings(title)),
                names.MOVIE_ID: _entry(names.MOVIE_ID, _strings(movie_id)),
                names.MOVIE_GENRES: _entry(names.MOVIE_GENRES, _ints(genres)),
            }
        return entries

    def _user_entries(self, user_id: str, side: Optional[Tuple[int, float, str, str]]
                      ) -> Dict[str, bytes]:
        entries = self._users.get((user_id, side))
        if entries is None:
            entries = {names.USER_ID: _entry(names.USER_ID, _strings(user_id))}
            if side is not None:
                gender, bucketized_age, occupation, zip_code = side
                entries.update({
                    names.USER_GENDER: _entry(names.USER_GENDER, _ints([gender])),
                    names.BUCKETIZED_USER_AGE: _entry(names.BUCKETIZED_USER_AGE,
                                                      _floats(bucketized_age)),
                    names.USER_OCCUPATION_TEXT: _entry(names.USER_OCCUPATION_TEXT,
                                                       _strings(occupation)),
                    names.USER_ZIP_CODE: _entry(names.USER_ZIP_CODE, _strings(zip_code)),
                })
            self._users[(user_id, side)] = entries
        return entries

    def serialize(self, user_id: str, movie_title: str, rating: float, timestamp: int,
                  movie_id: str, genres: Sequence[int],
                  user_side: Optional[Tuple[int, float, str, str]] = None) -> bytes:
        """One rating's serialized tf.Example; `user_side` is (gender, bucketized age,
        occupation, zip code) or None (the arguments of `make_example`, in its order)."""
        rating_entry = self._ratings.get(rating)
        if rating_entry is None:
            rating_entry = self._ratings[rating] = _entry(names.USER_RATING, _floats(rating))
        entries = {**self._movie_entries(movie_id, movie_title, genres),
                   **self._user_entries(user_id, user_side),
                   names.USER_RATING: rating_entry,
                   names.TIMESTAMP: self._timestamp_entry(timestamp)}
        order = self._orders.get(user_side is None)
        if order is None:
            order = self._orders[user_side is None] = tuple(sorted(entries))
        features = b"".join([entries[name] for name in order])
        return b"\n" + _varint(len(features)) + features  # Example.features: field 1, bytes


def tfds_ratings(name: str, data_dir: Optional[str] = None) -> Iterator[tf.train.Example]:
    """Streams a TFDS `movielens/*-ratings` dataset (downloads it when online)."""
    import tensorflow_datasets as tfds  # only this source needs it

    dataset = tfds.load(name, split="train", data_dir=data_dir)
    for record in tfds.as_numpy(dataset):
        user = {}
        if names.USER_GENDER in record:  # 100k and 1m; the 20m and 25m variants have none
            user = dict(gender=int(bool(record[names.USER_GENDER])),
                        bucketized_age=float(record[names.BUCKETIZED_USER_AGE]),
                        occupation=record[names.USER_OCCUPATION_TEXT].decode("utf-8"),
                        zip_code=record[names.USER_ZIP_CODE].decode("utf-8"))
        yield make_example(
            user_id=record[names.USER_ID].decode("utf-8"),
            movie_title=record[names.MOVIE_TITLE].decode("utf-8"),
            rating=float(record[names.USER_RATING]),
            timestamp=int(record[names.TIMESTAMP]),
            movie_id=record[names.MOVIE_ID].decode("utf-8"),
            genres=[int(g) for g in record[names.MOVIE_GENRES]], **user)
