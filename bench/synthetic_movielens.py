#!/usr/bin/env python3
"""Writes a synthetic MovieLens dataset in GroupLens 100k format, at any size.

    python bench/synthetic_movielens.py --interactions 1000000 --out /tmp/ml-synth-1m
    python bench/synthetic_movielens.py --interactions 10000000 --out /tmp/ml-synth-10m

Files: `u.data` (user, item, rating 1-5, timestamp; tab-separated), `u.item` (latin-1,
`id|title|release|video release|url|19 genre flags`), `u.user` (`id|age|gender|occupation|zip`),
plus `u.genre`, `u.occupation` and `u.info` as in the GroupLens archive. The project's reader
(`components/grouplens.py`) takes the folder as it takes ml-100k.

MovieLens's shape:
- users: every user rates at least 20 movies (as in ML-100K/1M), the rest of the ratings are
  spread with a log-normal long tail (ML-100K: median 65, max 737), at most half the catalog;
- movies: Zipf-like popularity (weight ∝ 1 / (rank + 10)^1.1 over a random permutation of ids);
  a user's movies are drawn without replacement from that popularity (Gumbel top-k), so every
  (user, movie) pair appears at most once;
- ratings: a latent score user bias + movie quality + noise (unit variance) cut at the normal
  quantiles of ML-100K's marginals (1: 6.1 %, 2: 11.4 %, 3: 27.1 %, 4: 34.2 %, 5: 21.2 %), so
  the marginals match in expectation and there is signal to learn;
- timestamps: each user is active over a span starting in [1997-09-20, 1998-04-22] (ML-100K's
  range), scaled to the dataset's size is not attempted;
- titles: generated words + year, unique, a few with latin-1 letters.

Defaults for `--users` / `--movies` follow MovieLens at the same number of ratings (log-log
interpolation between ML-100K 943 / 1,682, ML-1M 6,040 / 3,706 and ML-10M 69,878 / 10,677).

Deterministic: the same arguments write the same bytes. Streamed: ratings are generated and
written one user at a time; memory holds per-user and per-movie arrays only (O(users + movies)),
never the interactions.
"""

import argparse
import math
import os
import sys
from typing import Optional, Tuple

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
# (ratings, users, movies) of real MovieLens releases: defaults for other sizes.
_MOVIELENS_SHAPES = ((100_000, 943, 1_682), (1_000_209, 6_040, 3_706), (10_000_054, 69_878, 10_677))
MIN_RATINGS_PER_USER = 20
FIRST_TIMESTAMP = 874_724_710   # 1997-09-20, ML-100K's first
LAST_START = 893_286_638        # 1998-04-22, ML-100K's last
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


def generate(out: str, interactions: int, users: Optional[int] = None,
             movies: Optional[int] = None, seed: int = 0) -> dict:
    """Writes the dataset into folder `out`; returns its shape."""
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
    cuts = _normal_quantiles(np.cumsum(RATING_SHARES)[:-1])

    with open(os.path.join(out, "u.item"), "wb") as f:
        for movie, (title, year) in enumerate(_titles(rng, movies), start=1):
            flags = ["0"] * len(GENRES)
            for genre in rng.choice(np.arange(1, len(GENRES)), size=1 + int(rng.integers(3)),
                                    replace=False):
                flags[int(genre)] = "1"
            line = (f"{movie}|{title}|01-Jan-{year}||http://example.invalid/movie/{movie}|"
                    + "|".join(flags))
            f.write(line.encode("latin-1") + b"\n")
    with open(os.path.join(out, "u.user"), "w", encoding="latin-1") as f:
        ages = np.clip(rng.normal(33, 12, size=users).round(), 7, 73).astype(int)
        genders = rng.random(users) < 0.71  # ML-100K: 71 % male
        occupations = rng.integers(len(OCCUPATIONS), size=users)
        zips = rng.integers(1000, 99999, size=users)
        for user in range(users):
            f.write(f"{user + 1}|{ages[user]}|{'M' if genders[user] else 'F'}|"
                    f"{OCCUPATIONS[occupations[user]]}|{zips[user]:05d}\n")
    with open(os.path.join(out, "u.data"), "w") as f:
        for user in range(users):
            n = int(counts[user])
            # Gumbel top-k: n distinct movies drawn with probability ∝ popularity.
            keys = log_popularity + rng.gumbel(size=movies)
            chosen = np.argpartition(-keys, n - 1)[:n] if n < movies else np.arange(movies)
            chosen = chosen[rng.permutation(n)]
            score = user_bias[user] + quality[chosen] + rng.normal(0.0, noise_sd, size=n)
            stars = 1 + np.searchsorted(cuts, score)
            start = int(rng.integers(FIRST_TIMESTAMP, LAST_START))
            span = int(rng.exponential(30 * 86400)) + 3600
            times = np.sort(start + rng.integers(0, span, size=n))
            f.write("".join(f"{user + 1}\t{m + 1}\t{s}\t{t}\n"
                            for m, s, t in zip(chosen.tolist(), stars.tolist(), times.tolist())))
    with open(os.path.join(out, "u.genre"), "w") as f:
        f.write("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)))
    with open(os.path.join(out, "u.occupation"), "w") as f:
        f.write("".join(f"{o}\n" for o in OCCUPATIONS))
    with open(os.path.join(out, "u.info"), "w") as f:
        f.write(f"{users} users\n{movies} items\n{interactions} ratings\n")
    return {"interactions": interactions, "users": users, "movies": movies, "seed": seed,
            "max_ratings_per_user": int(counts.max()), "min_ratings_per_user": int(counts.min())}


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
    parser.add_argument("--out", required=True, help="folder to write (created)")
    args = parser.parse_args(argv)
    shape = generate(args.out, args.interactions, args.users, args.movies, args.seed)
    print(" ".join(f"{k}={v}" for k, v in shape.items()), "->", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
