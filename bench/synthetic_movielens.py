#!/usr/bin/env python3
"""Writes a synthetic MovieLens dataset in GroupLens 100k or 25m format, at any size.

    python bench/synthetic_movielens.py --interactions 1000000 --out /tmp/ml-synth-1m
    python bench/synthetic_movielens.py --interactions 10000000 --out /tmp/ml-synth-10m
    python bench/synthetic_movielens.py --interactions 10000000 --format 25m --out /tmp/ml-25m-10m

`--format 100k` (default): `u.data` (user, item, rating 1-5, timestamp; tab-separated), `u.item`
(latin-1, `id|title|release|video release|url|19 genre flags`), `u.user`
(`id|age|gender|occupation|zip`), plus `u.genre`, `u.occupation` and `u.info` as in the
GroupLens archive.
`--format 25m`: `ratings.csv` (`userId,movieId,rating,timestamp`, half stars 0.5-5.0) and
`movies.csv` (`movieId,title,genres`, UTF-8, genres by name), each with its header line, titles
with commas or quotes quoted as RFC 4180 says; no user file, as in ML-20M/25M.
The project's reader (`movielens/grouplens.py`) takes either folder as it takes the real one.

MovieLens's shape:
- users: every user rates at least 20 movies (as in ML-100K/1M), the rest of the ratings are
  spread with a log-normal long tail (ML-100K: median 65, max 737), at most half the catalog;
- movies: Zipf-like popularity (weight ∝ 1 / (rank + 10)^1.1 over a random permutation of ids);
  a user's movies are drawn without replacement from that popularity (Gumbel top-k), so every
  (user, movie) pair appears at most once;
- ratings: a latent score user bias + movie quality + noise (unit variance) cut at the normal
  quantiles of ML-100K's marginals (1: 6.1 %, 2: 11.4 %, 3: 27.1 %, 4: 34.2 %, 5: 21.2 %), so
  the marginals match in expectation and there is signal to learn (25m: ten half-star levels,
  `RATING_SHARES_25M`);
- timestamps: each user is active over a span starting in [1997-09-20, 1998-04-22] (ML-100K's
  range; 25m: ML-25M's, [1995-01-09, 2019-11-21]), scaled to the dataset's size is not attempted;
- titles: generated words + year, unique, a few with latin-1 letters (25m: some also with a
  comma, ", The", or a quoted word).

Defaults for `--users` / `--movies` follow MovieLens at the same number of ratings (log-log
interpolation between ML-100K 943 / 1,682, ML-1M 6,040 / 3,706 and ML-10M 69,878 / 10,677).

Deterministic: the same arguments write the same bytes (the 100k files are those this script
wrote before it had `--format`). Streamed: ratings are generated and written one user at a
time; memory holds per-user and per-movie arrays only (O(users + movies)), never the
interactions.
"""

import argparse
import csv
import dataclasses
import math
import os
import sys
from typing import List, Optional, Tuple

import numpy as np

GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")
OCCUPATIONS = ("administrator", "artist", "doctor", "educator", "engineer", "entertainment",
               "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none",
               "other", "programmer", "retired", "salesman", "scientist", "student",
               "technician", "writer")
# ML-100K's marginal share of each star rating.
RATING_SHARES = (0.06110, 0.11370, 0.27145, 0.34174, 0.21201)
# 0.5, 1.0, ... 5.0 stars: roughly ML-25M's marginals (whole stars commoner than half stars,
# 4.0 the mode); an approximation, not its measured shares.
RATING_SHARES_25M = (0.0157, 0.0311, 0.0160, 0.0655, 0.0504, 0.1960, 0.1264, 0.2695, 0.0849,
                     0.1445)
# ML-20M/25M genre names (no "unknown"; "Children" without 's; IMAX), and the movies without any.
GENRES_25M = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
              "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
              "Sci-Fi", "Thriller", "War", "Western")
NO_GENRES = "(no genres listed)"
NO_GENRES_EVERY = 97  # every 97th movie id has no genre
# (ratings, users, movies) of real MovieLens releases: defaults for other sizes.
_MOVIELENS_SHAPES = ((100_000, 943, 1_682), (1_000_209, 6_040, 3_706), (10_000_054, 69_878, 10_677))
MIN_RATINGS_PER_USER = 20
FIRST_TIMESTAMP = 874_724_710   # 1997-09-20, ML-100K's first
LAST_START = 893_286_638        # 1998-04-22, ML-100K's last
FIRST_TIMESTAMP_25M = 789_652_009   # 1995-01-09, ML-25M's first
LAST_START_25M = 1_574_327_703      # 2019-11-21, ML-25M's last
_WORDS_A = ("Silent", "Last", "Broken", "Golden", "Hidden", "Crimson", "Lost", "Wild", "Dark",
            "Little", "Eternal", "Frozen", "Burning", "Secret", "Lonely", "Bright", "Hollow",
            "Sweet", "Iron", "Misérable", "Señor", "Château", "Naïve", "Blue", "Red", "Final",
            "Strange", "Quiet", "Electric", "Midnight")
_WORDS_B = ("River", "Heart", "City", "Summer", "Road", "Kingdom", "Garden", "Stranger",
            "Mountain", "Dream", "Island", "Promise", "Shadow", "Train", "Letter", "Winter",
            "Game", "Night", "Empire", "Ocean", "Café", "Mirror", "Storm", "House", "Season",
            "Harbor", "Circus", "Orchard", "Horizon", "Bridge")


def default_shape(interactions: int) -> Tuple[int, int]:
    """(users, movies) MovieLens has at this many ratings (log-log interpolation/extrapolation)."""
    points = _MOVIELENS_SHAPES
    if interactions <= points[1][0]:
        (n0, u0, m0), (n1, u1, m1) = points[0], points[1]
    else:
        (n0, u0, m0), (n1, u1, m1) = points[1], points[2]
    t = (math.log(interactions) - math.log(n0)) / (math.log(n1) - math.log(n0))
    users = math.exp(math.log(u0) + t * (math.log(u1) - math.log(u0)))
    movies = math.exp(math.log(m0) + t * (math.log(m1) - math.log(m0)))
    return max(1, int(round(users))), max(2, int(round(movies)))


def user_counts(rng: np.random.Generator, interactions: int, users: int, movies: int) -> np.ndarray:
    """Ratings per user: >= the MovieLens minimum, a log-normal tail, sum exactly `interactions`."""
    cap = max(1, movies // 2)
    if interactions > users * cap:
        raise ValueError(f"{interactions} ratings do not fit {users} users rating at most "
                         f"{cap} of {movies} movies each")
    floor = min(MIN_RATINGS_PER_USER, interactions // users, cap)
    if floor < 1:
        raise ValueError(f"{interactions} ratings are fewer than {users} users")
    counts = np.full(users, floor, dtype=np.int64)
    weights = rng.lognormal(mean=0.0, sigma=1.1, size=users)
    remaining = interactions - int(counts.sum())
    while remaining > 0:  # water-filling: spread by weight, users at the cap drop out
        open_users = counts < cap
        share = weights * open_users
        share = share / share.sum() * remaining
        add = np.minimum(np.floor(share).astype(np.int64), cap - counts)
        if add.sum() == 0:  # the leftovers: one each to the heaviest open users
            order = np.argsort(-share, kind="stable")
            order = order[open_users[order]][:remaining]
            add = np.zeros(users, dtype=np.int64)
            add[order] = 1
        counts += add
        remaining -= int(add.sum())
    return counts


def _titles(rng: np.random.Generator, movies: int):
    years = rng.integers(1922, 1999, size=movies)
    used = set()
    for movie in range(movies):
        a = _WORDS_A[int(rng.integers(len(_WORDS_A)))]
        b = _WORDS_B[int(rng.integers(len(_WORDS_B)))]
        base = f"{a} {b}"
        title, n = f"{base} ({years[movie]})", 2
        while title in used:
            title, n = f"{base} {n} ({years[movie]})", n + 1
        used.add(title)
        yield title, int(years[movie])


@dataclasses.dataclass(frozen=True)
class OutputFormat:
    """How one GroupLens release writes its ratings: the generator's only per-format numbers."""

    ratings_file: str
    separator: str
    header: Optional[str]
    rating_labels: Tuple[str, ...]  # the star values, lowest first, as the file writes them
    rating_shares: Tuple[float, ...]  # the marginal share of each
    first_timestamp: int
    last_start: int


FORMATS = {
    "100k": OutputFormat("u.data", "\t", None, ("1", "2", "3", "4", "5"), RATING_SHARES,
                         FIRST_TIMESTAMP, LAST_START),
    "25m": OutputFormat("ratings.csv", ",", "userId,movieId,rating,timestamp",
                        tuple(f"{0.5 * (i + 1):.1f}" for i in range(10)), RATING_SHARES_25M,
                        FIRST_TIMESTAMP_25M, LAST_START_25M),
}


def generate(out: str, interactions: int, users: Optional[int] = None,
             movies: Optional[int] = None, seed: int = 0, fmt: str = "100k") -> dict:
    """Writes the dataset into folder `out` in format `fmt` (a key of FORMATS); returns its
    shape."""
    output = FORMATS[fmt]
    default_users, default_movies = default_shape(interactions)
    users = users or default_users
    movies = movies or default_movies
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)

    counts = user_counts(rng, interactions, users, movies)
    # Movie popularity: Zipf-like over ranks, ranks assigned to ids at random.
    rank_of_movie = rng.permutation(movies)
    log_popularity = -1.1 * np.log(rank_of_movie + 10.0)
    quality = rng.normal(0.0, 0.55, size=movies)
    user_bias = rng.normal(0.0, 0.45, size=users)
    noise_sd = math.sqrt(max(1e-6, 1.0 - 0.55 ** 2 - 0.45 ** 2))
    cuts = _normal_quantiles(np.cumsum(output.rating_shares)[:-1])

    if fmt == "100k":
        _write_u_item(out, rng, movies)
        _write_u_user(out, rng, users)
    else:
        _write_movies_csv(out, rng, movies)
    with open(os.path.join(out, output.ratings_file), "w") as f:
        if output.header:
            f.write(output.header + "\n")
        for user in range(users):
            n = int(counts[user])
            # Gumbel top-k: n distinct movies drawn with probability ∝ popularity.
            keys = log_popularity + rng.gumbel(size=movies)
            chosen = np.argpartition(-keys, n - 1)[:n] if n < movies else np.arange(movies)
            chosen = chosen[rng.permutation(n)]
            score = user_bias[user] + quality[chosen] + rng.normal(0.0, noise_sd, size=n)
            levels = np.searchsorted(cuts, score)
            start = int(rng.integers(output.first_timestamp, output.last_start))
            span = int(rng.exponential(30 * 86400)) + 3600
            times = np.sort(start + rng.integers(0, span, size=n))
            f.write("".join(
                f"{user + 1}{output.separator}{m + 1}{output.separator}"
                f"{output.rating_labels[s]}{output.separator}{t}\n"
                for m, s, t in zip(chosen.tolist(), levels.tolist(), times.tolist())))
    if fmt == "100k":
        _write_100k_extras(out, users, movies, interactions)
    return {"interactions": interactions, "users": users, "movies": movies, "seed": seed,
            "format": fmt, "max_ratings_per_user": int(counts.max()),
            "min_ratings_per_user": int(counts.min())}


def _write_u_item(out: str, rng: np.random.Generator, movies: int) -> None:
    """u.item (latin-1): `id|title|release|video release|url|19 genre flags`."""
    with open(os.path.join(out, "u.item"), "wb") as f:
        for movie, (title, year) in enumerate(_titles(rng, movies), start=1):
            flags = ["0"] * len(GENRES)
            for genre in _genre_choice(rng, len(GENRES)):
                flags[genre] = "1"
            line = (f"{movie}|{title}|01-Jan-{year}||http://example.invalid/movie/{movie}|"
                    + "|".join(flags))
            f.write(line.encode("latin-1") + b"\n")


def _write_u_user(out: str, rng: np.random.Generator, users: int) -> None:
    """u.user: `id|age|gender|occupation|zip`."""
    with open(os.path.join(out, "u.user"), "w", encoding="latin-1") as f:
        ages = np.clip(rng.normal(33, 12, size=users).round(), 7, 73).astype(int)
        genders = rng.random(users) < 0.71  # ML-100K: 71 % male
        occupations = rng.integers(len(OCCUPATIONS), size=users)
        zips = rng.integers(1000, 99999, size=users)
        for user in range(users):
            f.write(f"{user + 1}|{ages[user]}|{'M' if genders[user] else 'F'}|"
                    f"{OCCUPATIONS[occupations[user]]}|{zips[user]:05d}\n")


def _write_movies_csv(out: str, rng: np.random.Generator, movies: int) -> None:
    """movies.csv (UTF-8, header, RFC 4180 quoting): `movieId,title,genres`, genres by name."""
    with open(os.path.join(out, "movies.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("movieId,title,genres\n")
        writer = csv.writer(f, lineterminator="\n")
        for movie, (title, _) in enumerate(_titles(rng, movies), start=1):
            # GENRES_25M has no "unknown": index 0 of the draw is never taken, as in u.item.
            genres = "|".join(GENRES_25M[g - 1] for g in _genre_choice(rng, len(GENRES_25M) + 1))
            if movie % NO_GENRES_EVERY == 0:
                genres = NO_GENRES
            writer.writerow([movie, _csv_title(title, movie), genres])


def _genre_choice(rng: np.random.Generator, count: int) -> List[int]:
    """1 to 3 distinct genres among indices 1..count-1 (0 is "unknown")."""
    return [int(g) for g in rng.choice(np.arange(1, count), size=1 + int(rng.integers(3)),
                                       replace=False)]


def _csv_title(title: str, movie: int) -> str:
    """Some titles as MovieLens writes them with a comma ("President, The (1995)") or quotes,
    which the CSV must quote. Still unique: each rewrite is one-to-one and adds a character
    (`,` or `"`) that no plain title has."""
    base, year = title[:-7], title[-7:]  # "Silent River 2", " (1990)"
    if movie % 7 == 3:
        base = f"{base}, The"
    if movie % 11 == 5:
        first, _, rest = base.partition(" ")
        base = f'"{first}" {rest}'
    return base + year


def _write_100k_extras(out: str, users: int, movies: int, interactions: int) -> None:
    """u.genre, u.occupation and u.info, as in the GroupLens archive."""
    with open(os.path.join(out, "u.genre"), "w") as f:
        f.write("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)))
    with open(os.path.join(out, "u.occupation"), "w") as f:
        f.write("".join(f"{o}\n" for o in OCCUPATIONS))
    with open(os.path.join(out, "u.info"), "w") as f:
        f.write(f"{users} users\n{movies} items\n{interactions} ratings\n")


def _normal_quantiles(probabilities: np.ndarray) -> np.ndarray:
    """Standard normal quantiles (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
         3.754408661907416e+00)
    out = []
    for p in probabilities:
        if p < 0.02425:
            q = math.sqrt(-2 * math.log(p))
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
                ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        elif p > 1 - 0.02425:
            q = math.sqrt(-2 * math.log(1 - p))
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
                ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        else:
            q = p - 0.5
            r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
                (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        out.append(x)
    return np.array(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, required=True, help="number of ratings")
    parser.add_argument("--users", type=int, help="default: MovieLens's at this size")
    parser.add_argument("--movies", type=int, help="default: MovieLens's at this size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=sorted(FORMATS), default="100k",
                        help="100k: u.data/u.item/u.user; 25m: ratings.csv/movies.csv")
    parser.add_argument("--out", required=True, help="folder to write (created)")
    args = parser.parse_args(argv)
    shape = generate(args.out, args.interactions, args.users, args.movies, args.seed,
                     args.format)
    print(" ".join(f"{k}={v}" for k, v in shape.items()), "->", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
