"""The local refresh lock: a private, checked directory; loud failure instead of silently no lock.

Issue 16: the lock lived at a predictable path in the shared temp dir; if that path was a file the lock
was skipped without a word, and a world-writable directory there was accepted.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_msads.client.auth import RefreshTokenAuth
from airflow_provider_msads.client.errors import TokenStoreError
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import LOCK_DIR_ENV, FileLock
from airflow_provider_msads.hooks.token_store import VariableTokenStore

TOKEN = "M.R3_lock.shared-refresh-token-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def temp_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A private temp dir and HOME for this test (the lock's default locations)."""
    temp, home = tmp_path / "tmp", tmp_path / "home"
    temp.mkdir()
    home.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(LOCK_DIR_ENV, raising=False)
    return temp, home


def default_dir(temp: Path) -> Path:
    return temp / f"msads-token-locks-{os.getuid()}"


def held_path(lock: FileLock) -> Path:
    with lock.hold() as acquired:
        assert acquired
        assert lock.path is not None
        return lock.path


def test_default_directory_is_created_owner_only(temp_and_home: tuple[Path, Path]) -> None:
    temp, _ = temp_and_home
    path = held_path(FileLock.for_key("a", "b"))
    assert path.parent == default_dir(temp)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_at_the_lock_path_falls_back_to_a_private_place(
    temp_and_home: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    temp, home = temp_and_home
    default_dir(temp).write_text("planted")
    path = held_path(FileLock.for_key("a", "b"))
    assert path.parent == home / ".cache" / "airflow-provider-msads" / "token-locks"
    assert "not a directory" in caplog.text


def test_a_world_writable_lock_directory_is_refused(temp_and_home: tuple[Path, Path]) -> None:
    temp, home = temp_and_home
    default_dir(temp).mkdir(mode=0o777)
    default_dir(temp).chmod(0o777)
    path = held_path(FileLock.for_key("a", "b"))
    assert default_dir(temp) not in path.parents
    assert home in path.parents


def test_no_safe_place_at_all_fails_loudly(
    temp_and_home: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    temp, _ = temp_and_home
    planted = temp / "not-a-dir"
    planted.write_text("x")
    monkeypatch.setenv(LOCK_DIR_ENV, str(planted))
    with pytest.raises(TokenStoreError, match=LOCK_DIR_ENV), FileLock.for_key("a").hold():
        pass


def test_an_explicit_lock_in_a_world_writable_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(TokenStoreError, match="not private"), FileLock(shared / "x.lock").hold():
        pass


def test_a_symlinked_lock_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "x.lock").symlink_to(target)
    with pytest.raises(TokenStoreError, match=r"x\.lock"), FileLock(tmp_path / "x.lock").hold():
        pass


def test_the_lock_excludes_and_a_busy_lock_can_be_skipped(tmp_path: Path) -> None:
    lock, other = FileLock(tmp_path / "x.lock", timeout=5), FileLock(tmp_path / "x.lock", timeout=0.1)
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with lock.hold() as acquired:
            assert acquired
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(5)
    with other.hold(wait=False) as acquired:
        assert not acquired  # busy: the caller keeps its usable token instead of waiting
    started = time.monotonic()
    release.set()
    with other.hold() as acquired:
        assert acquired
    assert time.monotonic() - started < 2
    thread.join(5)


def _settings(conn_extra: dict[str, str] | None = None) -> ConnectionSettings:
    return ConnectionSettings.from_connection_fields(
        login="11111111-2222-3333-4444-555555555555",
        password=TOKEN,
        extra={
            "developer_token": "LOCKDEVTOKEN0123456",
            "client_secret": "lock~secret-0123456789",
            **(conn_extra or {}),
        },
    )


def test_lock_and_chain_are_keyed_alike(tmp_path: Path) -> None:
    """Two connections sharing one refresh token keep two chains (two Variables): so two locks too.
    One connection always gets the same lock, keyed like its Variable."""
    import httpx

    with httpx.Client() as http:

        def lock_of(conn_id: str) -> FileLock | None:
            store = VariableTokenStore(conn_id, _settings(), variables=None)
            return RefreshTokenAuth.from_settings(_settings(), http=http, token_store=store).refresh_lock

        a, a_again, b = lock_of("conn_a"), lock_of("conn_a"), lock_of("conn_b")
    assert a is not None and a_again is not None and b is not None
    assert repr(a) == repr(a_again) != repr(b)
    assert TOKEN not in repr(a)
