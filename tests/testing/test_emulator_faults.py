"""Fault injection: every kind, on every transport, with times/after counting."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import pytest
from msads_emulator_helpers import refresh, rest_headers, search_body, search_json, soap_envelope, soap_post

from airflow_provider_msads.testing import Emulator

Check = Callable[[bytes], None]
REST_SEARCH = "/CustomerManagement/v13/Accounts/Search"


def rest_search(
    http: httpx.Client, emu: Emulator, token: str, index: int = 0, size: int = 10
) -> httpx.Response:
    return http.post(
        emu.url + REST_SEARCH, json=search_json(emu.demo_user_id, index, size), headers=rest_headers(token)
    )


def soap_search(
    http: httpx.Client, emu: Emulator, token: str, index: int = 0, size: int = 10
) -> httpx.Response:
    return soap_post(
        http,
        emu,
        "SearchAccounts",
        soap_envelope("SearchAccounts", search_body(emu.demo_user_id, index, size), token),
    )


def test_5xx_burst_then_recovery(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", status=503, times=2)
    statuses = [rest_search(http, emu, token).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert emu.faults.pending == []
    assert emu.counters["SearchAccounts"] == 3


def test_109_in_the_middle_of_paging_then_after_counts_all_requests(
    msads_emulator: Emulator, http: httpx.Client
) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", status=503, times=1)
    emu.faults.inject("SearchAccounts", error_code=109, after=2, times=1)
    first = rest_search(http, emu, token, 0)
    second = rest_search(http, emu, token, 0)
    third = rest_search(http, emu, token, 1)
    fourth = rest_search(http, emu, token, 1)
    assert [r.status_code for r in (first, second, third, fourth)] == [503, 200, 401, 200]
    assert third.json()["Errors"][0] == {
        "Code": 109,
        "Detail": None,
        "ErrorCode": "AuthenticationTokenExpired",
        "Message": third.json()["Errors"][0]["Message"],
    }
    assert third.json()["TrackingId"] == third.headers["TrackingId"]
    log = [r for r in emu.request_log if r.route == "SearchAccounts"]
    assert [r.fault is not None for r in log] == [True, False, True, False]


def test_same_script_drives_soap(
    msads_emulator: Emulator, http: httpx.Client, assert_valid_soap: Check
) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", error_code=109, after=1, times=1)
    emu.faults.inject(
        "SearchAccounts", error_code=117, soap_fault_on_200=True, transport="soap", after=2, times=1
    )
    responses = [soap_search(http, emu, token) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 500, 200, 200]
    for response in responses:
        assert_valid_soap(response.content)
    assert b"<Code>109</Code>" in responses[1].content
    assert b"<Code>117</Code>" in responses[2].content and b"CallRateExceeded" in responses[2].content
    assert b"AdvertiserAccount" in responses[3].content


def test_429_with_retry_after_and_117(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("GetUser", retry_after=2, status=429)
    throttled = http.post(
        emu.url + "/CustomerManagement/v13/User/Query", json={}, headers=rest_headers(token)
    )
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["Errors"][0]["Code"] == 117
    emu.faults.inject("GetUser", error_code=117, status=400)
    rate = http.post(emu.url + "/CustomerManagement/v13/User/Query", json={}, headers=rest_headers(token))
    assert rate.status_code == 400 and rate.json()["Errors"][0]["ErrorCode"] == "CallRateExceeded"
    assert (
        http.post(
            emu.url + "/CustomerManagement/v13/User/Query", json={}, headers=rest_headers(token)
        ).status_code
        == 200
    )


def test_arbitrary_code_and_fault_type(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("GetAccount", error_code=4242, fault_type="ApiFault", status=400, message="custom text")
    response = http.post(
        emu.url + "/CustomerManagement/v13/Account/Query",
        json={"AccountId": "1"},
        headers=rest_headers(token),
    )
    assert response.status_code == 400
    assert response.json()["Type"] == "ApiFault"
    assert response.json()["OperationErrors"][0] == {"Code": 4242, "Details": None, "Message": "custom text"}


def test_token_route_faults(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    emu.faults.inject("token", status=500, times=1)
    emu.faults.inject("token", status=429, retry_after=1, after=1, times=1)
    emu.faults.inject("token", error_code=50076, after=2, times=1)
    first, second, third, fourth = (refresh(http, emu) for _ in range(4))
    assert (first.status_code, first.json()["error"]) == (500, "server_error")
    assert (second.status_code, second.json()["error"], second.headers["Retry-After"]) == (
        429,
        "temporarily_unavailable",
        "1",
    )
    assert (third.status_code, third.json()["error"], third.json()["error_codes"]) == (
        400,
        "interaction_required",
        [50076],
    )
    assert fourth.status_code == 200
    assert emu.grant_counts["refresh_token"] == 1 and emu.counters["token"] == 4


def test_delay_slows_the_answer(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", delay=0.4)
    started = time.monotonic()
    response = rest_search(http, emu, token)
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and 0.35 <= elapsed < 5


def test_timeout_holds_the_connection(msads_emulator: Emulator) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", kind="timeout", delay=5)
    with httpx.Client(timeout=httpx.Timeout(0.3)) as client, pytest.raises(httpx.ReadTimeout):
        rest_search(client, emu, token)


@pytest.mark.parametrize("transport", ["rest", "soap"])
def test_connection_reset(msads_emulator: Emulator, http: httpx.Client, transport: str) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", kind="reset")
    search = rest_search if transport == "rest" else soap_search
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        search(http, emu, token)
    assert search(http, emu, token).status_code == 200  # the pool recovers on a new connection
    assert emu.request_log[0].status == 0


def test_reset_is_a_real_tcp_rst(msads_emulator: Emulator) -> None:
    emu = msads_emulator
    emu.faults.inject("GetUser", kind="reset")
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /CustomerManagement/v13/User/Query HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        )
        with pytest.raises(ConnectionResetError):
            for _ in range(10):  # bounded: the RST arrives at the first or second read
                if not sock.recv(1024):
                    raise AssertionError("orderly close (FIN) instead of a reset (RST)")


@pytest.mark.parametrize("route", ["SearchAccounts", "token"])
def test_truncated_body(msads_emulator: Emulator, http: httpx.Client, route: str) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject(route, kind="truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        if route == "token":
            refresh(http, emu)
        else:
            rest_search(http, emu, token)
    assert rest_search(http, emu, token).status_code == 200


def test_malformed_and_html(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", kind="malformed", transport="rest")
    broken = rest_search(http, emu, token)
    assert broken.status_code == 200 and broken.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        broken.json()
    emu.faults.inject("SearchAccounts", kind="malformed", transport="soap")
    broken_xml = soap_search(http, emu, token)
    assert broken_xml.status_code == 200 and broken_xml.content.startswith(b"<s:Envelope")
    emu.faults.inject("SearchAccounts", kind="html")
    page = soap_search(http, emu, token)
    assert (
        page.status_code == 502
        and page.headers["content-type"] == "text/html"
        and b"Bad Gateway" in page.content
    )


def test_authorize_fault(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    emu.faults.inject("authorize", status=503)
    response = http.get(f"{emu.url}/common/oauth2/v2.0/authorize", params={"client_id": "x"})
    assert response.status_code == 503 and "text/html" in response.headers["content-type"]
    assert emu.counters["authorize"] == 1


def test_invalid_scripts_are_rejected(msads_emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        msads_emulator.faults.inject("SearchAccount", status=500)
    with pytest.raises(ValueError, match="unknown kind"):
        msads_emulator.faults.inject("GetUser", kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        msads_emulator.faults.inject("GetUser")
    with pytest.raises(ValueError, match="times"):
        msads_emulator.faults.inject("GetUser", status=500, times=0)


def test_times_none_is_forever_and_clear(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    emu.faults.inject("SearchAccounts", status=500, times=None)
    assert [rest_search(http, emu, token).status_code for _ in range(3)] == [500, 500, 500]
    emu.faults.clear()
    assert rest_search(http, emu, token).status_code == 200
