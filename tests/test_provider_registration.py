"""The provider is discovered by Airflow the way third-party providers are, and its metadata is valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_msads import __version__
from airflow_provider_msads.provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_entry_point_points_at_get_provider_info() -> None:
    (ep,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_msads")
    ]
    assert ep.load() is get_provider_info


def test_provider_info_is_valid_against_airflows_runtime_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-msads"  # must equal the distribution name
    assert info["versions"] == [__version__]


def test_connection_type_is_valid_against_the_provider_yaml_schema() -> None:
    """conn-fields / ui-field-behaviour are only described in provider.yaml.schema.json: check them there."""
    yaml_schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    conn_schema = yaml_schema["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], conn_schema)


def test_every_secret_field_is_a_password_field() -> None:
    """The form's password fields, the settings' secret (repr-hidden) fields and the masked extras agree.

    Not a restatement of the table: ConnectionSettings declares its fields independently, so a secret
    added there but not marked in the field table (or the reverse) fails here.
    """
    import dataclasses

    from airflow_provider_msads.client.connection_fields import SECRET_EXTRAS
    from airflow_provider_msads.client.settings import ConnectionSettings

    (conn_type,) = get_provider_info()["connection-types"]
    fields = conn_type["conn-fields"]
    password_fields = {name for name, f in fields.items() if f["schema"].get("format") == "password"}
    hidden = {f.name for f in dataclasses.fields(ConnectionSettings) if not f.repr}
    assert password_fields == set(SECRET_EXTRAS) == hidden - {"refresh_token"}
    assert {"developer_token", "client_secret"} <= password_fields
    assert set(fields) <= {f.name for f in dataclasses.fields(ConnectionSettings)}, "every extra is read"
    for name, field in fields.items():
        assert field["label"] and field.get("description"), f"{name} lacks a label or help text"


def test_airflow_cli_lists_the_provider_and_hook_in_a_fresh_home(
    tmp_path: Path, airflow_cli: list[str]
) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    providers = subprocess.run(
        [*airflow_cli, "providers", "list", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listed = {p["package_name"]: p for p in json.loads(providers.stdout)}
    assert listed["airflow-provider-msads"]["version"] == __version__

    hooks = subprocess.run(
        [*airflow_cli, "providers", "hooks", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    by_type = {h["connection_type"]: h for h in json.loads(hooks.stdout)}
    assert by_type["msads"]["class"] == "airflow_provider_msads.hooks.msads.MicrosoftAdsHook"
    assert by_type["msads"]["conn_id_attribute_name"] == "msads_conn_id"


HOOK_META_SCRIPT = """
import json
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app(apps="core"))
token = client.get("/auth/token").json()["access_token"]
response = client.get("/ui/connections/hook_meta", headers={"Authorization": f"Bearer {token}"})
assert response.status_code == 200, response.text
print(json.dumps([m for m in response.json() if m["connection_type"] == "msads"]))
"""


@pytest.mark.usefixtures("airflow_db")
def test_api_server_hook_meta_describes_the_msads_form() -> None:
    """Ask Airflow's own UI endpoint what the connection form will render for `msads`.

    Runs in a fresh interpreter, like an API server: on Airflow 3.1 the answer depends on whether the
    providers manager was initialised before the endpoint's form mocks were installed.
    """
    result = subprocess.run(
        [sys.executable, "-c", HOOK_META_SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    (meta,) = json.loads(result.stdout.strip().splitlines()[-1])

    assert meta["hook_name"] == "Microsoft Advertising"
    assert meta["hook_class_name"] == "airflow_provider_msads.hooks.msads.MicrosoftAdsHook"
    standard = meta["standard_fields"]
    assert standard["host"]["hidden"] and standard["port"]["hidden"]
    # What Airflow renders must be OUR placeholder (not compared with itself): it comes from the field table.
    from airflow_provider_msads.client.connection_fields import FIELDS
    from airflow_provider_msads.provider_info import UI_FIELD_BEHAVIOUR

    ours = UI_FIELD_BEHAVIOUR["placeholders"]
    assert standard["login"] == {"hidden": False, "title": "Client ID", "placeholder": ours["login"]}
    assert standard["password"]["title"] == "Refresh token"
    assert standard["password"]["placeholder"] == ours["password"] and "msads-auth" in ours["password"]

    extras = meta["extra_fields"]
    assert set(extras) == {f.name for f in FIELDS}
    for field in FIELDS:
        schema = extras[field.name]["schema"]
        assert schema["title"] == field.label, field.name
        assert (schema.get("format") == "password") is field.secret, field.name
    assert {"developer_token", "client_secret"} <= {f.name for f in FIELDS if f.secret}
    assert extras["developer_token"]["schema"]["title"] == "Developer token"
    assert extras["environment"]["schema"]["enum"] == ["production", "sandbox"]
    assert extras["environment"]["value"] == "production"
    assert extras["transport"]["schema"]["enum"] == ["rest", "soap"]
    assert all(field["description"] for field in extras.values())
