"""MovieLensExampleGen's reading: GroupLens folders and zips, malformed lines, TFDS."""

import glob
import os
import tempfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf

import names
from components.movielens_example_gen import examples as example_records
from components.movielens_example_gen import executor as example_gen
from components.movielens_example_gen.component import MovieLensExampleGen
from movielens import grouplens
from tests import movielens_fixture


def _read(path: str, max_malformed_lines: int = 0):
    """Runs the component's Beam source over `path`; returns its examples."""
    exec_properties = {"input_base": os.path.dirname(path),
                       example_gen.MAX_MALFORMED_LINES_KEY: max_malformed_lines}
    output = os.path.join(tempfile.mkdtemp(), "examples")
    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | example_gen._MovieLensToExample(  # pylint: disable=no-value-for-parameter
                 exec_properties, os.path.basename(path))
             | beam.io.WriteToTFRecord(output))
    return [tf.train.Example.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(tf.io.gfile.glob(output + "*"))]


def test_glob_characters_in_the_path_name_that_path_only(tmp_path):
    """TFX passes ExampleGen's input as a glob pattern (the pipeline escapes local paths), and
    Beam's text source globs its path: "[1]" must not read the folder "1"."""
    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml [1]"), num_ratings=30)
    movielens_fixture.write_ml100k(str(tmp_path / "ml 1"), num_ratings=10)  # the decoy
    assert len(_read(glob.escape(folder) + "/*")) == 30
    archive = movielens_fixture.zip_folder(folder, str(tmp_path / "ml*?.zip"))
    assert len(_read(glob.escape(archive))) == 30
    assert example_gen.input_path(glob.escape(folder), "*") == folder
    with pytest.raises(FileNotFoundError, match="matches 0 paths"):
        example_gen.input_path(str(tmp_path / "ml [2]"), "*")
    with pytest.raises(ValueError, match="matches 2 paths"):
        example_gen.input_path(str(tmp_path / "ml*1*"), "*")


def _value(example: tf.train.Example, name: str):
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value)
    return values


def test_folder_and_zip_give_the_same_examples_with_string_ids_and_side_features(tmp_path):
    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=300)
    archive = movielens_fixture.zip_folder(folder, str(tmp_path / "ml-100k.zip"))

    from_folder = _read(folder + "/*")
    from_zip = _read(archive)

    assert len(from_folder) == len(from_zip) == 300
    assert sorted(e.SerializeToString(deterministic=True) for e in from_folder) == \
        sorted(e.SerializeToString(deterministic=True) for e in from_zip)
    example = from_folder[0]
    assert set(example.features.feature) == set(example_records.RAW_FEATURE_SPEC)
    # The features the schema drops for sources without a user file are exactly these.
    assert set(example_records.USER_FEATURE_SPEC) == set(names.USER_SIDE_FEATURES)
    assert _value(example, names.USER_ID)[0].decode().isdigit()  # ids are strings
    assert example.features.feature[names.USER_ID].HasField("bytes_list")
    assert 1.0 <= _value(example, names.USER_RATING)[0] <= 5.0
    titles = {_value(e, names.MOVIE_TITLE)[0].decode("utf-8") for e in from_folder}
    assert "Misérables, Les (1995)" in titles  # latin-1 in u.item, UTF-8 in the example


def _copy_tree(source: str, target: str) -> None:
    for directory, _, files in os.walk(source):
        relative = os.path.relpath(directory, source)
        tf.io.gfile.makedirs(f"{target}/{relative}")
        for name in files:
            tf.io.gfile.copy(os.path.join(directory, name), f"{target}/{relative}/{name}")


def test_remote_filesystems_read_like_local_ones(tmp_path):
    """gs:// and s3:// go through tf.io.gfile; TF's in-memory ram:// filesystem stands in."""
    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=120)
    archive = movielens_fixture.zip_folder(folder, str(tmp_path / "ml-100k.zip"))
    remote = f"ram://movielens-{os.getpid()}"
    _copy_tree(folder, f"{remote}/folder/ml-100k")
    tf.io.gfile.copy(archive, f"{remote}/ml-100k.zip")

    local = sorted(e.SerializeToString(deterministic=True) for e in _read(folder + "/*"))
    for path in (f"{remote}/folder/ml-100k/*", f"{remote}/ml-100k.zip"):
        assert sorted(e.SerializeToString(deterministic=True) for e in _read(path)) == local
    with pytest.raises(FileNotFoundError, match="does not exist"):
        grouplens.locate(f"{remote}/nothing-here")


def test_user_side_features_follow_tfds_conventions(tmp_path):
    folder = movielens_fixture.write_ml100k(str(tmp_path / "d"), num_ratings=200)
    users, errors = grouplens.read_users(grouplens.locate(folder))
    assert not errors
    # Fixture user 1: age 22, gender F (u % 2 == 1 → 'F'), occupation "student".
    user = users["1"]
    assert (user.gender, user.bucketized_age, user.occupation) == (0, 18.0, "student")


def _line_offsets(path: str):
    """Byte offset at which each line of the file starts, by 1-based line number."""
    with open(path, "rb") as f:
        data = f.read()
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    return {number: start for number, start in enumerate(starts, start=1)}


def test_malformed_lines_fail_with_file_and_line_number(tmp_path):
    """A zip member is read by one reader (line numbers); a folder's file in parallel byte
    ranges (byte offsets, since a range reader cannot count the lines before its range)."""
    folder = movielens_fixture.write_ml100k(
        str(tmp_path / "bad"), num_ratings=100,
        extra_rating_lines=["1\t2\tabc\t881250949", "1\t9999\t3\t881250949", "only\ttwo"])
    archive = movielens_fixture.zip_folder(folder, str(tmp_path / "bad.zip"))
    ratings_file = os.path.join(folder, "u.data")
    offsets = _line_offsets(ratings_file)
    for path, ratings, movies, where in (
            (archive, f"{archive}/ml-100k/u.data", "ml-100k/u.item", lambda n: f":{n}"),
            (folder + "/*", ratings_file, "u.item", lambda n: f" (at byte {offsets[n]})")):
        with pytest.raises(Exception) as failure:
            _read(path)
        message = str(failure.value)
        assert "3 malformed line(s)" in message
        assert f"{ratings}{where(101)}: rating 'abc' is not a number" in message
        assert f"{ratings}{where(102)}: movie id 9999 is not in {movies}" in message
        assert f"{ratings}{where(103)}: expected 4 tab-separated fields, got 2" in message


def test_the_ratings_file_is_read_in_byte_ranges_with_exact_offsets(tmp_path):
    """Beam splits the file into ranges; together they hold every line once, each with the
    offset it starts at (this pins the reader's use of Beam's private text source)."""
    from components.movielens_example_gen import parsing

    folder = movielens_fixture.write_ml100k(str(tmp_path / "d"), num_ratings=500)
    path = os.path.join(folder, "u.data")
    source = parsing._TextSourceWithOffsets(path, label=path)
    bundles = list(source.split(desired_bundle_size=1000))
    assert len(bundles) > 5  # the file (~10 kB) is read in many ranges
    lines = [line for bundle in bundles for batch in bundle.source.read(
        bundle.source.get_range_tracker(bundle.start_position, bundle.stop_position))
        for line in batch]
    with open(path, "rb") as f:
        expected = f.read().splitlines()
    assert [raw for _, _, _, raw in lines] == expected
    assert {(name, by_offset) for name, _, by_offset, _ in lines} == {(path, True)}
    offsets = _line_offsets(path)
    assert [offset for _, offset, _, _ in lines] == [
        offsets[n] for n in range(1, len(expected) + 1)]


def test_malformed_lines_within_tolerance_are_reported_and_skipped(tmp_path, caplog):
    folder = movielens_fixture.write_ml100k(
        str(tmp_path / "bad"), num_ratings=100, extra_rating_lines=["1\t2\t7\t881250949"])
    with caplog.at_level("WARNING"):
        examples = _read(folder + "/*", max_malformed_lines=1)
    assert len(examples) == 100
    assert "1 malformed line(s)" in caplog.text
    offset = _line_offsets(os.path.join(folder, "u.data"))[101]
    assert f"u.data (at byte {offset}): rating '7' is outside 1-5" in caplog.text


def test_bad_item_file_line_is_reported(tmp_path):
    folder = movielens_fixture.write_ml100k(str(tmp_path / "d"), num_ratings=50)
    with open(os.path.join(folder, "u.item"), "ab") as f:
        f.write(b"77|Broken title only\n")
    _, errors = grouplens.read_movies(grouplens.locate(folder))
    assert [(e.line_number, e.reason) for e in errors] == [
        (51, "expected 24 '|'-separated fields, got 2")]
    assert errors[0].file == os.path.join(folder, "u.item")


@pytest.mark.parametrize("make_input, message", [
    (lambda tmp: str(tmp / "missing"), "does not exist"),
    (lambda tmp: (tmp / "not.zip").write_text("hello") and str(tmp / "not.zip"),
     "neither a folder nor a zip"),
    (lambda tmp: (tmp / "empty").mkdir() or str(tmp / "empty"), "no known ratings file"),
])
def test_unusable_inputs_are_named_in_the_error(tmp_path, make_input, message):
    path = make_input(tmp_path)
    with pytest.raises((FileNotFoundError, ValueError), match=message) as failure:
        grouplens.locate(path)
    assert path in str(failure.value)


def test_tfds_source_under_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE):
        examples = list(example_records.tfds_ratings("movielens/100k-ratings"))
    assert len(examples) == 20
    for example in examples:
        parsed = tf.io.parse_single_example(example.SerializeToString(),
                                            example_records.RAW_FEATURE_SPEC)
        assert parsed[names.USER_ID].dtype == tf.string
        assert parsed[names.USER_GENDER].numpy() in (0, 1)


def test_ml_1m_format(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Señorita (1999)::Drama\n"
        .encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (folder / "ratings.dat").write_text("1::1::5::978300760\n2::2::3::978302109\n")
    examples = {_value(e, names.USER_ID)[0]: e for e in _read(str(folder) + "/*")}
    assert set(examples) == {b"1", b"2"}
    first = examples[b"1"]
    assert _value(first, names.MOVIE_GENRES) == [3, 4, 5]
    assert _value(first, names.USER_OCCUPATION_TEXT) == [b"K-12 student"]
    assert _value(first, names.BUCKETIZED_USER_AGE) == [1.0]
    assert _value(examples[b"2"], names.MOVIE_TITLE) == ["Señorita (1999)".encode("utf-8")]


def _run_executor(tmp_path, folder: str, **component_args):
    """Runs the executor as TFX would; returns (the Examples artifact, {split: examples})."""
    from tfx.types import standard_artifacts

    component = MovieLensExampleGen(input_base=folder, **component_args)
    exec_properties = dict(component.exec_properties)
    exec_properties["input_base"] = folder
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    example_gen.Executor().Do({}, {"examples": [examples]}, exec_properties)
    written = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*.gz"))
        records = tf.data.TFRecordDataset(files, compression_type="GZIP")
        written[split] = [tf.train.Example.FromString(r.numpy()) for r in records]
    return examples, written


def test_executor_writes_every_rating_once_into_train_and_eval(tmp_path):
    """The executor (its own write, no shuffle) loses and repeats nothing; splits are by hash."""
    from tfx.components.util import examples_utils
    from tfx.types import artifact_utils

    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=400)
    examples, written = _run_executor(tmp_path, folder, train_percent=80)

    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples_utils.get_payload_format_string(examples) == "FORMAT_TF_EXAMPLE"
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    pairs = {split: [(_value(e, names.USER_ID)[0], _value(e, names.MOVIE_ID)[0]) for e in part]
             for split, part in written.items()}
    everything = pairs["train"] + pairs["eval"]
    assert len(everything) == len(set(everything)) == 400
    assert 0.7 < len(pairs["train"]) / 400 < 0.9
    times = {split: [_value(e, names.TIMESTAMP)[0] for e in part]
             for split, part in written.items()}
    assert min(times["eval"]) < max(times["train"])  # a hash split mixes past and future
    # No title is listed twice here: the part for their kept ratings writes no (empty) file,
    # which would leave a reader's worker idle (executor._WriteToTFRecordUnlessEmpty).
    for split in ("train", "eval"):
        files = os.listdir(os.path.join(examples.uri, f"Split-{split}"))
        assert files and all(name.startswith("data_tfrecord-") for name in files), files


def test_the_time_split_puts_every_train_rating_before_every_eval_rating(tmp_path):
    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=400)
    with open(os.path.join(folder, "u.data")) as f:  # a few ratings share one time
        lines = f.read().splitlines()
    tied = [line.rsplit("\t", 1)[0] + "\t888888888" for line in lines[:40]]
    with open(os.path.join(folder, "u.data"), "w") as f:
        f.write("\n".join(tied + lines[40:]) + "\n")
    _, written = _run_executor(tmp_path, folder, train_percent=70, split_by="time")
    times = {split: sorted(_value(e, names.TIMESTAMP)[0] for e in part)
             for split, part in written.items()}
    assert len(times["train"]) + len(times["eval"]) == 400
    assert times["train"][-1] < times["eval"][0]  # nothing in train is later than eval
    everything = sorted(times["train"] + times["eval"])
    assert times["eval"][0] == everything[int(400 * 0.7)]  # the cut-off: the 70 % quantile
    assert 0.6 < len(times["train"]) / 400 <= 0.7  # ties at the cut-off go to eval


def test_a_time_split_cut_off_is_the_train_share_quantile_and_never_empties_train():
    from components.movielens_example_gen import time_split

    assert time_split.cutoff(np.arange(10), 0.8) == 8
    assert time_split.cutoff(np.array([5, 1, 1, 9, 7]), 0.6) == 7  # ties go to eval
    assert time_split.cutoff(np.array([5, 1, 1, 1, 9]), 0.5) == 5  # train would be empty
    with pytest.raises(time_split.TimeSplitError, match="the same timestamp"):
        time_split.cutoff(np.array([3, 3, 3, 3]), 0.5)
    with pytest.raises(ValueError, match="split must be one of"):
        from pipeline.configs import DataConfig
        DataConfig(split="random")


@pytest.mark.parametrize("write", [movielens_fixture.write_ml10m, movielens_fixture.write_csv])
def test_formats_without_a_user_file_give_examples_without_user_features(tmp_path, write):
    """ML-10M and the CSV family: every rating, half stars, quoted titles, no stand-in user
    features; the same examples from the folder (byte ranges) and the zip (one reader)."""
    folder = write(str(tmp_path / "data"), num_ratings=300)
    archive = movielens_fixture.zip_folder(folder, str(tmp_path / "data.zip"), prefix="ml-x/")
    from_folder, from_zip = _read(folder + "/*"), _read(archive)
    assert len(from_folder) == 300
    assert sorted(e.SerializeToString(deterministic=True) for e in from_folder) == \
        sorted(e.SerializeToString(deterministic=True) for e in from_zip)
    assert all(set(e.features.feature) == set(example_records.RATING_FEATURE_SPEC)
               for e in from_folder)
    ratings = {_value(e, names.USER_RATING)[0] for e in from_folder}
    assert any(r != int(r) for r in ratings) and min(ratings) >= 0.5
    if write is movielens_fixture.write_csv:
        titles = {_value(e, names.MOVIE_TITLE)[0].decode() for e in from_folder}
        assert any("," in t for t in titles) and any('"' in t for t in titles)


@pytest.mark.parametrize("with_user", [True, False])
def test_fast_serialization_is_byte_identical_to_the_deterministic_proto(with_user):
    """ExampleGen serializes from cached entries; TFX splits by a hash of these bytes, so they
    must be exactly the tf.train.Example's deterministic serialization (varint lengths from
    one byte to ten, empty and long genre lists, non-ASCII titles, reused movies and users)."""
    import random

    serializer = example_records.ExampleSerializer()
    rng = random.Random(7)
    movies = {str(m): ("Título " * rng.randint(0, 40) + str(m),
                       tuple(rng.sample(range(21), rng.randint(0, 6)))) for m in range(1, 30)}
    for _ in range(2000):
        user_id, movie_id = str(rng.randint(1, 40)), str(rng.randint(1, 29))
        title, genres = movies[movie_id]
        rating = rng.choice([0.5, 1.0, 2.5, 5.0])
        timestamp = rng.choice([0, 1, 127, 128, 16383, 16384, 2**31, 2**63 - 1,
                                rng.randint(0, 2**40)])
        side = (int(user_id) % 2, 25.0, "writer", "0" * rng.randint(0, 150)) if with_user else None
        expected = example_records.make_example(
            user_id, title, rating, timestamp, movie_id, genres, *(side or ())
        ).SerializeToString(deterministic=True)
        assert serializer.serialize(user_id, title, rating, timestamp, movie_id, genres,
                                    side) == expected


def test_a_repeated_rating_is_reported_with_its_user_and_movie(tmp_path):
    folder = movielens_fixture.write_ml100k(
        str(tmp_path / "d"), num_ratings=50, extra_rating_lines=["1\t2\t3\t881250949"] * 2)
    with pytest.raises(Exception, match=r"rated more than once") as failure:
        _read(folder + "/*", max_malformed_lines=5)
    assert "user 1 rated movie 2 " in str(failure.value)


def test_an_id_beyond_31_bits_is_a_malformed_line(tmp_path):
    folder = movielens_fixture.write_ml100k(
        str(tmp_path / "d"), num_ratings=50, extra_rating_lines=["3000000000\t2\t3\t881250949"])
    with pytest.raises(Exception, match="user id 3000000000 is larger than 2147483647"):
        _read(folder + "/*")
    assert len(_read(folder + "/*", max_malformed_lines=1)) == 50


def test_a_byte_order_mark_and_crlf_line_ends_read_like_plain_lines(tmp_path):
    """Spreadsheet exports open with a UTF-8 BOM and end lines with CRLF: every reader (the
    byte-range one, the zip member one) gives the same examples as from the plain files."""
    plain = movielens_fixture.write_ml100k(str(tmp_path / "plain"), num_ratings=120)
    exported = movielens_fixture.write_ml100k(str(tmp_path / "exported"), num_ratings=120)
    for name in ("u.data", "u.user"):
        path = os.path.join(exported, name)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))
    archive = movielens_fixture.zip_folder(exported, str(tmp_path / "exported.zip"))
    expected = sorted(e.SerializeToString(deterministic=True) for e in _read(plain + "/*"))
    assert len(expected) == 120
    for path in (exported + "/*", archive):
        assert sorted(e.SerializeToString(deterministic=True) for e in _read(path)) == expected


def test_a_timestamp_beyond_int64_is_a_malformed_line(tmp_path):
    folder = movielens_fixture.write_ml100k(
        str(tmp_path / "d"), num_ratings=30,
        extra_rating_lines=["1\t2\t3\t9223372036854775808"])
    with pytest.raises(Exception, match=r"timestamp 9223372036854775808 is out of range"):
        _read(folder + "/*")


# (user, movie id, stars, timestamp): movies 2 and 3 are one title under two ids.
_REPEATED_TITLE_RATINGS = [(1, 2, 5, 100), (1, 3, 1, 200),  # later under movie 3: kept
                           (2, 3, 4, 300), (2, 2, 2, 300),  # same second: the larger id kept
                           (3, 2, 3, 50),  # rated once: kept
                           (1, 4, 3, 10)]  # another title
_KEPT = {("1", "3", 1.0), ("2", "3", 4.0), ("3", "2", 3.0), ("1", "4", 3.0)}


def _triples(examples):
    return {(_value(e, names.USER_ID)[0].decode(), _value(e, names.MOVIE_ID)[0].decode(),
             _value(e, names.USER_RATING)[0]) for e in examples}


def test_one_rating_per_user_and_title_the_latest_is_kept(tmp_path, caplog):
    """The model's items are titles: ML-100K lists 18 titles under two movie ids, and a user
    who rated both would count twice (and could be scored in eval on a pair trained on)."""
    folder = movielens_fixture.write_ml100k(str(tmp_path / "d"), num_users=5, num_movies=6,
                                            num_ratings=10)
    with open(os.path.join(folder, "u.item"), "rb") as f:
        items = f.read().splitlines()
    title_of_2 = items[1].split(b"|")[1]
    items[2] = b"|".join([b"3", title_of_2, *items[2].split(b"|")[2:]])
    with open(os.path.join(folder, "u.item"), "wb") as f:
        f.write(b"\n".join(items) + b"\n")
    with open(os.path.join(folder, "u.data"), "w") as f:
        f.write("".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in _REPEATED_TITLE_RATINGS))
    with caplog.at_level("INFO"):
        examples = _read(folder + "/*")
    assert len(examples) == 4 and _triples(examples) == _KEPT
    # One warning line says how many; the log (--verbose) lists them.
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "2 rating(s) of" in warning and "superseded" in warning and "\n" not in warning
    report = caplog.text
    assert "2 rating(s) in" in report and "the latest" in report
    assert f"user 1 rated {title_of_2.decode('latin-1')!r} as movie 2 and, later, as movie 3" \
        in report
    assert "user 2 rated" in report and "as movie 2 and, later, as movie 3" in report
    # The executor writes the ratings of titles listed once and the kept ones of repeated
    # titles as separate files of each split: together, every kept rating once.
    _, written = _run_executor(tmp_path, folder)
    both = written["train"] + written["eval"]
    assert len(both) == len(_KEPT) and _triples(both) == _KEPT


def test_the_tfds_source_keeps_one_rating_per_user_and_title_too(monkeypatch):
    titles = {2: "Twice (1997)", 3: "Twice (1997)", 4: "Once (1995)"}
    ratings = [example_records.make_example(str(u), titles[m], float(r), t, str(m), [1])
               for u, m, r, t in _REPEATED_TITLE_RATINGS]
    monkeypatch.setattr(example_gen, "tfds_ratings", lambda name: iter(ratings))
    output = os.path.join(tempfile.mkdtemp(), "examples")
    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | example_gen._MovieLensToExample(  # pylint: disable=no-value-for-parameter
                 {"input_base": "", example_gen.TFDS_NAME_KEY: "movielens/100k-ratings"}, "*")
             | beam.io.WriteToTFRecord(output))
    examples = [tf.train.Example.FromString(record.numpy())
                for record in tf.data.TFRecordDataset(tf.io.gfile.glob(output + "*"))]
    assert len(examples) == 4 and _triples(examples) == _KEPT
