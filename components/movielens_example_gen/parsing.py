"""The Beam side of MovieLensExampleGen: GroupLens files → lines → tf.Examples, in parallel.

The ratings file is read with Beam's own splittable text source wherever Beam has a
filesystem for it (local disk, gs://, s3://...): each worker reads a byte range, so no process
sees the whole file. A zip member cannot be read from the middle, and TF-only filesystems
(ram://) are not Beam's: those are read by one sequential reader. The movies and users tables
are read and parsed inside the pipeline too and reach the rating parser as side inputs (a few
thousand rows each, keyed by id).

Lines travel in batches (`LineBatch`, up to `BATCH_LINES`) and each batch of ratings leaves the
parser as its serialized tf.Examples plus one array of packed (user, movie) keys: Beam's Python
SDK costs microseconds per element and step, which at ten million ratings was more than the
parsing itself, and grouping ten million (user, movie) keys held them all in one process.

Every line that cannot be used becomes a `grouplens.MalformedLine` naming its file and its line
number, or, where a byte range was read, the byte offset at which the line starts (a range
reader cannot know how many lines precede its range); the message says which.
"""

import glob
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from apache_beam import coders
from apache_beam.io import textio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from components.movielens_example_gen import repeated_titles
from components.movielens_example_gen.examples import ExampleSerializer
from movielens import grouplens

MALFORMED = "malformed"  # the tagged output holding MalformedLines
RATING_KEYS = "rating_keys"  # the tagged output holding each batch's packed (user, movie) keys
TITLES = "titles"  # the tagged output holding each batch's distinct titles
BATCH_LINES = 1024

# Beam counters of what was read, skipped and found malformed, per input file
# (`<kind>:<file label>`), and of the ratings parsed: ExampleGen's record counts
# (components/record_counts.py) are read from them once the pipeline has run.
COUNTERS = "movierec.example_gen"
LINES, SKIPPED, MALFORMED_LINES = "lines", "skipped", "malformed"
# Set once the inputs are checked (executor.check_input), from what reached the checks.
RATINGS, SUPERSEDED, USERS, TITLE_COUNT = "ratings", "superseded", "users", "titles"
WRITTEN = "written"  # `written:<split>`, counted as the examples reach the writer

# A line of an input file: (file label, line number or byte offset, whether it is an offset,
# the raw bytes without the line break). Plain tuples: Beam encodes them without pickling.
Line = Tuple[str, int, bool, bytes]
LineBatch = List[Line]


def count(kind: str, label: str, value: int) -> None:
    """Adds `value` to the counter `<kind>:<label>` (`label` "": the counter `<kind>`)."""
    if value:
        Metrics.counter(COUNTERS, f"{kind}:{label}" if label else kind).inc(value)


def rating_key(user_id: str, movie_id: str) -> int:
    """A (user, movie) pair as one int64 (ids are at most `grouplens.MAX_ID`)."""
    return (int(user_id) << 32) | int(movie_id)


def split_rating_key(key: int) -> Tuple[int, int]:
    """(user id, movie id) of a `rating_key`."""
    return key >> 32, key & 0xFFFFFFFF


def _batches(lines: Iterable[Line]) -> Iterator[LineBatch]:
    batch: LineBatch = []
    for line in lines:
        batch.append(line)
        if len(batch) == BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


class _TextSourceWithOffsets(textio._TextSource):  # pylint: disable=protected-access
    """Beam's splittable text source, yielding batches of lines with their file and byte offset.

    `_TextSource.read_records` claims each line's start offset on the range tracker before it
    yields the line, so at each yield the tracker's last attempted record start is that line's
    offset (pinned by tests/test_example_gen.py). A batch holds only claimed lines, so a range
    split while a batch fills loses and repeats nothing.
    """

    def __init__(self, path: str, label: str) -> None:
        self._label = label  # the file's name in reports and counters, whatever Beam calls it
        super().__init__(path, min_bundle_size=0,
                         compression_type=CompressionTypes.UNCOMPRESSED,
                         strip_trailing_newlines=True, coder=coders.BytesCoder())

    def _try_to_ensure_num_bytes_in_buffer(self, file_to_read, read_buffer,
                                           num_bytes: int) -> bool:
        """Beam's, except that each read is at least as large as the buffer already is.

        Beam appends 8 kB reads to an immutable bytes buffer until a line ends, so a line of
        n bytes costs n² / 16 kB of copying (a 40 MB line without a break: 151 s, 100 MB:
        about 15 min); growing the reads with the buffer makes it linear. The line is still
        held whole, once, until line_text rejects it as too long.
        """
        while len(read_buffer.data) < num_bytes:
            read_data = file_to_read.read(max(self._buffer_size, len(read_buffer.data)))
            if not read_data:
                return False
            read_buffer.data += read_data
        return True

    def read_records(self, file_name: str, range_tracker) -> Iterator[LineBatch]:
        lines = ((self._label, range_tracker.last_attempted_record_start, True, raw)
                 for raw in super().read_records(file_name, range_tracker))
        yield from _batches(lines)

    def output_type_hint(self):
        return beam.typehints.List[beam.typehints.Tuple[str, int, bool, bytes]]


def is_splittable(path: str) -> bool:
    """A plain file on a filesystem Beam knows (local, gs://, s3://...), not in a zip."""
    try:
        FileSystems.get_filesystem(path)
    except ValueError:
        return False
    return True


def _sequential_lines(member: str, layout: grouplens.ArchiveLayout) -> Iterator[LineBatch]:
    name = grouplens.label(layout, member)
    with grouplens.open_member(layout, member) as handle:
        yield from _batches((name, number, False, raw)
                            for number, raw in enumerate(grouplens.bounded_lines(handle),
                                                         start=1))


def plain_path(layout: grouplens.ArchiveLayout, member: str) -> Optional[str]:
    """The member's path where Beam reads it in byte ranges (a plain file on a filesystem
    Beam knows), else None (a zip member, a TF-only filesystem: one sequential reader)."""
    path = None if layout.zip_path else os.path.join(layout.root, member)
    return path if path is not None and is_splittable(path) else None


def count_lines(path: str) -> int:
    """The lines of a plain file as Beam's text source splits them (a last line without a line
    break counts), read independently of the pipeline: what its readers must have read."""
    lines, last = 0, b"\n"
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        while True:
            block = handle.read(1 << 22)
            if not block:
                break
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def read_lines(pipeline: beam.Pipeline, layout: grouplens.ArchiveLayout, member: str,
               step: str) -> beam.PCollection:
    """The lines of one file of the archive, as `LineBatch`es, read in parallel where possible."""
    path = plain_path(layout, member)
    if path is not None:
        # Beam's file sources take a glob: escaped, a name like `ml [1]` reads only itself.
        return pipeline | f"Read{step}" >> beam.io.Read(_TextSourceWithOffsets(
            glob.escape(path), grouplens.label(layout, member)))
    return (pipeline | f"Member{step}" >> beam.Create([member])
            | f"Read{step}" >> beam.FlatMap(_sequential_lines, layout))


def _text(line: Line, layout: grouplens.ArchiveLayout, member: str, encoding: str
          ) -> Optional[str]:
    """The line's text, or None for a line to skip (blank, or the file's header)."""
    _, position, by_offset, raw = line
    return grouplens.line_text(layout, member, raw, position == (0 if by_offset else 1),
                               encoding)


def _malformed(line: Line, reason: str) -> beam.pvalue.TaggedOutput:
    name, position, by_offset, raw = line
    count(MALFORMED_LINES, name, 1)
    return beam.pvalue.TaggedOutput(MALFORMED, grouplens.MalformedLine.from_bytes(
        name, position, reason, raw, by_offset=by_offset))


class ParseTable(beam.DoFn):
    """Movie or user line batches → (id, (line, record)); bad lines → MALFORMED."""

    def __init__(self, layout: grouplens.ArchiveLayout, member: str,
                 parse: Callable[[str, str], Any], key: str) -> None:
        self._layout, self._member, self._parse, self._key = layout, member, parse, key
        self._encoding = layout.encoding_of(member)

    def process(self, batch: LineBatch) -> Iterator[Any]:
        skipped = 0
        for line in batch:
            try:
                text = _text(line, self._layout, self._member, self._encoding)
                if text is None:
                    skipped += 1
                    continue
                record = self._parse(self._layout.format, text)
            except ValueError as error:
                yield _malformed(line, str(error))
                continue
            yield getattr(record, self._key), (line, record)
        if batch:
            count(LINES, batch[0][0], len(batch))
            count(SKIPPED, batch[0][0], skipped)


class KeepFirst(beam.DoFn):
    """One record per id: the first in the file; every later one is a duplicate id."""

    def process(self, keyed: Tuple[str, Any]) -> Iterator[Any]:
        record_id, entries = keyed
        ordered = sorted(entries, key=lambda entry: entry[0][:3])
        yield record_id, ordered[0][1]
        for line, _ in ordered[1:]:
            yield _malformed(line, f"duplicate id {record_id}")


class ParseRatings(beam.DoFn):
    """Rating line batches → serialized tf.Examples joined with their movie (and user), one
    array of the batch's packed (user, movie) keys → RATING_KEYS, bad lines → MALFORMED;
    ratings of a title listed under several movie ids → REPEATED_TITLE (`repeated_titles`)."""

    def __init__(self, layout: grouplens.ArchiveLayout) -> None:
        self._layout = layout
        self._encoding = layout.encoding_of(layout.ratings)
        self._serializer = ExampleSerializer()

    def process(self, batch: LineBatch, movies: Dict[str, grouplens.Movie],
                users: Dict[str, grouplens.User], repeated: Dict[str, str]) -> Iterator[Any]:
        layout, serialize = self._layout, self._serializer.serialize
        keys, titles, skipped = [], set(), 0
        for line in batch:
            try:
                text = _text(line, layout, layout.ratings, self._encoding)
                if text is None:
                    skipped += 1
                    continue
                rating = grouplens.parse_rating(layout.format, text)
                movie = movies.get(rating.movie_id)
                if movie is None:
                    raise ValueError(f"movie id {rating.movie_id} is not in {layout.movies}")
                side = None
                if layout.users:
                    user = users.get(rating.user_id)
                    if user is None:
                        raise ValueError(f"user id {rating.user_id} is not in {layout.users}")
                    side = (user.gender, user.bucketized_age, user.occupation, user.zip_code)
            except ValueError as error:
                yield _malformed(line, str(error))
                continue
            keys.append(rating_key(rating.user_id, rating.movie_id))
            titles.add(movie.title)
            example = serialize(rating.user_id, movie.title, rating.rating, rating.timestamp,
                                movie.movie_id, movie.genres, side)
            if movie.movie_id in repeated:
                yield beam.pvalue.TaggedOutput(repeated_titles.REPEATED_TITLE, (
                    (rating.user_id, movie.title),
                    (rating.timestamp, int(movie.movie_id), example)))
            else:
                yield example
        yield beam.pvalue.TaggedOutput(RATING_KEYS, np.array(keys, dtype=np.int64))
        yield beam.pvalue.TaggedOutput(TITLES, sorted(titles))
        if batch:
            count(LINES, batch[0][0], len(batch))
            count(SKIPPED, batch[0][0], skipped)


def read_table(pipeline: beam.Pipeline, layout: grouplens.ArchiveLayout, member: Optional[str],
               parse: Callable[[str, str], Any], key: str, step: str
               ) -> Tuple[beam.PCollection, beam.PCollection]:
    """(id → record pairs, malformed lines) of the movies or users file (none: both empty)."""
    if member is None:
        empty = pipeline | f"No{step}" >> beam.Create([])
        return empty, pipeline | f"No{step}Errors" >> beam.Create([])
    parsed = (read_lines(pipeline, layout, member, step)
              | f"Parse{step}" >> beam.ParDo(ParseTable(layout, member, parse, key)).with_outputs(
                  MALFORMED, main="records"))
    unique = (parsed.records | f"Group{step}" >> beam.GroupByKey()
              | f"Unique{step}" >> beam.ParDo(KeepFirst()).with_outputs(MALFORMED, main="records"))
    errors = ((parsed[MALFORMED], unique[MALFORMED])
              | f"{step}Errors" >> beam.Flatten())
    return unique.records, errors


def read_ratings(pipeline: beam.Pipeline, layout: grouplens.ArchiveLayout
                 ) -> Tuple[Tuple[beam.PCollection, beam.PCollection], beam.PCollection,
                            beam.PCollection, beam.PCollection, beam.PCollection]:
    """((serialized tf.Examples of titles listed once, those kept of titles listed under
    several movie ids), arrays of packed (user, movie) keys, lists of distinct titles (per
    batch), malformed lines of every file, `repeated_titles.Superseded` ratings dropped) of a
    GroupLens archive or folder.

    The examples come as two PCollections, not one Flatten of them: Beam's portable runner
    (the DirectRunner's) materializes every Flatten of several inputs, writing each element
    to a buffer held in the runner process and decoding it again: at 1M ratings 1.1 GB more
    runner memory and an extra encode and decode of every example (docs/benchmarks.md).
    """
    movies, movie_errors = read_table(pipeline, layout, layout.movies, grouplens.parse_movie,
                                      "movie_id", "Movies")
    users, user_errors = read_table(pipeline, layout, layout.users, grouplens.parse_user,
                                    "user_id", "Users")
    repeated = repeated_titles.ids_of_repeated_titles(
        movies | "MovieTitles" >> beam.Map(lambda pair: (pair[0], pair[1].title)), "Movies")
    parsed = (read_lines(pipeline, layout, layout.ratings, "Ratings")
              | "ParseRatings" >> beam.ParDo(
                  ParseRatings(layout), movies=beam.pvalue.AsDict(movies),
                  users=beam.pvalue.AsDict(users),
                  repeated=beam.pvalue.AsDict(repeated)).with_outputs(
                      MALFORMED, RATING_KEYS, TITLES, repeated_titles.REPEATED_TITLE,
                      main="examples"))
    kept, superseded = repeated_titles.keep_latest(parsed[repeated_titles.REPEATED_TITLE])
    malformed = ((parsed[MALFORMED], movie_errors, user_errors)
                 | "AllMalformed" >> beam.Flatten())
    return (parsed.examples, kept), parsed[RATING_KEYS], parsed[TITLES], malformed, superseded
