"""scripts/check_links.py, the Markdown link check of `make lint`: good links pass, each broken
file link or anchor is named with its file and line, and the exit status says which."""

import importlib.util
import os
import subprocess
import sys

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(PROJECT_ROOT, "scripts", "check_links.py")

_spec = importlib.util.spec_from_file_location("check_links", SCRIPT)
check_links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_links)


def _write(root, path, text):
    full = os.path.join(str(root), path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as f:
        f.write(text)


def _good_tree(root):
    _write(root, "README.md", "\n".join([
        "# A project",
        "",
        "See [the guide](docs/guide.md), its [set-up](docs/guide.md#set-up-and-pins-310),",
        "[the dash](docs/guide.md#make-bench--ml-100k), [again](docs/guide.md#notes-1),",
        "[here](#a-project), ![a plot](docs/plot.png), <img src=\"docs/plot.png\" width=\"9\">,",
        "[the folder](docs/) and [a site](https://example.com/missing.md#nowhere).",
        "",
        "[ref]: docs/guide.md#notes",
        "",
        "```sh",
        "[not a link](missing.md)",
        "```",
        "",
        "Inline code is not a link either: `[x](missing.md)`.",
    ]))
    _write(root, "docs/guide.md", "\n".join([
        "# Guide",
        "",
        "## Set-up and pins (3.10)",
        "",
        "## `make bench` — ML-100K",
        "",
        "## Notes",
        "",
        "## Notes",
        "",
        "Back to [the README](../README.md#a-project).",
    ]))
    _write(root, "docs/plot.png", "not really a PNG")


def _run(root):
    return subprocess.run([sys.executable, SCRIPT, str(root)], capture_output=True, text=True)


def test_good_links_and_anchors_pass(tmp_path):
    _good_tree(tmp_path)
    assert check_links.check(str(tmp_path)) == []
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_a_broken_file_link_and_a_broken_anchor_fail_naming_each(tmp_path):
    _good_tree(tmp_path)
    _write(tmp_path, "docs/broken.md", "\n".join([
        "# Broken",
        "",
        "A [missing file](../nowhere.md) and",
        "a [missing anchor](guide.md#set-up) and [one here](#broken-1).",
        "[ok](guide.md#notes)",
    ]))
    assert check_links.check(str(tmp_path)) == [
        "docs/broken.md:3: ../nowhere.md: no such file or folder",
        "docs/broken.md:4: guide.md#set-up: no heading with the anchor #set-up in docs/guide.md",
        "docs/broken.md:4: #broken-1: no heading with the anchor #broken-1 in docs/broken.md",
    ]
    result = _run(tmp_path)
    assert result.returncode == 1
    assert "docs/broken.md:3: ../nowhere.md" in result.stdout
    assert "guide.md#set-up" in result.stdout and "#broken-1" in result.stdout
    assert "3 broken link(s)" in result.stderr


def test_github_slugs():
    assert check_links.slug("Set-up and pins (3.10)") == "set-up-and-pins-310"
    assert check_links.slug("`make bench` — ML-100K") == "make-bench--ml-100k"
    assert check_links.slug("10M: ExampleGen 3.5 GB, ×2.3") == "10m-examplegen-35-gb-23"
    assert check_links.slug("The `model_run` files, _emphasis_") == "the-model_run-files-emphasis"
    assert check_links.slug("[A link](x.md) in a heading") == "a-link-in-a-heading"
