"""Turns a data source (a GroupLens folder, .zip or URL, a TFDS name, or a drops folder of
dated spans) into what MovieLensExampleGen reads, downloading a URL once.

The runners call `resolve` before they build the pipeline: it is the pipeline's only data I/O
outside the components, done where a bad source can be reported as a plain error.

A drops folder holds one GroupLens dataset per span, as it arrives: `span-1/`, `span-2/`, ...
(each a GroupLens folder in any supported format) or `span-1.zip`, `span-2.zip`, ... ExampleGen
reads one span per run through TFX's span pattern (`span-{SPAN}`), so the Examples artifact
carries its span and later runs can find the earlier spans in MLMD (pipeline/pipeline.py).
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from typing import Dict, Optional, Tuple

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
    # A drops folder only (else None): the span ExampleGen ingests (the newest, or the one
    # asked for; `file_pattern` then holds TFX's `{SPAN}` placeholder and the sizes above are
    # this span's).
    span: Optional[int] = None


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


class _NoDowngradeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except one to plain http when no SHA-256 pins the content."""

    def __init__(self, url: str, pinned: bool) -> None:
        super().__init__()
        self.url, self.pinned = url, pinned

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not self.pinned and not newurl.lower().startswith("https://"):
            raise DataSourceError(
                f"refusing the redirect of {self.url} ({req.full_url} answered {code}) to "
                f"{newurl}: plain http without a pinned SHA-256, which anything on the way "
                f"could change. Use a local copy instead (--data path/to/archive.zip)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(url: str, pinned: bool) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoDowngradeRedirects(url, pinned))


def download(url: str, cache_dir: str, sha256: Optional[str] = None) -> str:
    """Downloads `url` into cache_dir once and returns the cached file's path.

    The file enters the cache only complete and, when `sha256` is given, verified (a temporary
    file is removed on any failure, an interrupt included). Each URL has its own entry (two
    archives with one file name do not collide). Plain http is refused unless a SHA-256 pins
    the content, since anything on the way could change it, and so is a redirect to plain http
    (an https URL answered by a move to http). Without a SHA-256, a .zip URL whose download is
    no zip archive (an error page) is not kept either: the next run downloads it again.
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
                    _opener(url, pinned=bool(sha256)).open(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
        except DataSourceError:
            raise
        except OSError as error:
            raise DataSourceError(
                f"could not download {url}: {error}. Offline, pass a local copy instead, e.g. "
                f"--data path/to/ml-100k.zip (a GroupLens .zip or its extracted folder)"
            ) from error
        if sha256 and _sha256(partial) != sha256:
            raise DataSourceError(f"the download of {url} does not have the expected SHA-256 "
                                  f"{sha256} (not kept)")
        if not sha256 and url.lower().endswith(".zip") and not zipfile.is_zipfile(partial):
            raise DataSourceError(f"the download of {url} is not a zip archive (not kept: the "
                                  f"next run downloads it again)")
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


# A drops folder's entries: `span-<N>` folders or `span-<N>.zip` archives, N without leading
# zeros (TFX writes a static range's span as str(N): `span-03` would never match span 3).
SPAN_PREFIX = "span-"
SPAN_FOLDER_PATTERN = SPAN_PREFIX + "{SPAN}"
SPAN_ZIP_PATTERN = SPAN_PREFIX + "{SPAN}.zip"
_SPAN_ENTRY = re.compile(r"span-(0|[1-9][0-9]*)(\.zip)?")


def is_drops_folder(path: str) -> bool:
    """Whether the local folder `path` is a drops folder: an entry of it is named `span-*`."""
    return os.path.isdir(path) and any(
        name.startswith(SPAN_PREFIX) for name in os.listdir(path) if not name.startswith("."))


def span_entries(path: str) -> Dict[int, str]:
    """Span number → entry name of the drops folder `path` (hidden entries ignored).

    Every other entry is an error, and so is a mix of folders and zips: TFX's span pattern
    names one kind, and a span in the other would be skipped without a word.
    """
    spans: Dict[int, str] = {}
    kinds: Dict[str, list] = {"folders": [], "zips": []}
    wrong = []
    for name in sorted(os.listdir(path)):
        if name.startswith("."):
            continue
        match = _SPAN_ENTRY.fullmatch(name)
        full = os.path.join(path, name)
        zipped = bool(match and match.group(2))
        if not match or not (os.path.isfile(full) if zipped else os.path.isdir(full)):
            wrong.append(name)
            continue
        kinds["zips" if zipped else "folders"].append(name)
        spans[int(match.group(1))] = name
    if wrong:
        raise DataSourceError(
            f"drops folder {path!r} holds {', '.join(repr(n) for n in wrong[:5])}"
            f"{' ...' if len(wrong) > 5 else ''}: every entry must be a span-<N> folder or a "
            f"span-<N>.zip archive, N a whole number without leading zeros (span-1, span-2, ...)")
    if kinds["folders"] and kinds["zips"]:
        raise DataSourceError(
            f"drops folder {path!r} mixes span folders ({', '.join(kinds['folders'][:3])}) and "
            f"span zips ({', '.join(kinds['zips'][:3])}): use one kind for every span")
    return spans


def _ratings_sizes(path: str, layout: grouplens.ArchiveLayout) -> Tuple[int, int]:
    """(bytes read in parallel byte ranges, uncompressed bytes) of the ratings at `path`: a
    folder's file is both; a zip's member is read by one reader (0), its size from the header."""
    if os.path.isdir(path):
        size = os.path.getsize(os.path.join(path, layout.ratings))
        return size, size
    with zipfile.ZipFile(path) as archive:
        return 0, archive.getinfo(layout.ratings).file_size


def _resolve_drops(path: str, span: Optional[int]) -> ResolvedSource:
    """The drops folder `path` as ExampleGen's input: its span pattern and the span to read
    (`span`, or the newest). Every span must be a GroupLens dataset, all with or all without a
    user file (one schema reads every span of the window)."""
    spans = span_entries(path)
    if not spans:
        raise DataSourceError(f"drops folder {path!r} holds no span (span-1/, span-2/, ...)")
    layouts = {}
    for number, name in sorted(spans.items()):
        try:
            layouts[number] = grouplens.locate(os.path.join(path, name))
        except (OSError, ValueError) as error:
            raise DataSourceError(f"span {number} of drops folder {path!r} ({name}) is not a "
                                  f"GroupLens dataset: {error}") from None
    with_users = sorted(n for n, layout in layouts.items() if layout.users is not None)
    if with_users and len(with_users) < len(layouts):
        without = sorted(set(layouts) - set(with_users))
        raise DataSourceError(
            f"drops folder {path!r}: spans {with_users} have a user file and spans {without} "
            f"do not; every span must be in a format with users (100k, 1m) or every one "
            f"without (10m, csv), so that one schema reads them all")
    if span is None:
        span = max(spans)
    elif span not in spans:
        raise DataSourceError(f"drops folder {path!r} has no span {span} (it has spans "
                              f"{sorted(spans)})")
    ingested = os.path.join(path, spans[span])
    ratings_bytes, uncompressed = _ratings_sizes(ingested, layouts[span])
    return ResolvedSource(
        path, SPAN_ZIP_PATTERN if spans[span].endswith(".zip") else SPAN_FOLDER_PATTERN,
        has_user_features=bool(with_users), ratings_bytes=ratings_bytes,
        ratings_uncompressed_bytes=uncompressed, fingerprint=local_fingerprint(ingested),
        span=span)


def _refuse_spans(source: str, span: Optional[int], window: int) -> None:
    """A span or a window of several spans asks for a drops folder; `source` is not one."""
    if span is not None or window > 1:
        asked = " and ".join(part for part in (
            f"span {span}" if span is not None else "", f"a window of {window} spans"
            if window > 1 else "") if part)
        raise DataSourceError(
            f"{asked}: only a drops folder has spans (span-1/, span-2/, ... or span-1.zip, "
            f"...), and data source {source!r} is a single dataset")


def resolve(source: str, cache_dir: str, span: Optional[int] = None,
            window: int = 1) -> ResolvedSource:
    """Validates a data source and maps it to ExampleGen's input.

    A local drops folder resolves to its span `span` (default: the newest); `span` or a
    `window` of more than one span with any other source is an error.
    """
    if source.startswith("tfds:"):
        name = source[len("tfds:"):]
        if not name.startswith("movielens/") or not name.endswith("-ratings"):
            raise DataSourceError(
                f"data source {source!r}: expected tfds:movielens/<variant>-ratings")
        _refuse_spans(source, span, window)
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
        _refuse_spans(source, span, window)
        users = not _named_without_users(source)
        if source.endswith(".zip"):
            return ResolvedSource(source.rsplit("/", 1)[0], source.rsplit("/", 1)[1],
                                  has_user_features=users)
        return ResolvedSource(source.rstrip("/"), "*", has_user_features=users)
    downloaded = None  # the cached download of an unpinned URL
    if source.startswith(("http://", "https://")):
        _refuse_spans(source, span, window)
        url, pinned = source, grouplens.ARCHIVE_SHA256.get(source)
        source = download(url, os.path.join(cache_dir, "downloads"), pinned)
        downloaded = None if pinned else source
    path = os.path.abspath(source)
    if not os.path.exists(path):
        raise DataSourceError(f"data source {source!r} does not exist")
    if not os.path.isdir(path) and not path.endswith(".zip"):
        if downloaded is not None:
            os.unlink(downloaded)
        raise DataSourceError(f"data source {source!r} is neither a folder nor a .zip archive")
    if is_drops_folder(path):
        return _resolve_drops(path, span)
    _refuse_spans(source, span, window)
    try:
        layout = grouplens.locate(path)  # fail now, clearly, not deep inside Beam
    except (OSError, ValueError) as error:
        if downloaded is None:
            raise DataSourceError(str(error)) from None
        os.unlink(downloaded)  # not a GroupLens archive: not kept, the next run downloads again
        raise DataSourceError(f"the download of {url} cannot be read as a GroupLens archive "
                              f"(not kept: the next run downloads it again): {error}") from None
    ratings_bytes, uncompressed = _ratings_sizes(path, layout)
    if os.path.isdir(path):
        # The folder that holds the files, so the driver's fingerprint ("*") covers them.
        folder = os.path.dirname(os.path.join(path, layout.ratings))
        return ResolvedSource(folder, "*", has_user_features=layout.users is not None,
                              ratings_bytes=ratings_bytes,
                              ratings_uncompressed_bytes=uncompressed,
                              fingerprint=local_fingerprint(folder))
    return ResolvedSource(os.path.dirname(path), os.path.basename(path),
                          has_user_features=layout.users is not None,
                          ratings_uncompressed_bytes=uncompressed,
                          fingerprint=local_fingerprint(path))
