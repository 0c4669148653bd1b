"""Writes small, seeded MovieLens datasets in the GroupLens formats (never the real data)."""

import csv
import os
import random
import tempfile
import zipfile
from typing import Dict, List, Optional, Tuple

GENRE_COUNT = 19
OCCUPATIONS = ("engineer", "student", "artist", "writer", "other")
# Non-ASCII titles exercise the latin-1 item file.
SPECIAL_TITLES = ("Misérables, Les (1995)", "Città delle donne, La (1980)", "Señorita (1999)")
# The CSV family quotes these (RFC 4180): a comma inside, and quotes doubled.
QUOTED_TITLES = ("American President, The (1995)", 'Shawshank "Redemption" (1994)',
                 '"Great" Escape, The (1963)')
# Genre names as the 10M and CSV releases write them (with the two TFDS keeps as genres).
GENRE_NAMES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western")
NO_GENRES = "(no genres listed)"
CSV_RATINGS_HEADER = "userId,movieId,rating,timestamp"
CSV_MOVIES_HEADER = "movieId,title,genres"

Row = Tuple[int, int, float, int]  # user, movie, rating, timestamp


def _titles(num_movies: int, special: Tuple[str, ...]) -> List[str]:
    return [special[i] if i < len(special) else f"Movie {i + 1} ({1950 + i % 50})"
            for i in range(num_movies)]


def _genre_names(movie: int) -> str:
    """Two genres per movie, the last movie without any (as in ML-10M and later)."""
    first = GENRE_NAMES[movie % len(GENRE_NAMES)]
    second = GENRE_NAMES[(movie * 7) % len(GENRE_NAMES)]
    return first if first == second else f"{first}|{second}"


def _rating_rows(num_users: int, num_movies: int, num_ratings: int, seed: int,
                 half_stars: bool, first_timestamp: int = 880000000) -> List[Row]:
    """Distinct (user, movie) pairs with a popularity skew and user taste, so models can learn."""
    if num_ratings > num_users * num_movies // 2:
        raise ValueError("at most half of all user-movie pairs can be rated (distinct pairs)")
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(num_movies)]
    seen = set()
    rows: List[Row] = []
    while len(rows) < num_ratings:
        user = rng.randint(1, num_users)
        movie = rng.choices(range(1, num_movies + 1), weights)[0]
        if (user, movie) in seen:
            continue
        seen.add((user, movie))
        taste = 1 if (user + movie) % 3 else -1
        score = 3 + taste + rng.gauss(0, 0.7)
        rating = (max(0.5, min(5.0, round(score * 2) / 2)) if half_stars
                  else max(1, min(5, round(score))))
        rows.append((user, movie, rating, first_timestamp + len(rows) * 97))
    return rows


def write_ml100k(folder: str, num_users: int = 30, num_movies: int = 50,
                 num_ratings: int = 1200, seed: int = 0,
                 extra_rating_lines: Optional[List[str]] = None,
                 first_timestamp: int = 880000000,
                 titles: Optional[Dict[int, str]] = None) -> str:
    """u.data / u.item / u.user. `titles`: movie id → a title instead of the generated one."""
    rows = _rating_rows(num_users, num_movies, num_ratings, seed, half_stars=False,
                        first_timestamp=first_timestamp)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "u.item"), "wb") as f:
        for i, title in enumerate(_titles(num_movies, SPECIAL_TITLES), start=1):
            title = (titles or {}).get(i, title)
            flags = ["0"] * GENRE_COUNT
            flags[1 + i % (GENRE_COUNT - 1)] = "1"
            line = f"{i}|{title}|01-Jan-1995||http://example.invalid/{i}|" + "|".join(flags)
            f.write(line.encode("latin-1") + b"\n")
    with open(os.path.join(folder, "u.user"), "w", encoding="latin-1") as f:
        for u in range(1, num_users + 1):
            f.write(f"{u}|{15 + (u * 7) % 50}|{'MF'[u % 2]}|{OCCUPATIONS[u % len(OCCUPATIONS)]}"
                    f"|{10000 + u}\n")
    _write_lines(os.path.join(folder, "u.data"),
                 [f"{u}\t{m}\t{r}\t{t}" for u, m, r, t in rows] + (extra_rating_lines or []))
    return folder


def write_ml1m(folder: str, num_users: int = 30, num_movies: int = 50, num_ratings: int = 600,
               seed: int = 0, extra_rating_lines: Optional[List[str]] = None) -> str:
    """ratings.dat / movies.dat (latin-1) / users.dat, `::`-separated, whole stars."""
    rows = _rating_rows(num_users, num_movies, num_ratings, seed, half_stars=False)
    _write_dat_movies(folder, num_movies, "latin-1")
    _write_lines(os.path.join(folder, "users.dat"),
                 [f"{u}::{'MF'[u % 2]}::{(1, 18, 25, 35, 45, 50, 56)[u % 7]}::{u % 21}::{10000 + u}"
                  for u in range(1, num_users + 1)])
    _write_lines(os.path.join(folder, "ratings.dat"),
                 [f"{u}::{m}::{r}::{t}" for u, m, r, t in rows] + (extra_rating_lines or []))
    return folder


def write_ml10m(folder: str, num_users: int = 30, num_movies: int = 50, num_ratings: int = 600,
                seed: int = 0, movies_encoding: str = "utf-8",
                extra_rating_lines: Optional[List[str]] = None) -> str:
    """ratings.dat (half stars, `3` or `3.5`) / movies.dat, `::`-separated, no user file."""
    rows = _rating_rows(num_users, num_movies, num_ratings, seed, half_stars=True)
    _write_dat_movies(folder, num_movies, movies_encoding)
    _write_lines(os.path.join(folder, "ratings.dat"),
                 [f"{u}::{m}::{r:g}::{t}" for u, m, r, t in rows] + (extra_rating_lines or []))
    return folder


def write_csv(folder: str, num_users: int = 30, num_movies: int = 50, num_ratings: int = 600,
              seed: int = 0, extra_rating_lines: Optional[List[str]] = None,
              extra_movie_lines: Optional[List[str]] = None) -> str:
    """ML-20M/25M/latest: ratings.csv / movies.csv (UTF-8, header lines, RFC 4180 quoting) plus
    a tags.csv and links.csv the reader must ignore."""
    rows = _rating_rows(num_users, num_movies, num_ratings, seed, half_stars=True)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "movies.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(CSV_MOVIES_HEADER + "\n")
        writer = csv.writer(f, lineterminator="\n")
        for i, title in enumerate(_titles(num_movies, QUOTED_TITLES + SPECIAL_TITLES), start=1):
            writer.writerow([i, title, NO_GENRES if i == num_movies else _genre_names(i)])
        f.writelines(line + "\n" for line in extra_movie_lines or [])
    _write_lines(os.path.join(folder, "ratings.csv"),
                 [CSV_RATINGS_HEADER] + [f"{u},{m},{r:.1f},{t}" for u, m, r, t in rows]
                 + (extra_rating_lines or []))
    _write_lines(os.path.join(folder, "tags.csv"), ["userId,movieId,tag,timestamp",
                                                    '1,1,"funny, sad",880000000'])
    _write_lines(os.path.join(folder, "links.csv"), ["movieId,imdbId,tmdbId", "1,0114709,862"])
    return folder


def _write_dat_movies(folder: str, num_movies: int, encoding: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "movies.dat"), "wb") as f:
        for i, title in enumerate(_titles(num_movies, SPECIAL_TITLES), start=1):
            f.write(f"{i}::{title}::{_genre_names(i)}\n".encode(encoding))


def _write_lines(path: str, lines: List[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def zip_folder(folder: str, zip_path: str, prefix: str = "ml-100k/") -> str:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name in sorted(os.listdir(folder)):
            archive.write(os.path.join(folder, name), prefix + name)
    return zip_path


# The title movie 1 (the most rated) has in span 1 of `write_drops` only.
SPAN_1_ONLY_TITLE = "Only In Span One (1990)"


def write_drops(folder: str, num_spans: int = 3, num_ratings: int = 300,
                zipped: bool = False) -> Dict[int, str]:
    """A drops folder: span-1/, span-2/, ... (or span-1.zip, ...), each an ML-100K dataset
    rated after the previous one, with 10 more users and titles than the span before (partly
    new users and titles), movie 1 titled SPAN_1_ONLY_TITLE in span 1 only. Returns span →
    path."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for span in range(1, num_spans + 1):
        with tempfile.TemporaryDirectory() as scratch:
            data = write_ml100k(os.path.join(scratch if zipped else folder, f"span-{span}"),
                                num_users=20 + 10 * span, num_movies=30 + 10 * span,
                                num_ratings=num_ratings, seed=span,
                                first_timestamp=880000000 + span * 10_000_000,
                                titles={1: SPAN_1_ONLY_TITLE} if span == 1 else None)
            paths[span] = (zip_folder(data, os.path.join(folder, f"span-{span}.zip"))
                           if zipped else data)
    return paths
