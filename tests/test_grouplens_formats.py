"""The GroupLens reader on every release's format: 100k, 1m, 10m and the CSV family (20m, 25m,
latest), from a folder and from a zip, one line at a time. Small generated files only."""

import os
import re

import pytest

from movielens import grouplens
from tests import movielens_fixture

WRITERS = {  # format → (fixture writer, the archive's folder name)
    "100k": (movielens_fixture.write_ml100k, "ml-100k"),
    "1m": (movielens_fixture.write_ml1m, "ml-1m"),
    "10m": (movielens_fixture.write_ml10m, "ml-10M100K"),
    "csv": (movielens_fixture.write_csv, "ml-25m"),
}


def _dataset(tmp_path, fmt: str, as_zip: bool, **kwargs) -> str:
    write, folder_name = WRITERS[fmt]
    folder = write(str(tmp_path / folder_name), num_ratings=300, **kwargs)
    if not as_zip:
        return folder
    return movielens_fixture.zip_folder(folder, str(tmp_path / f"{folder_name}.zip"),
                                        prefix=f"{folder_name}/")


def _ratings(layout):
    """Every rating of the file; fails on the first malformed line, naming it."""
    records = [record for _, record in grouplens.read_ratings(layout)]
    bad = [str(r) for r in records if isinstance(r, grouplens.MalformedLine)]
    assert not bad, bad
    return records


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_format_reads_from_a_folder_and_a_zip(tmp_path, fmt, as_zip):
    layout = grouplens.locate(_dataset(tmp_path, fmt, as_zip))
    assert layout.format == fmt
    assert (layout.zip_path is not None) == as_zip
    movies, movie_errors = grouplens.read_movies(layout)
    users, user_errors = grouplens.read_users(layout)
    assert (movie_errors, user_errors) == ([], [])
    assert len(movies) == 50
    assert len(users) == (30 if fmt in ("100k", "1m") else 0)
    assert "Misérables, Les (1995)" in {m.title for m in movies.values()}  # whatever the encoding
    ratings = _ratings(layout)
    assert len(ratings) == 300
    assert all(r.movie_id in movies for r in ratings)
    assert all(r.user_id in users for r in ratings) or not users
    half = any(not r.rating.is_integer() for r in ratings)
    assert half == (fmt in ("10m", "csv"))


@pytest.mark.parametrize("fmt, users_file", [("10m", False), ("csv", False), ("1m", True)])
def test_formats_without_a_user_file_have_no_users(tmp_path, fmt, users_file):
    layout = grouplens.locate(_dataset(tmp_path, fmt, as_zip=False))
    assert (layout.users is not None) == users_file
    assert (layout.users_encoding is not None) == users_file
    if not users_file:
        assert grouplens.read_users(layout) == ({}, [])
        with pytest.raises(ValueError, match=f"MovieLens {fmt} has no user file"):
            grouplens.parse_user(fmt, "1::F::1::10::48067")


def test_csv_titles_with_commas_and_quotes_round_trip(tmp_path):
    layout = grouplens.locate(_dataset(tmp_path, "csv", as_zip=True))
    titles = {m.title for m in grouplens.read_movies(layout)[0].values()}
    assert set(movielens_fixture.QUOTED_TITLES) <= titles
    movie = grouplens.parse_movie("csv", '2,"Shawshank ""Redemption"" (1994)",Crime|Drama')
    assert (movie.movie_id, movie.title) == ("2", 'Shawshank "Redemption" (1994)')
    assert movie.genres == (grouplens.GENRES.index("Crime"), grouplens.GENRES.index("Drama"))


@pytest.mark.parametrize("text, message", [
    ('1,"Unterminated (1995),Drama', "bad CSV quoting"),
    ("1,American President, The (1995),Comedy", "expected 3 comma-separated fields, got 4"),
    ("x,Title (1995),Drama", "movie id 'x' is not a number"),
    ("1,Title (1995),Cartoon", "unknown genre 'Cartoon'"),
])
def test_bad_csv_movie_lines_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        grouplens.parse_movie("csv", text)


def test_header_lines_are_skipped_and_recognised_by_content(tmp_path):
    layout = grouplens.locate(_dataset(tmp_path, "csv", as_zip=False))
    assert layout.has_header
    numbers = [number for number, _ in grouplens.read_lines(layout, layout.ratings)]
    assert numbers[0] == 2 and len(numbers) == 300  # line 1, the header, is not data
    assert grouplens.is_header("csv", movielens_fixture.CSV_RATINGS_HEADER)
    assert grouplens.is_header("csv", "\ufeffmovieId, title, genres")  # BOM, spaces
    assert not grouplens.is_header("csv", "1,2,3.5,1147880044")
    assert not grouplens.is_header("100k", "user_id\titem_id\trating\ttimestamp")
    assert not grouplens.locate(_dataset(tmp_path / "old", "1m", as_zip=False)).has_header


def test_a_header_line_anywhere_but_first_is_malformed(tmp_path):
    folder = _dataset(tmp_path, "csv", as_zip=False,
                      extra_rating_lines=[movielens_fixture.CSV_RATINGS_HEADER])
    layout = grouplens.locate(folder)
    bad = [r for _, r in grouplens.read_ratings(layout) if isinstance(r, grouplens.MalformedLine)]
    assert [(b.line_number, b.reason) for b in bad] == [(302, "user id 'userId' is not a number")]


def test_a_csv_file_without_its_header_still_reads(tmp_path):
    folder = _dataset(tmp_path, "csv", as_zip=False)
    path = os.path.join(folder, "ratings.csv")
    with open(path) as f:
        lines = f.readlines()[1:]
    with open(path, "w") as f:
        f.writelines(lines)
    assert len(_ratings(grouplens.locate(folder))) == 300


@pytest.mark.parametrize("fmt, text, stars", [
    ("10m", "1::122::5::838985046", 5.0),
    ("10m", "1::122::3.5::838985046", 3.5),
    ("csv", "1,296,0.5,1147880044", 0.5),
    ("csv", "1,296,4.5,1147880044", 4.5),
    ("1m", "1::1193::5::978300760", 5.0),
    ("100k", "196\t242\t3\t881250949", 3.0),
])
def test_ratings_parse_in_each_format(fmt, text, stars):
    rating = grouplens.parse_rating(fmt, text)
    assert rating.rating == stars
    assert rating.user_id.isdigit() and rating.movie_id.isdigit() and rating.timestamp > 0


@pytest.mark.parametrize("fmt, text, message", [
    ("csv", "1,2,4.3,1147880044", "rating '4.3' is not a multiple of 0.5"),
    ("csv", "1,2,0,1147880044", "rating '0' is outside 0.5-5.0"),
    ("csv", "1,2,5.5,1147880044", "rating '5.5' is outside 0.5-5.0"),
    ("csv", "1,2,nan,1147880044", "rating 'nan' is outside 0.5-5.0"),
    ("10m", "1::2::0.25::838985046", "rating '0.25' is outside 0.5-5.0"),
    ("10m", "1::2::4.3::838985046", "rating '4.3' is not a multiple of 0.5"),
    ("1m", "1::2::3.5::978300760", "rating '3.5' is not a whole number of stars"),
    ("100k", "1\t2\t0.5\t881250949", "rating '0.5' is outside 1-5"),
    ("csv", "1,2,4.0", "expected 4 comma-separated fields, got 3"),
    ("10m", "1::2::4.0", "expected 4 '::'-separated fields, got 3"),
    ("csv", "1,2,four,1147880044", "rating 'four' is not a number"),
])
def test_bad_ratings_say_what_is_wrong(fmt, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        grouplens.parse_rating(fmt, text)


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_malformed_lines_are_reported_with_file_and_line(tmp_path, as_zip):
    path = _dataset(tmp_path, "csv", as_zip, extra_rating_lines=["1,2,4.3,1147880044", "1,2"],
                    extra_movie_lines=['99,"Broken (1995),Drama'])
    layout = grouplens.locate(path)
    bad = [str(r) for _, r in grouplens.read_ratings(layout)
           if isinstance(r, grouplens.MalformedLine)]
    ratings_file = grouplens.label(layout, layout.ratings)
    assert ratings_file.endswith("ml-25m/ratings.csv")
    assert bad == [f"{ratings_file}:302: rating '4.3' is not a multiple of 0.5: "
                   "'1,2,4.3,1147880044'",
                   f"{ratings_file}:303: expected 4 comma-separated fields, got 2: '1,2'"]
    _, movie_errors = grouplens.read_movies(layout)
    assert [(e.file, e.line_number) for e in movie_errors] == [
        (grouplens.label(layout, layout.movies), 52)]  # header + 50 movies, then this one
    assert "bad CSV quoting" in movie_errors[0].reason


def test_utf8_files_refuse_other_bytes_naming_the_line(tmp_path):
    folder = _dataset(tmp_path, "csv", as_zip=False)
    with open(os.path.join(folder, "movies.csv"), "ab") as f:
        f.write("99,Señor (1999),Drama\n".encode("latin-1"))
    _, errors = grouplens.read_movies(grouplens.locate(folder))
    assert [(e.line_number, e.reason[:15]) for e in errors] == [(52, "not valid utf-8")]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_ml10m_movies_read_in_either_encoding(tmp_path, encoding):
    layout = grouplens.locate(_dataset(tmp_path, "10m", as_zip=False, movies_encoding=encoding))
    movies, errors = grouplens.read_movies(layout)
    assert not errors
    assert {"Misérables, Les (1995)", "Città delle donne, La (1980)", "Señorita (1999)"} <= \
        {m.title for m in movies.values()}


def test_ml1m_still_refuses_utf8_in_its_latin1_movies(tmp_path):
    folder = _dataset(tmp_path, "1m", as_zip=False)
    with open(os.path.join(folder, "movies.dat"), "ab") as f:
        f.write("99::Amélie (2001)::Comedy\n".encode("utf-8"))
    _, errors = grouplens.read_movies(grouplens.locate(folder))
    assert [e.reason[:26] for e in errors] == ["UTF-8 text in a latin-1 fi"]


def test_genres_follow_tfds(tmp_path):
    """TFDS keeps IMAX and "(no genres listed)" as genres and spells Children's "Children";
    the indices of the 19 ML-100K genres do not move."""
    assert grouplens.GENRES[:19] == (
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
        "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
        "Romance", "Sci-Fi", "Thriller", "War", "Western")
    imax = grouplens.parse_movie("csv", "1,Fantasia 2000 (1999),Animation|IMAX")
    assert imax.genres == (3, grouplens.GENRES.index("IMAX"))
    none = grouplens.parse_movie("10m", "8606::Pull My Daisy (1958)::(no genres listed)")
    assert [grouplens.GENRES[g] for g in none.genres] == ["(no genres listed)"]
    children = grouplens.parse_movie("10m", "1::Toy Story (1995)::Children|Comedy")
    assert children.genres == (4, 5)


def _folder(tmp_path, *names: str) -> str:
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return str(tmp_path)


@pytest.mark.parametrize("files, fmt", [
    (("ml-100k/u.data", "ml-100k/u.item", "ml-100k/u.user", "ml-100k/u.genre"), "100k"),
    (("ml-1m/ratings.dat", "ml-1m/movies.dat", "ml-1m/users.dat"), "1m"),
    (("ratings.dat", "movies.dat", "users.dat"), "1m"),
    (("ml-10M100K/ratings.dat", "ml-10M100K/movies.dat", "ml-10M100K/tags.dat"), "10m"),
    (("ml-25m/ratings.csv", "ml-25m/movies.csv", "ml-25m/tags.csv", "ml-25m/links.csv",
      "ml-25m/genome-scores.csv", "ml-25m/genome-tags.csv"), "csv"),
    (("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv"), "csv"),
])
def test_locate_detects_the_format(tmp_path, files, fmt):
    assert grouplens.locate(_folder(tmp_path, *files)).format == fmt


@pytest.mark.parametrize("files, message", [
    (("ml-25m/ratings.csv", "ml-25m/tags.csv"), "MovieLens csv data {} has ratings.csv but "
                                                "lacks movies.csv"),
    (("ml-25m/movies.csv",), "has movies.csv but lacks ratings.csv"),
    (("ml-10M100K/ratings.dat",), "MovieLens 10m data {} has ratings.dat but lacks movies.dat"),
    (("ml-1m/ratings.dat", "ml-1m/movies.dat"), "MovieLens 1m data {} has ratings.dat, "
                                                "movies.dat but lacks users.dat"),
    (("ml-20m/links.csv", "ml-20m/tags.csv"), "{} holds no known ratings file"),
])
def test_locate_names_the_path_and_what_is_missing(tmp_path, files, message):
    path = _folder(tmp_path, *files)
    with pytest.raises(ValueError, match=re.escape(message.format(repr(path)))):
        grouplens.locate(path)


def test_missing_movies_csv_in_a_zip_is_a_clear_error(tmp_path):
    folder = _dataset(tmp_path, "csv", as_zip=False)
    os.remove(os.path.join(folder, "movies.csv"))
    archive = movielens_fixture.zip_folder(folder, str(tmp_path / "ml-25m.zip"), "ml-25m/")
    with pytest.raises(ValueError, match=re.escape(f"{archive!r} has ratings.csv but lacks "
                                                   "movies.csv")):
        grouplens.locate(archive)


def test_layout_states_each_files_encoding(tmp_path):
    csv_layout = grouplens.locate(_dataset(tmp_path, "csv", as_zip=False))
    assert (csv_layout.ratings_encoding, csv_layout.movies_encoding) == ("utf-8", "utf-8")
    assert csv_layout.encoding_of(csv_layout.movies) == "utf-8"
    old = grouplens.locate(_dataset(tmp_path, "100k", as_zip=False))
    assert (old.movies_encoding, old.users_encoding) == ("latin-1", "latin-1")
    with pytest.raises(ValueError, match="not a file of this MovieLens 100k layout"):
        old.encoding_of("tags.csv")


def test_known_archives_have_pinned_sha256():
    base = "https://files.grouplens.org/datasets/movielens/"
    for name in ("ml-100k", "ml-1m", "ml-20m", "ml-25m", "ml-latest-small"):
        assert re.fullmatch("[0-9a-f]{64}", grouplens.ARCHIVE_SHA256[f"{base}{name}.zip"])
    assert grouplens.ARCHIVE_SHA256[f"{base}ml-100k.zip"] == (
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229")


def test_unknown_format_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown MovieLens format '25m'.*100k, 1m, 10m, csv"):
        grouplens.parse_rating("25m", "1,2,3.5,4")
