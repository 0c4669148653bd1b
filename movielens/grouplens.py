"""Reads GroupLens MovieLens archives (a .zip or its extracted folder) line by line.

No TFX (TensorFlow only for tf.io.gfile, so archives on gs:// and other remote filesystems
read the same as local ones): the ExampleGen executor streams these records into Beam, and the tests
drive them directly. Every line that cannot be parsed becomes a `MalformedLine` naming its file
and line number; nothing is skipped silently.

Formats:
- 100k (`ml-100k`): `u.data` tab-separated `user item rating timestamp`; `u.item`
  `|`-separated latin-1 `id|title|release|video release|url|19 genre flags`; `u.user`
  `id|age|gender|occupation|zip`.
- 1m (`ml-1m`): `ratings.dat` `user::movie::rating::timestamp`; `movies.dat`
  `id::title::Genre|Genre` (latin-1); `users.dat` `id::gender::age::occupation code::zip`.
"""

import contextlib
import dataclasses
import os
import zipfile
from typing import IO, Dict, Iterator, List, Optional, Tuple, Union

import tensorflow as tf

# TFDS's movielens genre order: the index of a genre is its `movie_genres` value.
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
_GENRE_INDEX = {name: i for i, name in enumerate(GENRES)}
_GENRE_INDEX["Children"] = _GENRE_INDEX["Children's"]  # ML-20M/25M spelling

# ML-1M `users.dat` occupation codes (its README), with TFDS's text for each.
_ML1M_OCCUPATIONS = (
    "other/not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care", "executive/managerial",
    "farmer", "homemaker", "K-12 student", "lawyer", "programmer", "retired",
    "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)


@dataclasses.dataclass(frozen=True)
class MalformedLine:
    """A line that could not be turned into a record, with where it is and why."""

    file: str
    line_number: int  # 1-based; with `by_offset`, the line's byte offset in the file instead
    reason: str
    text: str
    # True where the file was read in parallel byte ranges: a range reader cannot know how
    # many lines come before its range, only where the line starts.
    by_offset: bool = False

    def __str__(self) -> str:
        where = (f"{self.file} (at byte {self.line_number})" if self.by_offset
                 else f"{self.file}:{self.line_number}")
        return f"{where}: {self.reason}: {self.text[:120]!r}"


@dataclasses.dataclass(frozen=True)
class Movie:
    movie_id: str
    title: str
    genres: Tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class User:
    user_id: str
    gender: int  # 1 = male, 0 = female
    bucketized_age: float
    occupation: str
    zip_code: str


@dataclasses.dataclass(frozen=True)
class Rating:
    user_id: str
    movie_id: str
    rating: float
    timestamp: int


@dataclasses.dataclass(frozen=True)
class ArchiveLayout:
    """Where a dataset's three files are: inside a zip (`zip_path` set) or in a folder."""

    format: str  # "100k" or "1m"
    ratings: str
    movies: str
    users: str
    zip_path: Optional[str] = None
    root: str = ""


_LAYOUTS = {
    "100k": ("u.data", "u.item", "u.user"),
    "1m": ("ratings.dat", "movies.dat", "users.dat"),
}


def locate(path: str) -> ArchiveLayout:
    """Finds the ratings, movies and users files of a GroupLens archive or folder.

    Raises FileNotFoundError / ValueError naming `path` and what is missing.
    """
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"MovieLens data not found: {path!r} does not exist")
    if tf.io.gfile.isdir(path):
        prefix = path.rstrip("/") + "/"
        names = [os.path.join(d, f)[len(prefix):]
                 for d, _, files in tf.io.gfile.walk(path) for f in files]
        zip_path = None
    else:
        with _open_file(path) as handle:
            if not zipfile.is_zipfile(handle):
                raise ValueError(f"MovieLens data {path!r} is neither a folder nor a zip archive")
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
        zip_path = path
    by_base = {}
    for name in sorted(names, key=lambda n: (n.count(os.sep) + n.count("/"), n)):
        by_base.setdefault(os.path.basename(name), name)
    for fmt, files in _LAYOUTS.items():
        if files[0] in by_base:
            missing = [f for f in files if f not in by_base]
            if missing:
                raise ValueError(
                    f"MovieLens {fmt} data {path!r} has {files[0]} but lacks {', '.join(missing)}")
            ratings, movies, users = (by_base[f] for f in files)
            return ArchiveLayout(fmt, ratings, movies, users, zip_path, path if zip_path is None else "")
    raise ValueError(
        f"MovieLens data {path!r} holds no known ratings file "
        f"(expected u.data for ml-100k or ratings.dat for ml-1m)")


def _open_file(path: str) -> IO[bytes]:
    """Local files through Python's buffered I/O (fast line iteration); gs://, s3:// and other
    TensorFlow filesystems through tf.io.gfile."""
    return tf.io.gfile.GFile(path, "rb") if "://" in path else open(path, "rb")


@contextlib.contextmanager
def _open_binary(layout: ArchiveLayout, member: str) -> Iterator[IO[bytes]]:
    if layout.zip_path:
        with _open_file(layout.zip_path) as raw, zipfile.ZipFile(raw) as archive, \
                archive.open(member) as handle:
            yield handle
    else:
        with _open_file(os.path.join(layout.root, member)) as handle:
            yield handle


def _is_utf8(raw: bytes) -> bool:
    """Non-ASCII latin-1 text is almost never valid UTF-8 (é alone is 0xE9, an incomplete
    UTF-8 sequence), so a line that decodes as UTF-8 was written in UTF-8; read as latin-1 it
    would silently become mojibake ("MisÃ©rables")."""
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def read_lines(layout: ArchiveLayout, member: str,
               encoding: str) -> Iterator[Tuple[int, Union[str, MalformedLine]]]:
    """Yields (line number, text) for each non-empty line; undecodable lines as MalformedLine."""
    name = label(layout, member)
    with _open_binary(layout, member) as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                text = raw.decode(encoding)
                if encoding == "latin-1" and not raw.isascii() and _is_utf8(raw):
                    yield number, MalformedLine(
                        name, number, "UTF-8 text in a latin-1 file (mixed encodings): "
                        "re-encode the file as latin-1", text)
                    continue
                yield number, text
            except UnicodeDecodeError as error:
                yield number, MalformedLine(name, number, f"not valid {encoding}: {error.reason}",
                                            raw.decode("latin-1"))


def label(layout: ArchiveLayout, member: str) -> str:
    """The name used in error reports for a file of the archive."""
    base = layout.zip_path or layout.root
    return f"{base}/{member}" if base else member


def _bucketize_age(age: int) -> float:
    """TFDS's (and ML-1M's) age buckets: 1, 18, 25, 35, 45, 50, 56."""
    for bound in (56, 50, 45, 35, 25, 18):
        if age >= bound:
            return float(bound)
    return 1.0


def _parse_movie(fmt: str, text: str) -> Movie:
    if fmt == "100k":
        fields = text.split("|")
        if len(fields) != 24:
            raise ValueError(f"expected 24 '|'-separated fields, got {len(fields)}")
        flags = fields[5:]
        if any(f not in ("0", "1") for f in flags):
            raise ValueError("genre flags must be 0 or 1")
        genres = tuple(i for i, f in enumerate(flags) if f == "1")
        movie_id, title = fields[0], fields[1]
    else:
        fields = text.split("::")
        if len(fields) != 3:
            raise ValueError(f"expected 3 '::'-separated fields, got {len(fields)}")
        movie_id, title = fields[0], fields[1]
        try:
            genres = tuple(_GENRE_INDEX[g] for g in fields[2].split("|") if g)
        except KeyError as error:
            raise ValueError(f"unknown genre {error.args[0]!r}") from None
    if not movie_id.strip().isdigit():
        raise ValueError(f"movie id {movie_id!r} is not a number")
    if not title.strip():
        raise ValueError("empty title")
    return Movie(movie_id.strip(), title.strip(), genres)


def _parse_user(fmt: str, text: str) -> User:
    if fmt == "100k":
        fields = text.split("|")
        if len(fields) != 5:
            raise ValueError(f"expected 5 '|'-separated fields, got {len(fields)}")
        user_id, age, gender, occupation, zip_code = fields
        age_value = _parse_int(age, "age")
        bucket = _bucketize_age(age_value)
    else:
        fields = text.split("::")
        if len(fields) != 5:
            raise ValueError(f"expected 5 '::'-separated fields, got {len(fields)}")
        user_id, gender, age, occupation_code, zip_code = fields
        bucket = float(_parse_int(age, "age"))
        code = _parse_int(occupation_code, "occupation")
        if not 0 <= code < len(_ML1M_OCCUPATIONS):
            raise ValueError(f"occupation code {code} out of range")
        occupation = _ML1M_OCCUPATIONS[code]
    if not user_id.strip().isdigit():
        raise ValueError(f"user id {user_id!r} is not a number")
    if gender not in ("M", "F"):
        raise ValueError(f"gender {gender!r} is not M or F")
    return User(user_id.strip(), 1 if gender == "M" else 0, bucket, occupation.strip(), zip_code.strip())


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an integer") from None


def parse_rating(fmt: str, text: str) -> Rating:
    """Parses one ratings line; raises ValueError saying what is wrong."""
    fields = text.split("\t") if fmt == "100k" else text.split("::")
    if len(fields) != 4:
        sep = "tab" if fmt == "100k" else "'::'"
        raise ValueError(f"expected 4 {sep}-separated fields, got {len(fields)}")
    user_id, movie_id, rating, timestamp = (f.strip() for f in fields)
    if not user_id.isdigit():
        raise ValueError(f"user id {user_id!r} is not a number")
    if not movie_id.isdigit():
        raise ValueError(f"movie id {movie_id!r} is not a number")
    try:
        value = float(rating)
    except ValueError:
        raise ValueError(f"rating {rating!r} is not a number") from None
    if not 1.0 <= value <= 5.0:
        raise ValueError(f"rating {rating!r} is outside 1-5")
    seconds = _parse_int(timestamp, "timestamp")
    if seconds < 0:
        raise ValueError(f"timestamp {seconds} is negative")
    return Rating(user_id, movie_id, value, seconds)


def _read_table(layout: ArchiveLayout, member: str, parse, key: str
                ) -> Tuple[Dict[str, object], List[MalformedLine]]:
    table: Dict[str, object] = {}
    errors: List[MalformedLine] = []
    name = label(layout, member)
    for number, text in read_lines(layout, member, "latin-1"):
        if isinstance(text, MalformedLine):
            errors.append(text)
            continue
        try:
            record = parse(layout.format, text)
        except ValueError as error:
            errors.append(MalformedLine(name, number, str(error), text))
            continue
        record_key = getattr(record, key)
        if record_key in table:
            errors.append(MalformedLine(name, number, f"duplicate id {record_key}", text))
            continue
        table[record_key] = record
    return table, errors


def read_movies(layout: ArchiveLayout) -> Tuple[Dict[str, Movie], List[MalformedLine]]:
    """The item file as {movie id: Movie} plus its malformed lines (it is latin-1)."""
    return _read_table(layout, layout.movies, _parse_movie, "movie_id")


def read_users(layout: ArchiveLayout) -> Tuple[Dict[str, User], List[MalformedLine]]:
    """The user file as {user id: User} plus its malformed lines."""
    return _read_table(layout, layout.users, _parse_user, "user_id")
