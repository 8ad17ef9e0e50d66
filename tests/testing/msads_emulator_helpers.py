"""Plain helpers shared by the emulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from airflow_provider_msads.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    Emulator,
)

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
PROD_SCOPE = "https://ads.microsoft.com/msads.manage offline_access"
SANDBOX_SCOPE = "https://si.ads.microsoft.com/msads.manage offline_access"
SOAP_PATH = "/Api/CustomerManagement/v13/CustomerManagementService.svc"
TIMEOUT = httpx.Timeout(10.0)


def refresh(
    http: httpx.Client,
    emu: Emulator,
    refresh_token: str = DEMO_REFRESH_TOKEN,
    *,
    scope: str = PROD_SCOPE,
    tenant: str = "common",
    **overrides: Any,
) -> httpx.Response:
    form = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": scope,
    }
    form.update(overrides)
    form = {k: v for k, v in form.items() if v is not None}
    return http.post(f"{emu.url}/{tenant}/oauth2/v2.0/token", data=form)


def access_token(http: httpx.Client, emu: Emulator, *, scope: str = PROD_SCOPE) -> str:
    response = refresh(http, emu, scope=scope)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str) and token
    return token


def rest_headers(token: str, developer_token: str = DEMO_DEVELOPER_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "DeveloperToken": developer_token}


def soap_envelope(
    operation: str, body: str, token: str | None, developer_token: str | None = DEMO_DEVELOPER_TOKEN
) -> bytes:
    header = ""
    if token is not None:
        header += f"<AuthenticationToken>{token}</AuthenticationToken>"
    if developer_token is not None:
        header += f"<DeveloperToken>{developer_token}</DeveloperToken>"
    return (
        '<s:Envelope xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<s:Header xmlns="https://bingads.microsoft.com/Customer/v13">{header}</s:Header>'
        f'<s:Body><{operation}Request xmlns="https://bingads.microsoft.com/Customer/v13" '
        'xmlns:e="https://bingads.microsoft.com/Customer/v13/Entities">'
        f"{body}</{operation}Request></s:Body></s:Envelope>"
    ).encode()


def soap_post(http: httpx.Client, emu: Emulator, operation: str, envelope: bytes) -> httpx.Response:
    return http.post(
        emu.url + SOAP_PATH,
        content=envelope,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation},
    )


def search_body(user_id: int, index: int, size: int, extra: str = "") -> str:
    return (
        "<Predicates><e:Predicate><e:Field>UserId</e:Field><e:Operator>Equals</e:Operator>"
        f"<e:Value>{user_id}</e:Value></e:Predicate>{extra}</Predicates>"
        f"<PageInfo><e:Index>{index}</e:Index><e:Size>{size}</e:Size></PageInfo>"
    )


def search_json(user_id: int, index: int, size: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": str(user_id)}],
        "PageInfo": {"Index": index, "Size": size},
    }
    body.update(extra)
    return body
