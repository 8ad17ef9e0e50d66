"""VariableTokenStore: encrypted versioned document, newest chain wins, loud failures, no plain secrets.

Most tests use an in-memory Variable backend to exercise the document logic. The ``airflow_db`` tests
go through Airflow's own public Variable model against the session's SQLite metadata DB: that is the
path used *outside* tasks (CLI, API server). The in-task path (``airflow.sdk.Variable`` through the
execution API) is exercised by the ``airflow dags test`` end-to-end test in test_token_store_e2e.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_provider_msads.client.errors import TokenStoreError
from airflow_provider_msads.client.protocols import StoredRefreshToken, TokenStore
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import (
    AccessTokenCache,
    CachedAccessToken,
    Lease,
    TokenState,
    fingerprint,
)
from airflow_provider_msads.hooks.token_store import (
    DOCUMENT_FORMAT,
    VariableTokenStore,
    derive_fernet_key,
    reset_variable_calls,
    variable_calls,
    variable_key,
)

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "store~client.secret-0123456789abcdefghij"
DEVELOPER_TOKEN = "STOREDEVTOKEN0123456789"
CONN_TOKEN = "M.R3_store.connection-refresh-token-0123456789abcdefghijklmnopqrstuvwxyz"
ROTATED = "M.R3_store.rotated-refresh-token-0001-abcdefghijklmnopqrstuvwxyz0123"
ROTATED_2 = "M.R3_store.rotated-refresh-token-0002-abcdefghijklmnopqrstuvwxyz0123"
ACCESS = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.store-access-token.signature-0123456789"
SECRETS = (CLIENT_SECRET, DEVELOPER_TOKEN, CONN_TOKEN, ROTATED, ROTATED_2, ACCESS)


def settings(refresh_token: str = CONN_TOKEN, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_connection_fields(
        login=CLIENT_ID,
        password=refresh_token,
        extra={"developer_token": DEVELOPER_TOKEN, "client_secret": CLIENT_SECRET, **extra},
    )


class DictVariables:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str, description: str) -> None:
        self.writes += 1
        self.values[key] = value


class ReadOnlyVariables(DictVariables):
    def set(self, key: str, value: str, description: str) -> None:
        raise PermissionError(f"secrets backend is read-only; refused value {value}")


class ShadowedVariables(DictVariables):
    """Writes land in the DB but reads come from a secrets backend that defines the same key."""

    def get(self, key: str) -> str | None:
        return '{"shadow": true}'


def chain(token: str = ROTATED, at: float = 1000.0, origin: str | None = None) -> StoredRefreshToken:
    return StoredRefreshToken(token, origin or fingerprint(CONN_TOKEN), obtained_at=at, chain_started_at=None)


def access(token: str = ACCESS, at: float = 1000.0) -> CachedAccessToken:
    return CachedAccessToken(
        token, obtained_at=at, expires_at=at + 3600, origin_fingerprint=fingerprint(CONN_TOKEN)
    )


def test_implements_both_protocols() -> None:
    store = VariableTokenStore("msads_default", settings(), variables=DictVariables())
    assert isinstance(store, TokenStore) and isinstance(store, AccessTokenCache)
    assert store.key == "msads_oauth_token__msads_default" == variable_key("msads_default")
    assert "token" in store.key  # Airflow masks Variables whose key contains "token"


def test_round_trip_is_encrypted_and_versioned() -> None:
    variables = DictVariables()
    store = VariableTokenStore("msads_default", settings(), variables=variables)
    assert store.load() is None and store.load_access_token() is None
    store.save(chain())
    store.save_access_token(access())
    raw = variables.values[store.key]
    for secret in SECRETS:
        assert secret not in raw
    doc = json.loads(raw)
    assert doc["format"] == DOCUMENT_FORMAT and doc["version"] == 2
    assert doc["refresh"]["origin"] == fingerprint(CONN_TOKEN) and doc["refresh"]["obtained_at"] == 1000.0
    assert doc["refresh"]["token"].startswith("gAAAA")  # Fernet
    assert doc["access"]["expires_at"] == 4600.0
    # a new store object (a new task) reads both back
    again = VariableTokenStore("msads_default", settings(), variables=variables)
    loaded = again.load()
    assert loaded is not None and loaded.refresh_token == ROTATED and loaded.obtained_at == 1000.0
    cached = again.load_access_token()
    assert cached is not None and cached.access_token == ACCESS
    assert ROTATED not in repr(loaded) and ACCESS not in repr(cached) and CONN_TOKEN not in repr(again)


def test_newer_chain_is_never_overwritten_by_an_older_one() -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save(chain(ROTATED_2, at=2000.0))
    store.save(chain(ROTATED, at=1000.0))  # a slower process saving last
    assert store.load().refresh_token == ROTATED_2  # type: ignore[union-attr]
    store.save(chain(ROTATED, at=3000.0))
    assert store.load().refresh_token == ROTATED  # type: ignore[union-attr]


def test_re_consent_makes_the_old_chain_invisible() -> None:
    variables = DictVariables()
    VariableTokenStore("c", settings(), variables=variables).save(chain())
    other = VariableTokenStore(
        "c", settings("M.R3_store.a-new-consent-token-0123456789abcdef"), variables=variables
    )
    assert other.load() is None
    assert other.load_access_token() is None


def test_another_connection_cannot_decrypt_or_borrow_the_document(caplog: pytest.LogCaptureFixture) -> None:
    variables = DictVariables()
    a = VariableTokenStore("conn_a", settings(), variables=variables)
    a.save(chain())
    b = VariableTokenStore("conn_b", settings(), variables=variables)
    variables.values[b.key] = variables.values[a.key]  # copied by hand
    with caplog.at_level(logging.WARNING):
        assert b.load() is None
    assert "cannot be decrypted" in caplog.text


def test_swapped_or_edited_slots_are_rejected(caplog: pytest.LogCaptureFixture) -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save(chain())
    store.save_access_token(access())
    doc = json.loads(variables.values[store.key])
    doc["refresh"]["token"], doc["access"]["token"] = doc["access"]["token"], doc["refresh"]["token"]
    variables.values[store.key] = json.dumps(doc)
    with caplog.at_level(logging.WARNING):
        assert store.load() is None
        assert store.load_access_token() is None
    doc = json.loads(variables.values[store.key])
    doc["refresh"]["obtained_at"] = 9e9  # claims to be newest without re-encrypting
    variables.values[store.key] = json.dumps(doc)
    assert store.load() is None


def test_unwritable_variable_raises_token_store_error_with_the_fix() -> None:
    store = VariableTokenStore("msads_default", settings(), variables=ReadOnlyVariables())
    with pytest.raises(TokenStoreError) as info:
        store.save(chain())
    message = str(info.value)
    assert "msads_oauth_token__msads_default" in message and "Fix:" in message
    assert "PermissionError" in message and "***" in message  # the refused (encrypted) value is scrubbed
    for secret in SECRETS:
        assert secret not in message


def test_shadowing_secrets_backend_is_detected() -> None:
    store = VariableTokenStore("c", settings(), variables=ShadowedVariables())
    with pytest.raises(TokenStoreError, match="shadows"):
        store.save(chain())


def test_unreadable_variable_raises() -> None:
    class Broken(DictVariables):
        def get(self, key: str) -> str | None:
            raise ConnectionError("execution API unreachable")

    with pytest.raises(TokenStoreError, match="cannot read"):
        VariableTokenStore("c", settings(), variables=Broken()).load()


def test_newer_document_version_refuses_to_downgrade() -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    variables.values[store.key] = json.dumps({"format": DOCUMENT_FORMAT, "version": 3})
    with pytest.raises(TokenStoreError, match="upgrade"):
        store.load()


def test_garbage_document_is_ignored_then_rewritten(caplog: pytest.LogCaptureFixture) -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    variables.values[store.key] = "not json"
    with caplog.at_level(logging.WARNING):
        assert store.load() is None
    store.save(chain())
    assert store.load().refresh_token == ROTATED  # type: ignore[union-attr]


def test_discard_access_token_only_drops_the_matching_token_and_never_writes() -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save_access_token(access())
    writes = variables.writes
    store.discard_access_token("some-other-token")
    assert store.load_access_token() is not None
    store.discard_access_token(ACCESS)
    assert store.load_access_token() is None
    assert variables.writes == writes  # the shared document is only rewritten by a refresh


def test_values_are_registered_with_the_masker() -> None:
    from airflow.sdk.log import redact

    rotated = ROTATED.replace("0001", "masker-check")
    token = ACCESS.replace("store-access", "masker-check")
    assert redact(f"{rotated} {token}") == f"{rotated} {token}"  # unknown to the masker before
    variables = DictVariables()
    VariableTokenStore("c", settings(), variables=variables).save(chain(rotated))
    VariableTokenStore("c", settings(), variables=variables).save_access_token(access(token))
    assert redact(f"{rotated} {token}") == "*** ***"


# --- through Airflow's real Variable model and metadata DB (the outside-a-task path) ------------------


@pytest.fixture
def unique_conn_id(request: pytest.FixtureRequest) -> str:
    return "store_" + request.node.name.replace("[", "_").replace("]", "_")


def test_airflow_variable_round_trip(airflow_db: Any, unique_conn_id: str) -> None:
    from airflow.models.variable import Variable

    store = VariableTokenStore(unique_conn_id, settings())
    store.save(chain())
    raw = Variable.get(store.key)
    assert ROTATED not in raw and json.loads(raw)["version"] == 2
    loaded = VariableTokenStore(unique_conn_id, settings()).load()
    assert loaded is not None and loaded.refresh_token == ROTATED


def test_airflow_env_var_shadowing_is_reported(
    airflow_db: Any, unique_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VariableTokenStore(unique_conn_id, settings())
    monkeypatch.setenv("AIRFLOW_VAR_" + store.key.upper(), "{}")
    with pytest.raises(TokenStoreError, match="secrets backend"):
        store.save(chain())


class RacingVariables(DictVariables):
    """Another machine writes right after our first write (no compare-and-swap on Variables)."""

    def __init__(self, intruder: str) -> None:
        super().__init__()
        self.intruder = intruder

    def set(self, key: str, value: str, description: str) -> None:
        super().set(key, value, description)
        if self.writes == 1:
            self.values[key] = self.intruder


def _doc_with(token: str, at: float) -> str:
    variables = DictVariables()
    other = VariableTokenStore("c", settings(), variables=variables)
    other.save(chain(token, at=at))
    return variables.values[other.key]


def test_concurrent_newer_writer_is_kept_not_reported_as_shadowing() -> None:
    variables = RacingVariables(_doc_with(ROTATED_2, at=2000.0))
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save(chain(ROTATED, at=1000.0))
    assert store.load().refresh_token == ROTATED_2  # type: ignore[union-attr]
    assert variables.writes == 1


def test_concurrent_older_writer_is_overwritten_again() -> None:
    variables = RacingVariables(_doc_with(ROTATED_2, at=500.0))
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save(chain(ROTATED, at=1000.0))
    assert store.load().refresh_token == ROTATED  # type: ignore[union-attr]
    assert variables.writes == 2


# --- regression tests (issue 16: never lose the newest refresh token; issue 15 / 14 items) ----------


class SlowVariables(DictVariables):
    """Writes take 30 ms (as through a busy execution API) and announce themselves when they start."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__()
        self.values = values
        self.writing = threading.Event()

    def set(self, key: str, value: str, description: str) -> None:
        self.writing.set()
        time.sleep(0.03)
        super().set(key, value, description)


def test_discard_never_brings_back_an_older_refresh_token() -> None:
    """A task drops a rejected access token while another task saves a newer chain (30 ms writes)."""
    shared: dict[str, str] = {}
    slow = SlowVariables(shared)
    fast = DictVariables()
    fast.values = shared
    first = VariableTokenStore("c", settings(), variables=fast)
    first.save(chain(ROTATED, at=1000.0))
    first.save_access_token(access())
    dropping = VariableTokenStore("c", settings(), variables=slow)
    saving = VariableTokenStore("c", settings(), variables=fast)

    def save_newer() -> None:
        slow.writing.wait(timeout=0.5)  # right inside the other task's read -> write window, if it writes
        saving.save(chain(ROTATED_2, at=2000.0))

    thread = threading.Thread(target=save_newer)
    thread.start()
    dropping.discard_access_token(ACCESS)
    thread.join(timeout=5)
    time.sleep(0.05)
    loaded = VariableTokenStore("c", settings(), variables=fast).load()
    assert loaded is not None and loaded.refresh_token == ROTATED_2


def test_a_future_obtained_at_does_not_freeze_the_chain() -> None:
    """A worker with its clock a day ahead stored generation 1; the next refresh (generation 2) wins."""
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    ahead = StoredRefreshToken(ROTATED, fingerprint(CONN_TOKEN), obtained_at=1000.0 + 86400, generation=1)
    store.save(ahead)
    store.save(StoredRefreshToken(ROTATED_2, fingerprint(CONN_TOKEN), obtained_at=1000.0, generation=2))
    loaded = VariableTokenStore("c", settings(), variables=variables).load()
    assert loaded is not None and loaded.refresh_token == ROTATED_2 and loaded.generation == 2


def test_a_damaged_refresh_slot_does_not_block_later_saves(caplog: pytest.LogCaptureFixture) -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save(chain(ROTATED, at=1000.0))
    doc = json.loads(variables.values[store.key])
    doc["refresh"]["obtained_at"] = 9e9  # damaged: claims to be far in the future
    doc["refresh"]["generation"] = 10**9
    variables.values[store.key] = json.dumps(doc)
    with caplog.at_level(logging.WARNING):
        assert store.load() is None  # not trusted...
    store.save(chain(ROTATED_2, at=2000.0))  # ...so it does not block the next save
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == ROTATED_2


@pytest.mark.parametrize("damage", ["expires_far_ahead", "unreadable_token"])
def test_a_corrupted_access_slot_does_not_disable_sharing(damage: str) -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    store.save_access_token(access())
    doc = json.loads(variables.values[store.key])
    doc["access"]["expires_at"] = 9e9
    if damage == "unreadable_token":
        doc["access"]["token"] = "not-a-fernet-token"
    variables.values[store.key] = json.dumps(doc)
    assert store.load_access_token() is None  # a slot that lies about its expiry is not used
    newer = ACCESS.replace("store-access", "next-access")
    store.save_access_token(access(newer, at=2000.0))
    cached = VariableTokenStore("c", settings(), variables=variables).load_access_token()
    assert cached is not None and cached.access_token == newer


def test_chain_started_at_is_kept_and_old_documents_still_load() -> None:
    """Version 1 documents (chain_started_at always null, no generation) load; the start is filled."""
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    fernet = Fernet(derive_fernet_key(settings(), "c"))
    origin = fingerprint(CONN_TOKEN)
    plain = {"slot": "refresh", "conn": "c", "origin": origin, "at": 1000.0, "t": ROTATED}
    variables.values[store.key] = json.dumps(
        {
            "format": DOCUMENT_FORMAT,
            "version": 1,
            "refresh": {
                "origin": origin,
                "obtained_at": 1000.0,
                "chain_started_at": None,
                "token": fernet.encrypt(json.dumps(plain).encode()).decode(),
            },
            "access": None,
        }
    )
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == ROTATED and loaded.generation == 0
    assert loaded.chain_started_at == 1000.0  # at or before the oldest token we know of
    store.save(StoredRefreshToken(ROTATED_2, origin, 2000.0, chain_started_at=500.0, generation=1))
    again = store.load()
    assert again is not None and again.chain_started_at == 500.0
    assert json.loads(variables.values[store.key])["version"] == 2


def test_undecryptable_slot_names_the_real_reason(caplog: pytest.LogCaptureFixture) -> None:
    """Only the token endpoint changed: the warning says so, and does not blame the client id."""
    variables = DictVariables()
    before = settings(auth_base_url="http://127.0.0.1:8001")
    VariableTokenStore("c", before, variables=variables).save(chain())
    after = settings(auth_base_url="http://127.0.0.1:8002")
    with caplog.at_level(logging.WARNING):
        assert VariableTokenStore("c", after, variables=variables).load() is None
    assert "token endpoint changed" in caplog.text and "8001" in caplog.text and "8002" in caplog.text
    assert "client id" not in caplog.text and "environment" not in caplog.text
    caplog.clear()
    other_client = ConnectionSettings.from_connection_fields(
        login="99999999-2222-3333-4444-555555555555",
        password=CONN_TOKEN,
        extra={"developer_token": DEVELOPER_TOKEN, "auth_base_url": "http://127.0.0.1:8001"},
    )
    with caplog.at_level(logging.WARNING):
        assert VariableTokenStore("c", other_client, variables=variables).load() is None
    assert "client id changed" in caplog.text and "token endpoint" not in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text


def test_variable_calls_are_counted() -> None:
    variables = DictVariables()
    store = VariableTokenStore("c", settings(), variables=variables)
    reset_variable_calls()
    store.read_state()
    assert variable_calls() == {"get": 1, "set": 0, "lease_get": 0, "lease_set": 0} and store.reads == 1
    store.publish(TokenState(1, chain(at=1000.0), access()))
    assert variable_calls() == {
        "get": 2,
        "set": 1,
        "lease_get": 0,
        "lease_set": 0,
    }  # one write, one read-back
    store.write_lease(Lease("me", 1, 2000.0))
    assert store.read_lease() == Lease("me", 1, 2000.0)
    assert variable_calls() == {"get": 3, "set": 2, "lease_get": 1, "lease_set": 1}
