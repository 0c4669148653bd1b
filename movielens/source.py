"""Turns a data source (a GroupLens folder, .zip or URL, or a TFDS name) into what
MovieLensExampleGen reads, downloading a URL once.

The runners call `resolve` before they build the pipeline: it is the pipeline's only data I/O
outside the components, done where a bad source can be reported as a plain error.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
import zipfile
from typing import Optional

from movielens import grouplens

# The default data: the GroupLens archive TFDS's movielens builder downloads.
ML_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"


class DataSourceError(ValueError):
    """The configured data source cannot be used; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class ResolvedSource:
    input_base: str  # folder the ExampleGen driver fingerprints
    file_pattern: str  # archive name in it, or "*" when the folder is the extracted archive
    tfds_name: str = ""
    # Whether the examples carry the user side features (only 100k and 1m have a user file).
    has_user_features: bool = True
    # Size of the ratings file when it is a plain local file (read in parallel byte ranges);
    # 0 for a zip (one reader), TFDS or a remote source.
    ratings_bytes: int = 0
    # The ratings' uncompressed size where it is known locally (a folder's file, a zip's
    # member), else 0: how much every later Beam component has to read.
    ratings_uncompressed_bytes: int = 0
    # Each local input file's name, size and nanosecond modification time, hashed: ExampleGen's
    # cache key (TFX's own driver fingerprint has whole seconds). "" for remote sources.
    fingerprint: str = ""


# GroupLens archives (and TFDS variants) without a user file, by the name they are published
# under: how a remote source, which is not read when the pipeline is compiled, is told apart.
_WITHOUT_USERS = ("10m", "20m", "25m", "latest")


def _named_without_users(name: str) -> bool:
    name = name.lower()
    return any(f"ml-{tag}" in name or f"movielens/{tag}" in name for tag in _WITHOUT_USERS)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, cache_dir: str, sha256: Optional[str] = None) -> str:
    """Downloads `url` into cache_dir once and returns the cached file's path.

    The file enters the cache only complete and, when `sha256` is given, verified (a temporary
    file is removed on any failure, an interrupt included). Each URL has its own entry (two
    archives with one file name do not collide). Plain http is refused unless a SHA-256 pins
    the content, since anything on the way could change it.
    """
    if url.startswith("http://") and not sha256:
        raise DataSourceError(f"refusing to download {url} over plain http without a pinned "
                              f"SHA-256: use https, or a local copy (--data path/to/archive.zip)")
    os.makedirs(cache_dir, exist_ok=True)
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    target = os.path.join(cache_dir, f"{key}-{os.path.basename(url.rstrip('/')) or 'download'}")
    if os.path.exists(target):
        if sha256 and _sha256(target) != sha256:
            raise DataSourceError(f"{target} (from {url}) does not have the expected SHA-256 "
                                  f"{sha256}; delete it to download again")
        return target
    fd, partial = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    try:
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
        except OSError as error:
            raise DataSourceError(
                f"could not download {url}: {error}. Offline, pass a local copy instead, e.g. "
                f"--data path/to/ml-100k.zip (a GroupLens .zip or its extracted folder)"
            ) from error
        if sha256 and _sha256(partial) != sha256:
            raise DataSourceError(f"the download of {url} does not have the expected SHA-256 "
                                  f"{sha256} (not kept)")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def local_fingerprint(path: str) -> str:
    """SHA-256 of the path, size and nanosecond mtime of the file `path`, or of every file in
    the folder `path`: a rewrite of the same size in the same second changes it."""
    files = [path] if os.path.isfile(path) else [
        os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names]
    entries = []
    for name in sorted(files):
        status = os.stat(name)
        entries.append(f"{name}\t{status.st_size}\t{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode("utf-8")).hexdigest()


def resolve(source: str, cache_dir: str) -> ResolvedSource:
    """Validates a data source and maps it to ExampleGen's input."""
    if source.startswith("tfds:"):
        name = source[len("tfds:"):]
        if not name.startswith("movielens/") or not name.endswith("-ratings"):
            raise DataSourceError(
                f"data source {source!r}: expected tfds:movielens/<variant>-ratings")
        # TFDS datasets are immutable per name/version: the description is the fingerprint.
        marker_dir = os.path.join(cache_dir, "tfds", name.replace("/", "_"))
        marker = os.path.join(marker_dir, "source.json")
        description = json.dumps({"tfds_name": name})
        if not os.path.exists(marker) or open(marker).read() != description:
            os.makedirs(marker_dir, exist_ok=True)  # rewritten only on change: mtime is cached
            with open(marker, "w") as f:
                f.write(description)
        return ResolvedSource(marker_dir, "*", tfds_name=name,
                              has_user_features=not _named_without_users(name))
    if "://" in source and not source.startswith(("http://", "https://")):
        # A remote filesystem (gs://, s3://...): read by the workers, not checkable from here.
        users = not _named_without_users(source)
        if source.endswith(".zip"):
            return ResolvedSource(source.rsplit("/", 1)[0], source.rsplit("/", 1)[1],
                                  has_user_features=users)
        return ResolvedSource(source.rstrip("/"), "*", has_user_features=users)
    if source.startswith(("http://", "https://")):
        source = download(source, os.path.join(cache_dir, "downloads"),
                          grouplens.ARCHIVE_SHA256.get(source))
    path = os.path.abspath(source)
    if not os.path.exists(path):
        raise DataSourceError(f"data source {source!r} does not exist")
    if not os.path.isdir(path) and not path.endswith(".zip"):
        raise DataSourceError(f"data source {source!r} is neither a folder nor a .zip archive")
    try:
        layout = grouplens.locate(path)  # fail now, clearly, not deep inside Beam
    except (OSError, ValueError) as error:
        raise DataSourceError(str(error)) from None
    if os.path.isdir(path):
        # The folder that holds the files, so the driver's fingerprint ("*") covers them.
        ratings = os.path.join(path, layout.ratings)
        return ResolvedSource(os.path.dirname(ratings), "*",
                              has_user_features=layout.users is not None,
                              ratings_bytes=os.path.getsize(ratings),
                              ratings_uncompressed_bytes=os.path.getsize(ratings),
                              fingerprint=local_fingerprint(os.path.dirname(ratings)))
    with zipfile.ZipFile(path) as archive:
        member_bytes = archive.getinfo(layout.ratings).file_size  # the header's, not read
    return ResolvedSource(os.path.dirname(path), os.path.basename(path),
                          has_user_features=layout.users is not None,
                          ratings_uncompressed_bytes=member_bytes,
                          fingerprint=local_fingerprint(path))
