"""`imgpro admin backup` while the embedded default serves, `restore` into a new data dir: the
restored imgpro has the same images, bytes and keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cdn.conftest import upload
from tests.conftest import start_stack
from tests.factories.images import jpeg
from tests.ops.conftest import imgpro


def test_a_backup_taken_while_serving_restores_into_a_working_imgpro(tmp_path: Path) -> None:
    original, server = start_stack("original", tmp_path)
    try:
        key = original.key()
        client = original.client(key)
        image = upload(client, jpeg(120, 90))
        served = client.get(image["url"]).content
        env = {"IMGPRO_DATA_DIR": str(original.settings.data_dir)}

        summary = imgpro("admin", "backup", str(tmp_path / "backup"), env=env)

        assert summary["blobs"] >= 2  # the original and its sidecar at least
        later = upload(client, jpeg(60, 40))  # serving goes on after the backup
    finally:
        original.close()
        server.stop()

    restored_dir = tmp_path / "restored"
    imgpro("admin", "restore", str(tmp_path / "backup"), env={"IMGPRO_DATA_DIR": str(restored_dir)})
    restored, server = start_stack("restored", tmp_path)
    try:
        client = restored.client(key)  # the API key came back with the database
        assert client.get(f"/v1/images/{image['id']}").status_code == 200
        url = image["url"].replace(original.base_url, restored.base_url)
        assert client.get(url).content == served
        assert client.get(f"/v1/images/{later['id']}").status_code == 404  # after the backup
    finally:
        restored.close()
        server.stop()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("IMGPRO_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/x"),
        ("IMGPRO_STORAGE_URL", "s3://bucket?endpoint_url=http://127.0.0.1:9"),
    ],
)
def test_backup_refuses_what_is_not_the_embedded_default(
    tmp_path: Path, setting: str, value: str
) -> None:
    env = {"IMGPRO_DATA_DIR": str(tmp_path), setting: value}
    report = imgpro("admin", "backup", str(tmp_path / "b"), env=env, code=1)
    assert "pg_dump" in report["error"]["message"]


def test_backup_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    from imgpro.db import migrate

    migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    report = imgpro(
        "admin", "backup", str(tmp_path / "b"), env={"IMGPRO_DATA_DIR": str(tmp_path)}, code=1
    )
    assert "not empty" in report["error"]["message"]


def test_restore_refuses_a_directory_that_is_not_a_backup(tmp_path: Path) -> None:
    report = imgpro(
        "admin", "restore", str(tmp_path), env={"IMGPRO_DATA_DIR": str(tmp_path / "d")}, code=1
    )
    assert "not an imgpro backup" in report["error"]["message"]
