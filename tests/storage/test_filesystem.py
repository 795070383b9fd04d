"""Local blobs: whole files or none, in folders made as needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgpro.files import write_whole
from imgpro.storage.filesystem import FileSystemBlobStore


def test_a_put_makes_its_folders_and_replaces_what_was_there(tmp_path: Path) -> None:
    blobs = FileSystemBlobStore(tmp_path)
    first = write_whole(blobs.root, "pub/abcdefgh/v/one.webp", b"first")
    second = write_whole(blobs.root, "pub/abcdefgh/v/two.webp", b"second")
    again = write_whole(blobs.root, "pub/abcdefgh/v/one.webp", b"again")
    assert (first.read_bytes(), second.read_bytes()) == (b"again", b"second")
    assert again == first
    assert os.listdir(tmp_path / ".tmp") == []  # nothing unfinished left behind


def test_a_put_that_cannot_finish_leaves_no_file(tmp_path: Path) -> None:
    blobs = FileSystemBlobStore(tmp_path)
    (tmp_path / "pub").write_bytes(b"a file where a folder should be")
    with pytest.raises(OSError):
        write_whole(blobs.root, "pub/abcdefgh/v/one.webp", b"bytes")
    assert os.listdir(tmp_path / ".tmp") == []
