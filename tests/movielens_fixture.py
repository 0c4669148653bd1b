"""Writes small, seeded MovieLens datasets in GroupLens 100k format (never the real data)."""

import os
import random
import zipfile
from typing import List, Optional

GENRE_COUNT = 19
OCCUPATIONS = ("engineer", "student", "artist", "writer", "other")
# Non-ASCII titles exercise the latin-1 item file.
SPECIAL_TITLES = ("Misérables, Les (1995)", "Città delle donne, La (1980)", "Señorita (1999)")


def write_ml100k(folder: str, num_users: int = 30, num_movies: int = 50,
                 num_ratings: int = 1200, seed: int = 0,
                 extra_rating_lines: Optional[List[str]] = None) -> str:
    """u.data / u.item / u.user with a popularity skew and user taste, so models can learn."""
    if num_ratings > num_users * num_movies // 2:
        raise ValueError("at most half of all user-movie pairs can be rated (distinct pairs)")
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    titles = [SPECIAL_TITLES[i] if i < len(SPECIAL_TITLES) else f"Movie {i + 1} ({1950 + i % 50})"
              for i in range(num_movies)]
    with open(os.path.join(folder, "u.item"), "wb") as f:
        for i, title in enumerate(titles, start=1):
            flags = ["0"] * GENRE_COUNT
            flags[1 + i % (GENRE_COUNT - 1)] = "1"
            line = f"{i}|{title}|01-Jan-1995||http://example.invalid/{i}|" + "|".join(flags)
            f.write(line.encode("latin-1") + b"\n")
    with open(os.path.join(folder, "u.user"), "w", encoding="latin-1") as f:
        for u in range(1, num_users + 1):
            f.write(f"{u}|{15 + (u * 7) % 50}|{'MF'[u % 2]}|{OCCUPATIONS[u % len(OCCUPATIONS)]}"
                    f"|{10000 + u}\n")
    weights = [1.0 / (rank + 1) for rank in range(num_movies)]
    seen = set()
    lines = []
    while len(lines) < num_ratings:
        user = rng.randint(1, num_users)
        movie = rng.choices(range(1, num_movies + 1), weights)[0]
        if (user, movie) in seen:
            continue
        seen.add((user, movie))
        taste = 1 if (user + movie) % 3 else -1
        rating = max(1, min(5, round(3 + taste + rng.gauss(0, 0.7))))
        lines.append(f"{user}\t{movie}\t{rating}\t{880000000 + len(lines) * 97}")
    lines.extend(extra_rating_lines or [])
    with open(os.path.join(folder, "u.data"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return folder


def zip_folder(folder: str, zip_path: str, prefix: str = "ml-100k/") -> str:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name in sorted(os.listdir(folder)):
            archive.write(os.path.join(folder, name), prefix + name)
    return zip_path
