"""One rating per (user, title): the model's items are titles, and a catalog can list one
title under several movie ids (ML-100K: 18 titles under two ids each, 307 (user, title) pairs
rated under both).

Two ratings of one title by one user would count twice in training and could land one in train
and the other in eval, where TFMA would score the model on a pair it was trained on. The rule:
**keep the user's latest rating of the title** (the larger timestamp; on a tie, the larger
movie id) and drop the others, each counted and logged by ExampleGen. Only ratings of titles
listed under more than one id are grouped (a few thousand at ML-100K), so the rule costs
nothing at scale for a catalog without repeated titles.

Elements: a rating of a repeated title travels as
`((user_id, title), (timestamp, movie_id, serialized tf.Example))`.
"""

import dataclasses
from typing import Iterable, Iterator, List, Tuple

import apache_beam as beam

REPEATED_TITLE = "repeated_title"  # the tagged output of ratings whose title has several ids
SUPERSEDED = "superseded"  # the tagged output of the ratings the rule dropped


@dataclasses.dataclass(frozen=True, order=True)
class Superseded:
    """A rating dropped because the user rated the same title later under another id."""

    user_id: str
    title: str
    movie_id: int
    kept_movie_id: int

    def __str__(self) -> str:
        return (f"user {self.user_id} rated {self.title!r} as movie {self.movie_id} and, "
                f"later, as movie {self.kept_movie_id}")


def ids_of_repeated_titles(movie_titles: beam.PCollection, step: str) -> beam.PCollection:
    """(movie id, title) pairs → (movie id, title) of the titles listed under several ids."""

    def repeated(keyed: Tuple[str, Iterable[str]]) -> Iterator[Tuple[str, str]]:
        title, movie_ids = keyed
        movie_ids = sorted(set(movie_ids))
        if len(movie_ids) > 1:
            yield from ((movie_id, title) for movie_id in movie_ids)

    return (movie_titles
            | f"ByTitle{step}" >> beam.Map(lambda pair: (pair[1], pair[0]))
            | f"GroupTitles{step}" >> beam.GroupByKey()
            | f"Repeated{step}" >> beam.FlatMap(repeated))


class KeepLatest(beam.DoFn):
    """((user, title), ratings) → the latest rating's tf.Example; the others → SUPERSEDED."""

    def process(self, keyed: Tuple[Tuple[str, str], Iterable[Tuple[int, int, bytes]]]
                ) -> Iterator[object]:
        (user_id, title), ratings = keyed
        ordered = sorted(ratings, key=lambda rating: rating[:2])
        latest = ordered[-1]
        yield latest[2]
        for _, movie_id, _ in ordered[:-1]:
            yield beam.pvalue.TaggedOutput(SUPERSEDED,
                                           Superseded(user_id, title, movie_id, latest[1]))


def keep_latest(repeated: beam.PCollection) -> Tuple[beam.PCollection, beam.PCollection]:
    """(serialized tf.Examples kept, `Superseded` records) of the repeated-title ratings."""
    kept = (repeated | "GroupUserTitle" >> beam.GroupByKey()
            | "KeepLatest" >> beam.ParDo(KeepLatest()).with_outputs(SUPERSEDED, main="kept"))
    return kept.kept, kept[SUPERSEDED]


def format_superseded(count: int, records: List[Superseded], source: str) -> str:
    shown = "\n".join(f"  {record}" for record in records)
    more = f"\n  ... and {count - len(records)} more" if count > len(records) else ""
    return (f"{count} rating(s) in {source} dropped: the same user rated the same title later "
            f"under another movie id (one rating per user and title is kept, the latest):\n"
            f"{shown}{more}")
