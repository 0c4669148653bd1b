"""The benchmark's synthetic MovieLens generator: the reader accepts it, and it is deterministic."""

import filecmp
import os

import pytest

from bench import synthetic_movielens
from movielens import grouplens

FILES = ("u.data", "u.item", "u.user", "u.genre", "u.occupation", "u.info")


def _write(folder, seed=3):
    return synthetic_movielens.generate(str(folder), interactions=5_000, users=60, movies=200,
                                        seed=seed)


def test_reader_accepts_the_generated_files(tmp_path):
    shape = _write(tmp_path)
    layout = grouplens.locate(str(tmp_path))
    assert layout.format == "100k"
    movies, movie_errors = grouplens.read_movies(layout)
    users, user_errors = grouplens.read_users(layout)
    assert (movie_errors, user_errors) == ([], [])
    assert (len(movies), len(users)) == (200, 60) == (shape["movies"], shape["users"])
    assert len({m.title for m in movies.values()}) == 200  # unique titles
    pairs, stars = set(), [0] * 6
    for _, text in grouplens.read_lines(layout, layout.ratings, "latin-1"):
        rating = grouplens.parse_rating(layout.format, text)  # raises on a malformed line
        assert rating.user_id in users and rating.movie_id in movies
        pairs.add((rating.user_id, rating.movie_id))
        stars[int(rating.rating)] += 1
    assert len(pairs) == 5_000  # every (user, movie) pair at most once
    assert all(stars[1:]), stars  # every star value occurs
    per_user = {}
    for user, _ in pairs:
        per_user[user] = per_user.get(user, 0) + 1
    assert min(per_user.values()) >= synthetic_movielens.MIN_RATINGS_PER_USER
    assert max(per_user.values()) <= 100  # at most half the catalog


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b")
    _write(tmp_path / "c", seed=4)
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", FILES, shallow=False)
    assert (sorted(match), mismatch, errors) == (sorted(FILES), [], [])
    assert not filecmp.cmp(tmp_path / "a" / "u.data", tmp_path / "c" / "u.data", shallow=False)


def test_default_shape_follows_movielens():
    assert synthetic_movielens.default_shape(100_000) == (943, 1_682)
    users, movies = synthetic_movielens.default_shape(1_000_000)
    assert abs(users - 6_040) < 60 and abs(movies - 3_706) < 40
    users, movies = synthetic_movielens.default_shape(10_000_000)
    assert abs(users - 69_878) < 700 and abs(movies - 10_677) < 110


def test_impossible_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="do not fit"):
        synthetic_movielens.generate(str(tmp_path), interactions=1_000, users=10, movies=20)
    with pytest.raises(ValueError, match="fewer than"):
        synthetic_movielens.generate(str(tmp_path), interactions=5, users=10, movies=20)
    assert not os.path.exists(tmp_path / "u.data")
