"""Record counts: ExampleGen records what it read, dropped and wrote, and a stage that loses
records stops with an error naming the stage, the split and both counts."""

import os

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

import names
from components import record_counts
from components.movielens_example_gen import executor as example_gen
from components.movielens_example_gen.component import MovieLensExampleGen
from tests import movielens_fixture


def _run_example_gen(tmp_path, folder: str, beam_args=(), **component_args):
    component = MovieLensExampleGen(input_base=folder, **component_args)
    exec_properties = dict(component.exec_properties)
    exec_properties["input_base"] = folder
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    example_gen.Executor(example_gen.Executor.Context(beam_pipeline_args=list(beam_args))).Do(
        {}, {"examples": [examples]}, exec_properties)
    return examples


def _written(examples, split: str) -> int:
    files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*.gz"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _with_repeated_title(folder: str) -> None:
    """Movie 3 gets movie 2's title: each user who rated both keeps one rating of it."""
    with open(os.path.join(folder, "u.item"), "rb") as f:
        items = f.read().splitlines()
    items[2] = b"|".join([b"3", items[1].split(b"|")[1], *items[2].split(b"|")[2:]])
    with open(os.path.join(folder, "u.item"), "wb") as f:
        f.write(b"\n".join(items) + b"\n")


def test_example_gen_records_what_it_read_dropped_and_wrote(tmp_path):
    folder = movielens_fixture.write_ml100k(
        str(tmp_path / "d"), num_users=30, num_movies=40, num_ratings=300,
        extra_rating_lines=["1\t2\t7\t881250949"])
    _with_repeated_title(folder)
    examples = _run_example_gen(tmp_path, folder, max_malformed_lines=1)
    counts = record_counts.read_counts(examples)

    ratings_file = counts.files[f"{folder}/u.data"]
    assert (ratings_file.lines, ratings_file.malformed, ratings_file.skipped) == (301, 1, 0)
    assert counts.ratings == 300
    assert counts.superseded > 0  # users who rated movie 2 and movie 3
    assert counts.splits == {"train": _written(examples, "train"),
                             "eval": _written(examples, "eval")}
    assert counts.examples == 300 - counts.superseded
    with open(os.path.join(folder, "u.data")) as f:
        rows = [line.split("\t") for line in f.read().splitlines()[:300]]
    assert counts.users == len({user for user, *_ in rows})
    assert counts.titles == len({"2" if movie == "3" else movie for _, movie, *_ in rows})
    assert counts.files[f"{folder}/u.item"].lines == 40
    # The one line summary names the drops and the splits.
    assert f"{counts.superseded:,} superseded, 1 malformed" in counts.summary()


_COUNT_WRITTEN = example_gen._CountWritten  # the test replaces the module's name


class DropFirstTrainBundle(_COUNT_WRITTEN):
    """The writer's counter, in a worker that loses the first train bundle it gets."""

    def setup(self):
        _COUNT_WRITTEN.setup(self)
        self._dropping = self._name.endswith(":train")

    def finish_bundle(self):
        self._dropping = False

    def process(self, example):
        if not self._dropping:
            yield from _COUNT_WRITTEN.process(self, example)


def test_a_bundle_lost_before_the_writer_stops_example_gen(tmp_path, monkeypatch):
    """A stage made to drop one bundle of examples: the counts no longer balance and the run
    stops, naming the stage and both counts (nothing is recorded as written)."""
    folder = movielens_fixture.write_ml100k(str(tmp_path / "d"), num_ratings=400)

    monkeypatch.setattr(example_gen, "_CountWritten", DropFirstTrainBundle)
    with pytest.raises(record_counts.RecordCountError) as error:
        _run_example_gen(tmp_path, folder)
    message = str(error.value)
    assert "ExampleGen's writers" in message and "all splits" in message
    assert "ExampleGen" in message and "400" in message


@pytest.mark.parametrize("beam_args", [
    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]])
def test_example_gen_under_multi_processing_reconciles(tmp_path, beam_args):
    """Beam's multi-process DirectRunner (what --beam-workers 2 asks for): the ratings file is
    read in byte ranges by two worker processes, and the books still balance."""
    folder = movielens_fixture.write_ml100k(str(tmp_path / "d"), num_users=100, num_movies=80,
                                            num_ratings=3000)
    examples = _run_example_gen(tmp_path, folder, beam_args=beam_args)
    counts = record_counts.read_counts(examples)
    assert counts.ratings == 3000 == counts.examples
    assert counts.splits["train"] == _written(examples, "train")
    assert counts.files[f"{folder}/u.data"].lines == 3000


def test_counts_survive_mlmd_as_json():
    counts = record_counts.RecordCounts(
        files={"a/u.data": record_counts.FileCount(10, 1, 2)}, ratings=7, superseded=1,
        splits={"train": 5, "eval": 1}, users=3, titles=4)
    examples = standard_artifacts.Examples()
    record_counts.write_counts(examples, counts)
    assert examples.get_string_custom_property(names.RECORD_COUNTS_KEY)
    assert record_counts.read_counts(examples) == counts
    assert record_counts.expected_examples([examples, examples], ["train"]) == 10
    assert record_counts.expected_examples([standard_artifacts.Examples()], ["train"]) is None
    with pytest.raises(record_counts.RecordCountError, match="Trainer read 4 examples of "
                       "split 'train' but ExampleGen recorded 5"):
        record_counts.check_split_counts("Trainer", {"train": 4}, [examples])
