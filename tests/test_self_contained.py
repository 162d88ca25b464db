"""A clone stands alone: nothing tracked points outside the repository, and every file of
public data the tests read is vendored under tests/data/ with its source and licence."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, TEST_DATA

# Built from parts so that this file does not itself name what it looks for.
SIBLING = "/".join(("..", "shared")).encode()
# The same folder reached through pathlib (`REPO.parent / <quoted name>`); cases below.
SIBLING_PATHLIB = re.compile(rb"/\s*[\"']" + b"sha" + rb"red[\"']")
NOT_SOURCE = {
    ".git",
    ".venv",
    ".venv-tools",
    ".venv-healthchain",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}


def tracked_files() -> list[Path]:
    """`git ls-files`; in an export without git metadata, every file outside tool caches."""
    if (REPO / ".git").exists():
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
        return [REPO / name for name in listing.decode().split("\0") if name]
    return [
        path
        for path in REPO.rglob("*")
        if path.is_file() and not NOT_SOURCE.intersection(path.relative_to(REPO).parts)
    ]


def test_the_file_list_is_the_repository() -> None:
    names = {path.relative_to(REPO).as_posix() for path in tracked_files()}

    assert {"Makefile", "pyproject.toml", "uv.lock", "tests/test_self_contained.py"} <= names


def test_no_tracked_file_names_the_folder_beside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        content = path.read_bytes()
        if SIBLING in content or SIBLING_PATHLIB.search(content):
            offenders.append(path.relative_to(REPO).as_posix())

    assert offenders == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"curl -d @" + SIBLING + b"/external/x.json", id="relative-path"),
        pytest.param(b'EXTERNAL = REPO.parent / "' + b"shared" + b'" / "x"', id="pathlib"),
        pytest.param(b"parents[2] / '" + b"shared" + b"'", id="pathlib-single-quotes"),
    ],
)
def test_the_check_catches_each_way_of_naming_it(content: bytes) -> None:
    assert SIBLING in content or SIBLING_PATHLIB.search(content)


def test_an_ordinary_use_of_the_word_is_not_flagged() -> None:
    content = b'tmp_path / "shared.sqlite3"; jti records shared by all workers'

    assert SIBLING not in content
    assert SIBLING_PATHLIB.search(content) is None


def test_every_vendored_data_file_has_its_source_in_the_data_readme() -> None:
    readme = (TEST_DATA / "README.md").read_text(encoding="utf-8")
    undocumented = [
        path.relative_to(TEST_DATA).as_posix()
        for path in sorted(TEST_DATA.rglob("*"))
        if path.is_file()
        and path.name != "README.md"
        and f"`{path.relative_to(TEST_DATA).as_posix()}`" not in readme
    ]

    assert undocumented == []
