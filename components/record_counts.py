"""Record counts reconciled stage by stage: what ExampleGen read, dropped and wrote, and each
later stage's check that it consumed exactly that.

Why: a stage that silently loses part of its input (a bundle lost in Beam's multi-process data
plane, a worker's output not committed) shrinks every later stage consistently, and the run
still succeeds; at 10M ratings Transform once analyzed 843 users fewer than it was given.
ExampleGen records its counts on its Examples artifact (`names.RECORD_COUNTS_KEY`, JSON: in
MLMD, on the console and in the report); StatisticsGen (checked by AnomaliesGate), Transform,
the Trainer and the Evaluator each compare what they consumed with it, and a difference stops
the run, naming the stage, the split and both counts (`models.data.RecordCountError`). The
checks live in the components' executors, so they hold wherever the components run.
"""

import dataclasses
import json
from typing import Dict, Iterable, Mapping, Optional, Sequence

from absl import logging
from tfx import types

import names
from models.data import RecordCountError, check_count

__all__ = ["FileCount", "RecordCounts", "RecordCountError", "check_count", "read_counts",
           "write_counts", "expected_examples"]


@dataclasses.dataclass(frozen=True)
class FileCount:
    """One input file: its lines, those skipped (blank, a header) and those malformed."""

    lines: int
    skipped: int = 0
    malformed: int = 0

    @property
    def used(self) -> int:
        return self.lines - self.skipped - self.malformed


@dataclasses.dataclass(frozen=True)
class RecordCounts:
    """What one ExampleGen run read, dropped and wrote.

    `files`: per input file (its label: the archive member or path; `tfds:<name>` for TFDS).
    `ratings`: the ratings parsed from the ratings file. `superseded`: dropped by the rule of one
    rating per (user, title) (`repeated_titles`). `splits`: the examples written per split.
    `users` / `titles`: the distinct user ids and titles of the examples written, which
    Transform's vocabularies must hold exactly.
    """

    files: Mapping[str, FileCount]
    ratings: int
    superseded: int
    splits: Mapping[str, int]
    users: int
    titles: int

    @property
    def examples(self) -> int:
        return sum(self.splits.values())

    @property
    def malformed(self) -> int:
        return sum(count.malformed for count in self.files.values())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RecordCounts":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Mapping) -> "RecordCounts":
        """From `dataclasses.asdict` of one (what run_summary.json holds)."""
        return cls(files={name: FileCount(**count) for name, count in data["files"].items()},
                   ratings=data["ratings"], superseded=data["superseded"],
                   splits=dict(data["splits"]), users=data["users"], titles=data["titles"])

    def summary(self) -> str:
        """One line, e.g. `100,000 ratings parsed; dropped: 307 superseded, 0 malformed
        line(s); written: eval 19,901, train 79,792; 943 users, 1,664 titles`."""
        written = ", ".join(f"{split} {count:,}" for split, count in sorted(self.splits.items()))
        return (f"{self.ratings:,} ratings parsed; dropped: {self.superseded:,} superseded, "
                f"{self.malformed:,} malformed line(s); written: {written}; {self.users:,} "
                f"users, {self.titles:,} titles")


def write_counts(examples: types.Artifact, counts: RecordCounts) -> None:
    examples.set_string_custom_property(names.RECORD_COUNTS_KEY, counts.to_json())


def read_counts(examples: types.Artifact) -> Optional[RecordCounts]:
    """The counts ExampleGen recorded on `examples`, or None for an artifact without them."""
    if not examples.has_custom_property(names.RECORD_COUNTS_KEY):
        return None
    return RecordCounts.from_json(examples.get_string_custom_property(names.RECORD_COUNTS_KEY))


def expected_examples(artifacts: Iterable[types.Artifact], splits: Sequence[str]
                      ) -> Optional[int]:
    """The examples of `splits` in all of `artifacts` together, as ExampleGen recorded them;
    None (with a warning) when one artifact has no counts (written by an older version)."""
    total = 0
    for artifact in artifacts:
        counts = read_counts(artifact)
        if counts is None:
            logging.warning("Examples artifact %s has no record counts: its consumers' counts "
                            "are not reconciled", artifact.uri)
            return None
        missing = [split for split in splits if split not in counts.splits]
        if missing:
            raise RecordCountError(f"ExampleGen recorded no count of split(s) {missing} of "
                                   f"{artifact.uri} (it has {sorted(counts.splits)})")
        total += sum(counts.splits[split] for split in splits)
    return total


def check_split_counts(stage: str, consumed: Dict[str, int],
                       artifacts: Sequence[types.Artifact]) -> None:
    """RecordCountError unless `stage` consumed, per split, what `artifacts` recorded."""
    for split, count in sorted(consumed.items()):
        recorded = expected_examples(artifacts, [split])
        if recorded is not None:
            check_count(stage, split, count, recorded)
        logging.info("%s read %s examples of split '%s'%s", stage, f"{count:,}", split,
                     "" if recorded is None else ": as ExampleGen wrote")
