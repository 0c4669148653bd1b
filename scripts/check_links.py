"""Checks every relative link and #anchor in the repository's Markdown files.

    python scripts/check_links.py [ROOT]      # ROOT: the repository (default: this script's)

A link is `[text](target)`, `![alt](target)`, a reference definition `[id]: target`, or an
HTML `href`/`src` attribute. Links with a scheme (https:, mailto:, ...) are left alone; every
other target must be a file or folder that exists (relative to the linking file, or to ROOT
when it starts with `/`), and an anchor must name a heading (or an `id`/`name` attribute) of
the Markdown file it points into, by GitHub's rules: the heading's text lowercased, every
character but letters, digits, marks, `_`, `-` and spaces dropped, each space a `-`, and a
repeated slug suffixed `-1`, `-2`, ... Code blocks and code spans are not read for links.

The files are those git lists under ROOT (tracked, or untracked and not ignored); outside a
git work tree, every *.md under ROOT outside hidden folders. Prints one line per broken link,
`file:line: target: why`, and exits 1 if there is any (0 otherwise).
"""

import argparse
import os
import re
import subprocess
import sys
import unicodedata
import urllib.parse
from typing import Dict, Iterator, List, Set, Tuple

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
# [text](target "title") and ![alt](target): text may hold one level of brackets.
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)", re.MULTILINE)
_HTML_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*?\s(?:href|src)\s*=\s*[\"']([^\"']*)[\"']")
_HTML_ANCHOR = re.compile(r"<[a-zA-Z][^>]*?\s(?:id|name)\s*=\s*[\"']([^\"']*)[\"']")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


def markdown_files(root: str) -> List[str]:
    """The Markdown files under `root`, as paths relative to it."""
    try:
        listed = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
             "--", "*.md"], check=True, capture_output=True, text=True).stdout
        in_git = subprocess.run(["git", "-C", root, "rev-parse", "--show-prefix"],
                                check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        listed, in_git = None, None
    if listed is not None and in_git == "":  # root is the top of a work tree
        return sorted({path for path in listed.split("\0")
                       if path and os.path.isfile(os.path.join(root, path))})
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        found += [os.path.relpath(os.path.join(folder, name), root)
                  for name in files if name.endswith(".md")]
    return sorted(found)


def _blank(match: "re.Match") -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def without_code(text: str) -> str:
    """`text` with fenced code blocks and code spans blanked (same offsets, same lines)."""
    lines, fence = text.split("\n"), None
    for i, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            lines[i] = ""
        elif fence is not None:
            closing = re.match(r"^ {0,3}(" + re.escape(fence[0]) + r"{3,})[ \t]*$", line)
            if closing and len(closing.group(1)) >= len(fence):
                fence = None
            lines[i] = " " * len(line)
    return _CODE_SPAN.sub(_blank, "\n".join(lines))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's Markdown text (before de-duplication)."""
    parts = re.split(r"(`+[^`]*`+)", heading)  # code spans keep their text as written
    text = ""
    for i, part in enumerate(parts):
        if i % 2:
            text += part.strip("`")
            continue
        part = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", part)  # links
        part = re.sub(r"<[^>]+>", "", part)  # HTML tags
        part = re.sub(r"(?<![^\W_])_+|_+(?![^\W_])", "", part)  # _emphasis_, not snake_case
        text += part
    kept = (c for c in text.lower()
            if c.isalnum() or c in " -_" or unicodedata.category(c)[0] == "M"
            or unicodedata.category(c) == "Pc")
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> Set[str]:
    """Every anchor a Markdown file defines: its headings' slugs, and id/name attributes."""
    found: Set[str] = set()
    seen: Dict[str, int] = {}
    lines = without_code(text).split("\n")
    raw = text.split("\n")
    for i, line in enumerate(lines):
        heading = None
        atx = _ATX_HEADING.match(line)
        if atx and line.strip():
            heading = raw[i].strip().lstrip("#").strip()
            heading = re.sub(r"[ \t]+#+[ \t]*$", "", heading)
        elif (_SETEXT_UNDERLINE.match(line) and i > 0 and lines[i - 1].strip()
              and not re.match(r"^ {0,3}([-*+>|#]|\d+[.)])", lines[i - 1])):
            heading = raw[i - 1].strip()
        if heading is None:
            continue
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(_HTML_ANCHOR.findall(text))
    return found


def links(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, target) of every link in a Markdown file's text, code excluded."""
    prose = without_code(text)
    for pattern in (_INLINE_LINK, _REFERENCE_DEFINITION, _HTML_ATTRIBUTE):
        for match in pattern.finditer(prose):
            target = match.group(1).strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            yield prose.count("\n", 0, match.start(1)) + 1, target


def check(root: str) -> List[str]:
    """One line per broken link or anchor under `root`: `file:line: target: why`."""
    root = os.path.abspath(root)
    cache: Dict[str, Set[str]] = {}

    def anchors_of(path: str) -> Set[str]:
        if path not in cache:
            with open(path, encoding="utf-8") as f:
                cache[path] = anchors(f.read())
        return cache[path]

    broken = []
    for name in markdown_files(root):
        source = os.path.join(root, name)
        with open(source, encoding="utf-8") as f:
            text = f.read()
        for line, target in links(text):
            if not target or _SCHEME.match(target):
                continue
            path, _, fragment = target.partition("#")
            path, fragment = urllib.parse.unquote(path), urllib.parse.unquote(fragment)
            if not path:
                resolved = source
            elif path.startswith("/"):
                resolved = os.path.join(root, path.lstrip("/"))
            else:
                resolved = os.path.normpath(os.path.join(os.path.dirname(source), path))
            where = f"{name}:{line}: {target}"
            if not os.path.exists(resolved):
                broken.append(f"{where}: no such file or folder")
            elif fragment and resolved.endswith(".md") and os.path.isfile(resolved):
                if fragment not in anchors_of(resolved):
                    broken.append(f"{where}: no heading with the anchor #{fragment} in "
                                  f"{os.path.relpath(resolved, root)}")
    return broken


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?",
                        default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="the repository (default: the one holding this script)")
    args = parser.parse_args(argv)
    broken = check(args.root)
    for line in broken:
        print(line)
    if broken:
        print(f"{len(broken)} broken link(s) in Markdown files", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
