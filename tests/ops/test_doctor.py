"""`imgpro doctor`: every configured backend checked, each problem named with its fix."""

from __future__ import annotations

from pathlib import Path

from imgpro.db import migrate
from tests.backends import MotoS3
from tests.conftest import REDIS_URL, free_port
from tests.ops.conftest import imgpro


def by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def test_a_migrated_embedded_default_is_healthy(tmp_path: Path) -> None:
    env = {"IMGPRO_DATA_DIR": str(tmp_path)}
    migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}")

    report = imgpro("doctor", env=env)

    assert report["ok"] is True
    assert set(by_name(report)) == {
        "database",
        "blob_store",
        "redis",
        "mail",
        "billing",
        "production",
    }
    assert all(check["ok"] for check in report["checks"])


def test_an_unmigrated_database_says_to_run_migrate(tmp_path: Path) -> None:
    report = imgpro("doctor", env={"IMGPRO_DATA_DIR": str(tmp_path)}, code=1)
    database = by_name(report)["database"]
    assert database["ok"] is False
    assert "imgpro migrate" in database["detail"]


def test_every_unreachable_backend_is_named_with_its_fix(tmp_path: Path) -> None:
    dead = free_port()
    env = {
        "IMGPRO_DATA_DIR": str(tmp_path),
        "IMGPRO_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{dead}/imgpro",
        "IMGPRO_STORAGE_URL": f"s3://bucket?endpoint_url=http://127.0.0.1:{dead}",
        "IMGPRO_REDIS_URL": f"redis://127.0.0.1:{dead}/0",
        "IMGPRO_MAIL_URL": f"smtp://127.0.0.1:{dead}",
        "IMGPRO_ENV": "production",
    }

    report = imgpro("doctor", env=env, code=1)

    checks = by_name(report)
    assert report["ok"] is False
    assert "IMGPRO_DATABASE_URL" in checks["database"]["detail"]
    assert "IMGPRO_STORAGE_URL" in checks["blob_store"]["detail"]
    assert "IMGPRO_REDIS_URL" in checks["redis"]["detail"]
    assert not checks["mail"]["ok"]
    assert "stripe" in checks["billing"]["detail"]
    assert "IMGPRO_SECRET_KEY" in checks["production"]["detail"]


def test_s3_without_redis_is_a_problem_and_with_it_all_is_well(
    tmp_path: Path, moto: MotoS3
) -> None:
    migrate.upgrade(f"sqlite+aiosqlite:///{tmp_path / 'imgpro.db'}")
    env = {"IMGPRO_DATA_DIR": str(tmp_path), "IMGPRO_STORAGE_URL": moto.url(moto.new_bucket())}

    lonely = by_name(imgpro("doctor", env=env, code=1))
    assert lonely["blob_store"]["ok"] and not lonely["redis"]["ok"]

    report = imgpro("doctor", env={**env, "IMGPRO_REDIS_URL": REDIS_URL})
    assert report["ok"] is True
