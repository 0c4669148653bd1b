"""The benchmark's synthetic MovieLens generator, 100k and 25m formats: the reader accepts
both, the output is deterministic, and the ratings are streamed."""

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


def _write_25m(folder, seed=3, interactions=5_000):
    return synthetic_movielens.generate(str(folder), interactions=interactions, users=60,
                                        movies=200, seed=seed, fmt="25m")


def test_25m_format_is_what_the_reader_takes_for_ml_25m(tmp_path):
    _write_25m(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["movies.csv", "ratings.csv"]
    with open(tmp_path / "ratings.csv") as f:
        assert f.readline() == "userId,movieId,rating,timestamp\n"
    with open(tmp_path / "movies.csv", encoding="utf-8") as f:
        assert f.readline() == "movieId,title,genres\n"
    layout = grouplens.locate(str(tmp_path))
    assert layout.format == "csv"
    movies, movie_errors = grouplens.read_movies(layout)
    assert movie_errors == [] and len(movies) == 200
    titles = [m.title for m in movies.values()]
    assert len(set(titles)) == 200  # unique titles
    assert any("," in t for t in titles) and any('"' in t for t in titles)
    assert any(not t.isascii() for t in titles)
    assert grouplens.read_users(layout) == ({}, [])
    no_genres = grouplens.GENRES.index("(no genres listed)")
    assert movies["97"].genres == (no_genres,)
    pairs, stars = set(), {}
    for _, rating in grouplens.read_ratings(layout):
        assert isinstance(rating, grouplens.Rating), str(rating)
        assert rating.movie_id in movies
        pairs.add((rating.user_id, rating.movie_id))
        stars[rating.rating] = stars.get(rating.rating, 0) + 1
        assert 789_652_009 <= rating.timestamp
    assert len(pairs) == 5_000
    assert sorted(stars) == [0.5 * i for i in range(1, 11)]  # every half star occurs
    assert max(stars, key=stars.get) == 4.0


def test_25m_same_seed_same_bytes_and_100k_stays_the_default(tmp_path):
    _write_25m(tmp_path / "a")
    _write_25m(tmp_path / "b")
    files = ["movies.csv", "ratings.csv"]
    assert filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)[0] == files
    synthetic_movielens.main(["--interactions", "2000", "--users", "40", "--movies", "100",
                              "--out", str(tmp_path / "default")])
    assert grouplens.locate(str(tmp_path / "default")).format == "100k"
    synthetic_movielens.main(["--interactions", "2000", "--users", "40", "--movies", "100",
                              "--format", "25m", "--out", str(tmp_path / "csv")])
    assert grouplens.locate(str(tmp_path / "csv")).format == "csv"


def test_25m_generation_streams_the_ratings(tmp_path):
    """Memory is O(users + movies), not O(ratings): four times the ratings (same ratings per
    user) leave the peak of Python's allocations where it was, a fraction of the file."""
    import tracemalloc

    def peak_and_size(interactions: int, users: int):
        folder = tmp_path / str(interactions)
        tracemalloc.start()
        try:
            synthetic_movielens.generate(str(folder), interactions=interactions, users=users,
                                         movies=1_000, seed=1, fmt="25m")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak, os.path.getsize(folder / "ratings.csv")

    peak_and_size(2_000, 20)  # first-call allocations (lazy imports) out of the way
    small_peak, _ = peak_and_size(30_000, 150)
    large_peak, large_size = peak_and_size(120_000, 600)
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    assert large_peak < large_size / 8, (large_peak, large_size)
