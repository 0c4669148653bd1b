"""Cuts a GroupLens dataset by time into dated drops (`span-1/`, `span-2/`, ...): the input of
the continuous-training replay (`replay.py`).

Each span folder is a GroupLens folder of the source's own format: the ratings of that period
(the source's lines, in their order, with the header where the format has one) and the movies
and users files whole (a catalog as published; ExampleGen only joins the titles and users the
ratings name). The ratings are read twice, streaming: once for their timestamps (8 bytes each),
once to write each line to its span, so memory does not grow with the file.

A fault can be injected into one span, to show that the pipeline stops or refuses it:
`shift`: every rating of the span is 2 stars higher (capped at the scale's top); `swap`: the
span's ratings name other titles (each movie id is replaced by the one half the catalog away,
in id order), as a broken export with a shuffled id mapping would.
"""

import dataclasses
import os
import shutil
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from movielens import grouplens
from movielens import source as data_source

SPAN_FOLDER = data_source.SPAN_PREFIX + "{}"  # the drops folder's naming (movielens/source.py)
FAULT_KINDS = ("shift", "swap")
SHIFT_STARS = 2.0


class SpanCutError(ValueError):
    """The source cannot be cut as asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class Fault:
    """A corruption of one span's ratings: `kind` in FAULT_KINDS, `span` 1-based."""

    kind: str
    span: int

    @classmethod
    def parse(cls, text: str) -> "Fault":
        """`"shift:3"` → Fault("shift", 3), with a message naming the bad value."""
        kind, _, span = text.partition(":")
        if kind not in FAULT_KINDS or not span.isdigit() or int(span) < 1:
            raise SpanCutError(f"fault {text!r}: expected KIND:SPAN with KIND one of "
                               f"{', '.join(FAULT_KINDS)} and SPAN >= 1, e.g. shift:3")
        return cls(kind, int(span))


@dataclasses.dataclass(frozen=True)
class SpanInfo:
    """What one span holds (ids counted as the files write them)."""

    span: int
    ratings: int
    first_timestamp: int
    last_timestamp: int
    new_users: int  # users with no rating in an earlier span
    new_titles: int  # movie ids with no rating in an earlier span
    fault: str = ""


def span_boundaries(timestamps: np.ndarray, spans: int, first_percent: int) -> np.ndarray:
    """The first timestamp of spans 2..N: span 1 holds `first_percent` % of the ratings (the
    history a service starts with), the others equal shares of the rest. A rating at a
    boundary goes to the later span (as the time split sends the cut-off to eval), so spans
    are disjoint in time.

    Raises SpanCutError when a span would be empty (too few distinct timestamps)."""
    if spans < 2:
        raise SpanCutError(f"a replay needs at least 2 spans, got {spans}")
    if not 1 <= first_percent <= 99:
        raise SpanCutError(f"first_percent must be in 1..99, got {first_percent}")
    ordered = np.sort(timestamps)
    first = len(ordered) * first_percent / 100
    shares = first + (len(ordered) - first) * np.arange(spans - 1) / (spans - 1)
    boundaries = ordered[np.minimum(shares.astype(np.int64), len(ordered) - 1)]
    edges = np.concatenate([[ordered[0]], boundaries, [ordered[-1] + 1]])
    if np.any(np.diff(edges) <= 0):
        raise SpanCutError(f"{len(ordered)} ratings with {len(np.unique(ordered))} distinct "
                           f"timestamps cannot be cut into {spans} non-empty spans")
    return boundaries


def _ratings(layout: grouplens.ArchiveLayout) -> Iterator[Tuple[str, Optional[int]]]:
    """(line text, timestamp) per ratings line; timestamp None for a malformed line."""
    for _, text in grouplens.read_lines(layout, layout.ratings):
        if isinstance(text, grouplens.MalformedLine):
            yield text.text, None
            continue
        try:
            yield text, grouplens.parse_rating(layout.format, text).timestamp
        except ValueError:
            yield text, None


def _faulty(text: str, fault: str, layout: grouplens.ArchiveLayout,
            movie_swap: Dict[str, str]) -> str:
    separator = layout.spec.ratings.separator
    fields = text.split(separator)
    if fault == "shift":
        shifted = min(float(fields[2]) + SHIFT_STARS, layout.spec.scale.high)
        fields[2] = f"{shifted:g}" if layout.spec.scale.step == 1 else f"{shifted:.1f}"
    elif fault == "swap":
        fields[1] = movie_swap.get(fields[1].strip(), fields[1])
    return separator.join(fields)


def _movie_swap(layout: grouplens.ArchiveLayout) -> Dict[str, str]:
    """Each movie id → the id half the catalog away (in numeric order): every title changes."""
    movies, _ = grouplens.read_movies(layout)
    ids = sorted(movies, key=int)
    half = len(ids) // 2 or 1
    return {movie: ids[(i + half) % len(ids)] for i, movie in enumerate(ids)}


def _copy_member(layout: grouplens.ArchiveLayout, member: str, target: str) -> None:
    with grouplens.open_member(layout, member) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)


def cut(source: str, out_dir: str, spans: int, first_percent: int = 50,
        fault: Optional[Fault] = None) -> Tuple[List[SpanInfo], int]:
    """Writes `out_dir/span-1 .. span-N` from the GroupLens folder or zip `source`.

    Returns each span's SpanInfo and the number of malformed ratings lines left out (the
    pipeline would report them; the replay is about time, so it leaves them out and says so).
    """
    if fault is not None and fault.span > spans:
        raise SpanCutError(f"fault span {fault.span} is past the last span ({spans})")
    layout = grouplens.locate(source)
    timestamps = np.fromiter((t for _, t in _ratings(layout) if t is not None), np.int64)
    if len(timestamps) == 0:
        raise SpanCutError(f"{source!r} holds no well-formed rating")
    boundaries = span_boundaries(timestamps, spans, first_percent)
    spec = layout.spec
    folders = [os.path.join(out_dir, SPAN_FOLDER.format(k)) for k in range(1, spans + 1)]
    for folder in folders:
        os.makedirs(folder, exist_ok=False)
        _copy_member(layout, layout.movies, os.path.join(folder, spec.movies.name))
        if layout.users is not None:
            _copy_member(layout, layout.users, os.path.join(folder, spec.users.name))
    movie_swap = _movie_swap(layout) if fault is not None and fault.kind == "swap" else {}
    outs = [open(os.path.join(folder, spec.ratings.name), "w", encoding="utf-8")
            for folder in folders]
    users: List[Set[str]] = [set() for _ in folders]
    movies: List[Set[str]] = [set() for _ in folders]
    counts = np.zeros(spans, np.int64)
    first = np.full(spans, np.iinfo(np.int64).max)
    last = np.full(spans, np.iinfo(np.int64).min)
    malformed = 0
    try:
        if spec.ratings.header is not None:
            for out in outs:
                out.write(spec.ratings.separator.join(spec.ratings.header) + "\n")
        for text, timestamp in _ratings(layout):
            if timestamp is None:
                malformed += 1
                continue
            index = int(np.searchsorted(boundaries, timestamp, side="right"))
            fields = text.split(spec.ratings.separator)
            users[index].add(fields[0].strip())
            movies[index].add(fields[1].strip())
            counts[index] += 1
            first[index] = min(first[index], timestamp)
            last[index] = max(last[index], timestamp)
            if fault is not None and fault.span == index + 1:
                text = _faulty(text, fault.kind, layout, movie_swap)
            outs[index].write(text + "\n")
    finally:
        for out in outs:
            out.close()
    infos, seen_users, seen_movies = [], set(), set()
    for k in range(spans):
        infos.append(SpanInfo(
            span=k + 1, ratings=int(counts[k]), first_timestamp=int(first[k]),
            last_timestamp=int(last[k]), new_users=len(users[k] - seen_users),
            new_titles=len(movies[k] - seen_movies),
            fault=fault.kind if fault is not None and fault.span == k + 1 else ""))
        seen_users |= users[k]
        seen_movies |= movies[k]
    return infos, malformed


def span_folders(drops: str) -> Sequence[str]:
    """The span folders of a cut, in span order (read as ExampleGen's drops folder is)."""
    entries = data_source.span_entries(drops)
    return [os.path.join(drops, entries[span]) for span in sorted(entries)]
