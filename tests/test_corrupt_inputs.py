"""A corpus of corrupt MovieLens inputs: each fails clearly, naming what is wrong, and none
loses a line silently. The figures in docs/reliability.md come from this file."""

import os
import re

import pytest

from tests import movielens_fixture
from tests.test_example_gen import _read

GOOD_RATINGS = 100


def _dataset(tmp_path, extra_rating_lines=None):
    return movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=GOOD_RATINGS,
                                          extra_rating_lines=extra_rating_lines)


def _edited(file: str, data: bytes, mode: str):
    """A maker of a good dataset whose `file` is then rewritten ("wb") or appended to ("ab")."""
    def make(tmp_path):
        folder = _dataset(tmp_path)
        with open(os.path.join(folder, file), mode) as f:
            f.write(data)
        return folder
    return make


def _missing_column(tmp_path):
    return _dataset(tmp_path, ["1\t2\t3"])


def _extra_column(tmp_path):
    return _dataset(tmp_path, ["1\t2\t3\t881250949\t5"])


def _rating(value):
    return lambda tmp_path: _dataset(tmp_path, [f"1\t2\t{value}\t881250949"])


_empty_ratings = _edited("u.data", b"", "wb")
_header_only = _edited("u.data", b"user_id\titem_id\trating\ttimestamp\n", "wb")
_truncated_last_line = _edited("u.data", b"7\t3", "ab")  # no rating, timestamp nor newline
_non_utf8_ratings = _edited("u.data", b"1\t2\t3\t8812\xff0949\n", "ab")
_utf8_title_in_latin1_items = _edited(
    "u.item", ("51|Amélie (2001)|01-Jan-2001||http://example.invalid/51|"
               + "|".join(["0"] * 18 + ["1"]) + "\n").encode("utf-8"), "ab")


def _duplicate_rows(tmp_path):
    folder = _dataset(tmp_path)
    with open(os.path.join(folder, "u.data"), "rb") as f:
        first = f.readline()
    with open(os.path.join(folder, "u.data"), "ab") as f:
        f.write(first)
    return folder


def _unknown_movie(tmp_path):
    return _dataset(tmp_path, ["1\t9999\t3\t881250949"])


def _unknown_user(tmp_path):
    return _dataset(tmp_path, ["9999\t2\t3\t881250949"])


def _missing_user_file(tmp_path):
    folder = _dataset(tmp_path)
    os.remove(os.path.join(folder, "u.user"))
    return folder


def _not_a_zip(tmp_path):
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(b"PK but not really a zip archive")
    return str(path)


def _truncated_zip(tmp_path):
    archive = movielens_fixture.zip_folder(_dataset(tmp_path), str(tmp_path / "ml-100k.zip"))
    with open(archive, "rb") as f:
        data = f.read()
    with open(archive, "wb") as f:
        f.write(data[: len(data) // 2])
    return archive


def _zip_with_central_directory(tmp_path, edit):
    """A good zip whose central directory entries are rewritten by `edit(data, offset)`."""
    import struct

    archive = movielens_fixture.zip_folder(_dataset(tmp_path), str(tmp_path / "ml-100k.zip"))
    with open(archive, "rb") as f:
        data = bytearray(f.read())
    end = data.rfind(b"PK\x05\x06")  # end of central directory record
    offset = struct.unpack("<I", data[end + 16:end + 20])[0]  # where the directory starts
    edit(data, offset)
    with open(archive, "wb") as f:
        f.write(bytes(data))
    return archive


def _damaged_central_directory(tmp_path):
    def overwrite_first_entry(data, offset):
        data[offset:offset + 4] = b"XXXX"
    return _zip_with_central_directory(tmp_path, overwrite_first_entry)


def _encrypted_member(tmp_path):
    def flag_every_entry_encrypted(data, offset):
        while data[offset:offset + 4] == b"PK\x01\x02":
            data[offset + 8] |= 0x1  # general purpose flag bit 0: encrypted
            name, extra, comment = (int.from_bytes(data[offset + i:offset + i + 2], "little")
                                    for i in (28, 30, 32))
            offset += 46 + name + extra + comment
    return _zip_with_central_directory(tmp_path, flag_every_entry_encrypted)


def _line_without_break(size):
    """100 MB with no line break (measured: 4.5 s, 1.2 GB peak for the whole test process)."""
    return _edited("u.data", b"1" * size, "ab")


def _zip_line_without_break(tmp_path):
    folder = _line_without_break(5_000_000)(tmp_path)
    return movielens_fixture.zip_folder(folder, str(tmp_path / "ml-100k.zip"))


def _missing_path(tmp_path):
    return str(tmp_path / "no-such-folder")


# name → (how to make it, what the error must say)
CORPUS = {
    "missing column": (_missing_column, "expected 4 tab-separated fields, got 3"),
    "extra column": (_extra_column, "expected 4 tab-separated fields, got 5"),
    "rating 0": (_rating("0"), "rating '0' is outside 1-5"),
    "rating 7": (_rating("7"), "rating '7' is outside 1-5"),
    "rating abc": (_rating("abc"), "rating 'abc' is not a number"),
    "empty ratings file": (_empty_ratings, "holds no usable rating"),
    "header-only ratings file": (_header_only, "user id 'user_id' is not a number"),
    "truncated last line": (_truncated_last_line, "expected 4 tab-separated fields, got 2"),
    "non-UTF-8 bytes": (_non_utf8_ratings, "not valid utf-8"),
    "mixed encodings": (_utf8_title_in_latin1_items, "UTF-8 text in a latin-1 file"),
    "duplicate rows": (_duplicate_rows, "rated more than once"),
    "movie id not in the item file": (_unknown_movie, "movie id 9999 is not in u.item"),
    "user id not in the user file": (_unknown_user, "user id 9999 is not in u.user"),
    "user file missing": (_missing_user_file, "lacks u.user"),
    "zip that is not a zip": (_not_a_zip, "neither a folder nor a zip archive"),
    "truncated zip": (_truncated_zip, "is a damaged zip archive"),
    "damaged zip central directory": (_damaged_central_directory, "is a damaged zip archive"),
    "encrypted zip member": (_encrypted_member, "has encrypted members (ml-100k/u.data"),
    "100 MB line without a line break": (_line_without_break(100_000_000),
                                         "line longer than 1,048,576 bytes"),
    "5 MB line without a line break, in a zip": (_zip_line_without_break,
                                                 "u.data:101: line longer than 1,048,576"),
    "path that does not exist": (_missing_path, "does not exist"),
}


def _source(path: str) -> str:
    """What ExampleGen reads: `<folder>/*` for a folder, the archive itself for a zip."""
    return path + "/*" if os.path.isdir(path) else path


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_each_corrupt_input_fails_naming_the_problem(tmp_path, case):
    make, message = CORPUS[case]
    path = make(tmp_path)
    with pytest.raises(Exception) as failure:
        _read(_source(path))
    assert message in str(failure.value), str(failure.value)
    assert len(str(failure.value)) < 2000  # a line's text is cut short, never echoed whole


def test_tolerated_lines_are_all_accounted_for(tmp_path, caplog):
    """With a tolerance, every input line is either an example or a reported malformed line."""
    bad = ["1\t2\t3", "1\t2\t3\t881250949\t5", "1\t2\t0\t881250949", "1\t2\tabc\t881250949",
           "9999\t2\t3\t881250949", "1\t9999\t3\t881250949", "7\t3"]
    folder = _dataset(tmp_path, bad)
    with caplog.at_level("WARNING"):
        examples = _read(folder + "/*", max_malformed_lines=len(bad))
    assert re.search(rf"(?<!\d){len(bad)} malformed line\(s\)", caplog.text)  # not "17 ..."
    assert len(examples) + len(bad) == GOOD_RATINGS + len(bad)  # silent losses: 0


@pytest.mark.pipeline
def test_a_corrupt_input_stops_the_pipeline_and_pushes_nothing(tmp_path, pipeline_config):
    import dataclasses

    import local_runner
    from pipeline import configs

    config = dataclasses.replace(
        pipeline_config, output_dir=str(tmp_path / "out"),
        data=configs.DataConfig(source=_rating("7")(tmp_path)))
    # The output folder of an earlier run: its summary, and a model it served.
    served = os.path.join(config.serving_dir, "1")
    os.makedirs(served)
    with open(os.path.join(served, "saved_model.pb"), "wb") as f:
        f.write(b"the served model")
    summary = os.path.join(config.output_dir, local_runner.SUMMARY_FILE)
    with open(summary, "w") as f:
        f.write('{"blessed": true}')
    with pytest.raises(Exception, match="rating '7' is outside 1-5"):
        local_runner.run(config)
    # The stale summary is gone (it must not look like this run's); serving is untouched.
    assert not os.path.exists(summary)
    # The report says where and why the run stopped.
    with open(os.path.join(config.output_dir, "report.html"), encoding="utf-8") as f:
        report = f.read()
    assert "The run stopped in MovieLensExampleGen" in report
    assert "rating &#x27;7&#x27; is outside 1-5" in report
    assert os.listdir(os.path.dirname(served)) == ["1"]
    assert os.listdir(served) == ["saved_model.pb"]


@pytest.mark.pipeline
def test_a_data_error_ends_the_run_with_an_error_block_not_a_traceback(tmp_path, capsys):
    """`python local_runner.py` on bad data: exit status 1 and one `error:` block naming file,
    byte offset and problem; `--verbose` lets the exception (and its traceback) through."""
    import local_runner

    data = _rating("7")(tmp_path)
    argv = ["--data", data, "--output-dir", str(tmp_path / "out"), "--epochs", "1"]
    assert local_runner.main(argv) == 1
    block = capsys.readouterr().err.split("error: ", 1)[1]
    assert block.startswith("1 malformed line(s) in ")
    assert "u.data (at byte " in block and "rating '7' is outside 1-5" in block
    assert "Traceback" not in block and "[while running" not in block
    with pytest.raises(Exception, match="rating '7' is outside 1-5"):
        local_runner.main(argv + ["--verbose"])


def test_a_data_error_from_a_worker_process_is_recognised_from_its_text():
    """A DirectRunner worker process sends its exception back as traceback text."""
    from runner.errors import data_error_message

    text = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
            "components.movielens_example_gen.executor.MalformedDataError: 2 malformed line(s) "
            "in data:\n  data/u.data (at byte 10): rating '7' is outside 1-5 "
            "[while running 'InputToRecord/CheckInput']")
    assert data_error_message(RuntimeError(text)) == (
        "2 malformed line(s) in data:\n  data/u.data (at byte 10): rating '7' is outside 1-5")
    assert data_error_message(RuntimeError("a bug")) is None
