"""The Airflow-free rules of the Connect flow: the store, drafts, redirect URIs, error wording."""

from __future__ import annotations

import pytest

from airflow_provider_msads.plugins.flow import (
    ExistingConnection,
    ExpiringStore,
    FlowError,
    FormError,
    build_redirect_uri,
    check_new_conn_id,
    describe_identity_error,
    draft_from_form,
)

FORM = {
    "client_id": "6f1d2a3b-8c4e-4f5a-9b6c-7d8e9f0a1b2c",
    "client_secret": "typed~secret-value-123",
    "developer_token": "DEVTOKEN123456",
    "environment": "production",
    "tenant": "",
    "auth_base_url": "",
    "api_base_url": "",
}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_store_entries_are_single_use() -> None:
    store: ExpiringStore[str] = ExpiringStore()
    key = store.put("pending", owner="alice")
    assert len(key) >= 32
    assert store.take(key, owner="alice") == "pending"
    with pytest.raises(FlowError, match="unknown or was already used"):
        store.take(key, owner="alice")


def test_store_entries_expire() -> None:
    clock = Clock()
    store: ExpiringStore[str] = ExpiringStore(ttl=600, clock=clock)
    key = store.put("pending", owner="alice")
    clock.now = 600.0
    with pytest.raises(FlowError, match="expired"):
        store.take(key, owner="alice")


def test_store_refuses_and_burns_another_users_entry() -> None:
    store: ExpiringStore[str] = ExpiringStore()
    key = store.put("pending", owner="alice")
    with pytest.raises(FlowError) as err:
        store.take(key, owner="mallory")
    assert err.value.status == 403
    with pytest.raises(FlowError, match="already used"):  # the owner cannot use it either: one attempt only
        store.take(key, owner="alice")


def test_store_is_bounded_and_drops_expired_then_oldest() -> None:
    clock = Clock()
    store: ExpiringStore[int] = ExpiringStore(ttl=10, max_entries=3, clock=clock)
    first = store.put(1, owner="u")
    clock.now = 5
    keys = [store.put(n, owner="u") for n in (2, 3, 4)]
    assert len(store) == 3
    with pytest.raises(FlowError):
        store.take(first, owner="u")  # the oldest went to make room
    clock.now = 20  # all expired: purged on the next put
    store.put(5, owner="u")
    assert len(store) == 1
    assert keys


def test_store_get_does_not_consume() -> None:
    store: ExpiringStore[str] = ExpiringStore()
    key = store.put("result", owner="alice")
    assert store.get(key, owner="alice") == store.get(key, owner="alice") == "result"
    with pytest.raises(FlowError):
        store.get("", owner="alice")


def test_draft_for_a_new_connection() -> None:
    draft = draft_from_form(FORM, conn_id="msads_new", existing=None)
    assert draft.create
    assert draft.client_secret == "typed~secret-value-123"
    assert draft.endpoints is not None
    assert draft.endpoints.authorize_url == "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    assert dict(draft.extra) == {
        "developer_token": "DEVTOKEN123456",
        "client_secret": "typed~secret-value-123",
        "environment": "production",
    }
    assert "typed~secret" not in repr(draft) and "DEVTOKEN" not in repr(draft)


def test_draft_keeps_stored_secrets_and_other_extras() -> None:
    existing = ExistingConnection(
        conn_id="msads_default",
        conn_type="msads",
        login="old-client",
        extra={
            "extra__msads__developer_token": "STORED-DEV-TOKEN",
            "client_secret": "stored~secret",
            "customer_id": "123",
            "auth_base_url": "http://127.0.0.1:9",
        },
        has_refresh_token=True,
    )
    form = {**FORM, "client_secret": "", "developer_token": "", "tenant": "contoso.onmicrosoft.com"}
    draft = draft_from_form(form, conn_id="msads_default", existing=existing)
    assert not draft.create
    assert (draft.client_secret, draft.developer_token) == ("stored~secret", "STORED-DEV-TOKEN")
    assert dict(draft.extra) == {
        "developer_token": "STORED-DEV-TOKEN",  # moved off the legacy prefix
        "client_secret": "stored~secret",
        "customer_id": "123",  # untouched
        "environment": "production",
        "tenant": "contoso.onmicrosoft.com",
        # auth_base_url: removed, the form left it empty
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_id": " "}, "client_id"),
        ({"developer_token": ""}, "developer_token"),
        ({"environment": "staging"}, "environment"),
        ({"tenant": "not a tenant!"}, "tenant"),
        ({"auth_base_url": "http://login.example.com"}, "auth_base_url"),
        ({"api_base_url": "ftp://127.0.0.1"}, "api_base_url"),
    ],
)
def test_draft_errors_name_the_field(change: dict[str, str], field: str) -> None:
    with pytest.raises(FormError) as err:
        draft_from_form({**FORM, **change}, conn_id="c", existing=None)
    assert err.value.field == field


def test_new_connection_ids() -> None:
    assert check_new_conn_id(" msads_prod.eu-1 ") == "msads_prod.eu-1"
    for bad in ("", "has space", "<script>", "x" * 201, "-leading"):
        with pytest.raises(FormError):
            check_new_conn_id(bad)


@pytest.mark.parametrize(
    "base",
    [
        "https://airflow.example.com",
        "https://airflow.example.com/prefix/",
        "http://127.0.0.1:8080/",
        "http://localhost",
    ],
)
def test_redirect_uri_accepts_https_and_loopback(base: str) -> None:
    assert build_redirect_uri(base) == base.rstrip("/") + "/msads/connect/callback"


@pytest.mark.parametrize(
    "base", ["http://airflow.example.com", "https://a.example.com/?x=1", "javascript:alert(1)"]
)
def test_redirect_uri_refuses_what_microsoft_would_refuse(base: str) -> None:
    with pytest.raises(FlowError, match="redirect URI"):
        build_redirect_uri(base)


def test_consent_denied_in_plain_words() -> None:
    err = describe_identity_error(
        error="access_denied",
        description="AADSTS65004: User declined to consent to access the app. Trace ID: x",
    )
    assert err.title == "Consent was declined"
    assert "Accept" in err.fix
    assert err.detail is not None and err.detail.startswith("access_denied: AADSTS65004: User declined")


def test_wrong_tenant_and_redirect_uri_fixes_are_specific() -> None:
    single = describe_identity_error(
        error="invalid_request", description="AADSTS50194: Application is not multi"
    )
    assert "Directory (tenant) ID" in single.fix
    missing = describe_identity_error(
        error="invalid_request", description=None, code=90002, tenant="nope.example"
    )
    assert "nope.example" in missing.explanation
    uri = describe_identity_error(
        error="invalid_request", description="AADSTS50011: mismatch", redirect_uri="https://af.example/cb"
    )
    assert "https://af.example/cb" in uri.fix


def test_unknown_errors_fall_back_and_long_details_are_cut() -> None:
    err = describe_identity_error(error="weird_error", description="x" * 1000)
    assert err.title == "Microsoft sign-in failed"
    assert err.detail is not None and len(err.detail) < 330
