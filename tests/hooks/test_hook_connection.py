"""MicrosoftAdsHook reads `msads` connections written the usual ways and masks their secrets."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from urllib.parse import quote

import pytest

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

REFRESH = "M.C5_BAY.0.U.-Cg!refresh*token$with/odd+chars"
DEV = "DEVTOKEN1234567890"
SECRET = "client~secret.value-123456"


def test_class_attributes_are_the_public_contract() -> None:
    assert MicrosoftAdsHook.conn_type == "msads"
    assert MicrosoftAdsHook.hook_name == "Microsoft Advertising"
    assert MicrosoftAdsHook.default_conn_name == "msads_default"
    assert MicrosoftAdsHook.conn_name_attr == "msads_conn_id"


def test_env_var_json_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "msads",
        "login": "client-guid",
        "password": REFRESH,
        "extra": {
            "developer_token": DEV,
            "client_secret": SECRET,
            "environment": "sandbox",
            "customer_id": "42",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_JSON", json.dumps(conn))
    s = MicrosoftAdsHook("msads_json").settings
    assert (s.client_id, s.refresh_token, s.developer_token, s.client_secret) == (
        "client-guid",
        REFRESH,
        DEV,
        SECRET,
    )
    assert (s.environment, s.customer_id) == ("sandbox", 42)


def test_env_var_uri_connection_with_url_encoded_refresh_token(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = (
        f"msads://client-guid:{quote(REFRESH, safe='')}@/"
        f"?developer_token={DEV}&client_secret={quote(SECRET, safe='')}&transport=soap&account_id=7"
    )
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_URI", uri)
    s = MicrosoftAdsHook("msads_uri").settings
    assert (s.client_id, s.refresh_token, s.client_secret) == ("client-guid", REFRESH, SECRET)
    assert (s.transport, s.account_id) == ("soap", 7)


def test_bad_connection_raises_the_field_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MSADS_BAD",
        json.dumps(
            {"conn_type": "msads", "login": "c", "password": REFRESH, "extra": {"environment": "prod"}}
        ),
    )
    with pytest.raises(
        ConfigurationError, match=r"^developer_token: is missing; add your developer token"
    ) as info:
        _ = MicrosoftAdsHook("msads_bad").settings
    assert REFRESH not in str(info.value)


def test_reading_the_connection_registers_every_secret_with_the_masker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import _secrets_masker

    # Fresh values: the masker is process-global, so constants another test already registered would
    # make this pass without the hook doing anything. Prove they are unknown before the hook reads them.
    fresh = uuid.uuid4().hex
    refresh, dev, secret = f"M.R3_{fresh}-refresh", f"DEV{fresh[:12]}", f"secret~{fresh}"
    line = f"refresh={refresh} dev={dev} secret={secret}"
    assert _secrets_masker().redact(line) == line
    monkeypatch.setenv(
        "AIRFLOW_CONN_MSADS_MASK",
        json.dumps(
            {
                "conn_type": "msads",
                "login": "c",
                "password": refresh,
                # the legacy prefix too: the secret list comes from the field table for both spellings
                "extra": {"extra__msads__developer_token": dev, "client_secret": secret},
            }
        ),
    )
    _ = MicrosoftAdsHook("msads_mask").settings
    assert _secrets_masker().redact(line) == "refresh=*** dev=*** secret=***"


def test_legacy_form_classmethods_mirror_provider_info() -> None:
    behaviour = MicrosoftAdsHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["host", "port", "schema"]
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Refresh token"}
    assert set(behaviour["placeholders"]) >= {"login", "password", "developer_token", "api_base_url"}


@pytest.mark.usefixtures("airflow_db")
def test_connection_added_with_the_airflow_cli_is_read_back(
    airflow_cli: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = json.dumps({"developer_token": DEV, "environment": "sandbox", "tenant": "consumers"})
    subprocess.run(
        [
            *airflow_cli,
            "connections",
            "add",
            "msads_cli",
            "--conn-type",
            "msads",
            "--conn-login",
            "client-guid",
            "--conn-password",
            REFRESH,
            "--conn-extra",
            extra,
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env=os.environ.copy(),
    )
    # Outside tasks, Airflow consults the metadata DB only in server contexts (API server, CLI tools).
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    s = MicrosoftAdsHook("msads_cli").settings
    assert (s.refresh_token, s.tenant, s.environment) == (REFRESH, "consumers", "sandbox")
