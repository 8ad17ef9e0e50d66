"""Hostile input, each rejected with a clear message: bodies a broken proxy or an attacker could send
(over a real socket), ids that overflow, bad page sizes, SQL-ish table names rendered at run time,
plain-http overrides to public hosts, connection extras of the wrong type; plus property tests of the
parsers and of connection parsing.

Not repeated here (covered elsewhere): DTD/entity refusal at the parser (tests/client/test_client_hardening),
hostile XML through a MockTransport (tests/client/test_client_faults), identifier validation
(tests/warehouse/test_dialect), the field-by-field connection errors (tests/client/test_settings).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msads_reliability_helpers import HostileServer, Recorder, SqlTarget, make_sql_target

from airflow_provider_msads.client import MicrosoftAdsClient
from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.errors import (
    ConfigurationError,
    InvalidResponseError,
    MalformedResponseError,
    MicrosoftAdsError,
    ResponseTooLargeError,
    UnsafeXmlError,
)
from airflow_provider_msads.client.rest import RestCodec
from airflow_provider_msads.client.retry import RetryPolicy, is_retryable
from airflow_provider_msads.client.settings import KNOWN_EXTRAS, ConnectionSettings
from airflow_provider_msads.client.soap import SoapCodec
from airflow_provider_msads.client.wire import WireResponse
from airflow_provider_msads.operators.accounts import MicrosoftAdsAccountsToSqlOperator

_AIRFLOW_VERSION = tuple(int(p) for p in version("apache-airflow").split(".")[:2])

FAST = RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_max=0.0, throttle_wait=0.0)
ENDPOINTS = resolve_endpoints()
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CM = "https://bingads.microsoft.com/Customer/v13"
ENT = "https://bingads.microsoft.com/Customer/v13/Entities"


class StaticAuth:
    """An access-token provider for a server that checks nothing."""

    def get_access_token(self) -> str:
        return "static-access-token-for-hostile-server"

    def invalidate(self, access_token: str) -> None:
        pass


def hostile_client(server: HostileServer, transport: str, **kwargs: Any) -> MicrosoftAdsClient:
    endpoints = resolve_endpoints(api_base_url=server.url)
    return MicrosoftAdsClient(
        StaticAuth(), "hostile-dev-token", endpoints, transport, retry=FAST, sleep=lambda s: None, **kwargs
    )


def soap_page(ids: list[str]) -> bytes:
    accounts = "".join(
        f'<a:AdvertiserAccount xmlns:a="{ENT}"><a:Id>{i}</a:Id><a:Name>n</a:Name></a:AdvertiserAccount>'
        for i in ids
    )
    return (
        f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><SearchAccountsResponse xmlns="{CM}">'
        f"<Accounts>{accounts}</Accounts></SearchAccountsResponse></s:Body></s:Envelope>"
    ).encode()


def rest_page(ids: list[Any]) -> bytes:
    return json.dumps({"Accounts": [{"Id": i, "Name": "n"} for i in ids]}).encode()


def wire(body: bytes, op: str = "SearchAccounts", status: int = 200) -> WireResponse:
    return WireResponse(op, status, httpx.Headers({"TrackingId": "t-hostile"}), body)


# -- ids that overflow (regression: the codecs used int(), which took 2**70, -5, 1.5, True and "٣") --------

BAD_IDS: list[Any] = ["99999999999999999999", str(2**63), 2**64, -5, "-5", 1.5, True, "٣", "1e3", "12abc"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=[repr(b) for b in BAD_IDS])
@pytest.mark.parametrize("transport", ["rest", "soap"])
def test_ids_that_are_not_64_bit_integers_are_invalid(transport: str, bad: Any, recorder: Recorder) -> None:
    if transport == "soap" and not isinstance(bad, str):
        bad = str(bad)  # XML text: True -> "True", 1.5 -> "1.5"
    codec: Any = RestCodec(ENDPOINTS) if transport == "rest" else SoapCodec(ENDPOINTS)
    body = rest_page([7, bad]) if transport == "rest" else soap_page(["7", bad])
    with pytest.raises(InvalidResponseError, match=r"unexpected AdvertiserAccount content") as caught:
        codec.accounts(wire(body))
    assert caught.value.tracking_id == "t-hostile"
    assert not is_retryable(caught.value)  # well-formed but invalid: the same bytes would come back
    if isinstance(bad, str) and len(bad) > 2:
        assert bad not in str(caught.value)  # never quote an unparsed value (it could be a secret)
    if bad == BAD_IDS[0]:
        recorder.record(f"hostile: id beyond 64 bits ({transport})", result="InvalidResponseError")


def test_largest_64_bit_id_still_parses() -> None:
    top = str(2**63 - 1)
    assert [a.id for a in RestCodec(ENDPOINTS).accounts(wire(rest_page([top, "1"])))] == [2**63 - 1, 1]
    assert [a.id for a in SoapCodec(ENDPOINTS).accounts(wire(soap_page([top])))] == [2**63 - 1]


# -- hostile bodies over a real socket -----------------------------------------------------------------


def _endless() -> Iterator[bytes]:
    yield b'{"Accounts": ['
    chunk = b'{"Id": "1", "Name": "' + b"x" * 65_000 + b'"},'
    for _ in range(100_000):  # 6.5 GB if nobody stops reading; the cap stops it after ~1 MB
        yield chunk


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&x;</s:Body></s:Envelope>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">'
    + b"".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">'.encode() for i in range(1, 10))
    + b"]><r>&l9;</r>"
)
DEEP_JSON = b'{"Accounts": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
DEEP_XML = b"<a>" * 5_000 + b"</a>" * 5_000
BAD_UTF8_JSON = b'{"Accounts": [{"Id": "1", "Name": "\xff\xfe broken"}]}'
BAD_UTF8_XML = soap_page(["1"]).replace(b"<a:Name>n</a:Name>", b"<a:Name>\xff\xfe</a:Name>")

# name, transport, body, content type, error class, message fragment, requests (1 = refused, not retried)
HOSTILE: list[tuple[str, str, Any, str, type[Exception], str, int]] = [
    ("xxe", "soap", XXE, "text/xml", UnsafeXmlError, "XXE", 1),
    ("billion-laughs", "soap", LAUGHS, "text/xml", UnsafeXmlError, "entity expansion", 1),
    ("deep-nesting-json", "rest", DEEP_JSON, "application/json", MalformedResponseError, "not JSON", 3),
    ("deep-nesting-xml", "soap", DEEP_XML, "text/xml", MalformedResponseError, "not well-formed", 3),
    ("invalid-utf8-json", "rest", BAD_UTF8_JSON, "application/json", MalformedResponseError, "not JSON", 3),
    ("invalid-utf8-xml", "soap", BAD_UTF8_XML, "text/xml", MalformedResponseError, "not well-formed", 3),
    ("huge-streamed-json", "rest", _endless, "application/json", ResponseTooLargeError, "byte cap", 1),
    ("huge-streamed-xml", "soap", _endless, "text/xml", ResponseTooLargeError, "byte cap", 1),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "transport", "body", "ctype", "cls", "says", "requests"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_bodies_are_refused_with_a_clear_message(
    name: str,
    transport: str,
    body: Any,
    ctype: str,
    cls: type[Exception],
    says: str,
    requests: int,
    recorder: Recorder,
) -> None:
    with HostileServer(200, body, ctype) as server:
        client = hostile_client(server, transport, max_response_bytes=1_000_000)
        started = time.monotonic()
        with pytest.raises(cls) as caught:
            list(client.search_accounts(user_id=1))
        elapsed = time.monotonic() - started
        client.close()
    err = caught.value
    assert says in str(err) and err.operation == "SearchAccounts"  # type: ignore[attr-defined]
    assert server.requests == requests  # the fault fired; refused bodies are not fetched again
    assert elapsed < 10
    assert "root:" not in str(err) and "lollol" not in str(err)
    recorder.record(f"hostile: {name} ({transport})", runs=server.requests, result=type(err).__name__)


# -- negative / absurd page sizes ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.text(max_size=5)))
def test_page_size_is_accepted_exactly_in_1_to_1000(page_size: Any) -> None:
    client = MicrosoftAdsClient(StaticAuth(), "dev-token", ENDPOINTS, retry=FAST)
    valid = isinstance(page_size, int) and not isinstance(page_size, bool) and 1 <= page_size <= 1000
    try:
        client.search_accounts(user_id=1, page_size=page_size)  # validated now, no request yet
        client.discover_accounts(page_size=page_size)
    except ConfigurationError as err:
        assert not valid and err.field == "page_size" and "use 1..1000" in str(err)
    else:
        assert valid
    finally:
        client.close()
    if valid:
        return
    with pytest.raises((ValueError, TypeError), match="page_size"):
        MicrosoftAdsAccountsToSqlOperator(task_id="t", page_size=page_size)


# -- SQL-ish table names rendered at run time --------------------------------------------------------------

SQLISH = [
    "msads_accounts; DROP TABLE victims; --",
    'x" ; DELETE FROM victims; --',
    "victims WHERE 1=1",
    "public.victims",
    "`victims`",
    "t\x00",
    "ａｃｃｏｕｎｔｓ",  # fullwidth letters  # noqa: RUF001
    "a" * 64,
]


@pytest.mark.parametrize("name", SQLISH, ids=range(len(SQLISH)))
def test_sql_ish_table_names_from_templates_are_refused_before_any_sql(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """A table name that only exists after rendering (params, Variables, upstream XCom) is checked at
    run time, before the database is touched: the other table stays exactly as it was."""
    target: SqlTarget = make_sql_target("sqlite", tmp_path)
    target.execute("CREATE TABLE victims (id INTEGER PRIMARY KEY)")
    target.execute("INSERT INTO victims VALUES (1), (2)")
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_REL_SQL", target.uri)
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_REL_API", '{"conn_type": "msads"}')  # never reached
    op = MicrosoftAdsAccountsToSqlOperator(
        task_id="t", table="{{ params.table }}", sql_conn_id="msads_rel_sql", msads_conn_id="msads_rel_api"
    )
    op.table = name  # what rendering the template produced
    context: Any = {"ti": SimpleNamespace(), "dag_run": SimpleNamespace(run_after=datetime.now(timezone.utc))}
    with pytest.raises(Exception, match="invalid table name") as caught:  # AirflowFailException: no retries
        op.execute(context)
    assert type(caught.value).__name__ == "AirflowFailException"
    assert isinstance(caught.value.__cause__, ValueError)  # a ConfigurationError naming the field
    assert "A-Z, a-z, 0-9 and '_'" in str(caught.value)
    assert target.execute("SELECT id FROM victims ORDER BY id") == [(1,), (2,)]
    assert target.execute("SELECT name FROM sqlite_master") == [("victims",)]
    if name == SQLISH[0]:
        recorder.record(
            "hostile: SQL-ish table name (templated)",
            result="ConfigurationError (task fails without retries), no SQL run",
        )


# -- plain-http endpoint overrides to public hosts -----------------------------------------------------

PUBLIC_HTTP = [
    "http://clientcenter.api.bingads.microsoft.com",
    "http://127.0.0.1.evil.example",
    "http://localhost.evil.example",
    "http://127.0.0.1:80@evil.example",
    "http://localhost@evil.example:8080/",
    "HTTP://EVIL.EXAMPLE",
    "http://127.1",  # not canonical: not trusted as loopback
    "http://0x7f000001",
    "http://[::ffff:8.8.8.8]",
    "http://169.254.169.254",  # cloud metadata service
    "http://10.0.0.1",
    "http://evil.example#@127.0.0.1",
]


@pytest.mark.parametrize("url", PUBLIC_HTTP)
@pytest.mark.parametrize("field", ["api_base_url", "auth_base_url"])
def test_plain_http_overrides_to_public_hosts_are_refused_through_the_hook(
    url: str, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    conn = {"conn_type": "msads", "login": "c", "password": "r" * 20, "extra": {"developer_token": "d" * 10}}
    conn["extra"][field] = url  # type: ignore[index]
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_REL_HTTP", json.dumps(conn))
    with pytest.raises(ConfigurationError) as caught:
        _ = MicrosoftAdsHook("msads_rel_http").settings
    assert caught.value.field == field
    assert "use https" in str(caught.value) or "query or fragment" in str(caught.value)


@settings(max_examples=80, deadline=None)
@given(
    host=st.one_of(
        st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
        st.ip_addresses(v=4).map(str),
    ),
    port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
)
def test_http_override_is_allowed_only_for_loopback(host: str, port: int | None) -> None:
    import ipaddress

    netloc = f"{host}:{port}" if port else host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    try:
        resolve_endpoints(api_base_url=f"http://{netloc}")
    except ConfigurationError as err:
        assert not loopback and err.field == "api_base_url"
    else:
        assert loopback
    resolve_endpoints(api_base_url=f"https://{netloc}")  # https is always allowed (proxies)


# -- connection extras of the wrong type ----------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
VALID_BASE = {"developer_token": "DEVTOKEN123", "environment": "production"}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(KNOWN_EXTRAS)), JSON_VALUES, min_size=1, max_size=3))
def test_any_json_extras_give_settings_or_a_configuration_error_naming_a_field(extra: dict[str, Any]) -> None:
    try:
        settings_ = ConnectionSettings.from_connection_fields(
            login="client", password="refresh-token", extra={**VALID_BASE, **extra}
        )
    except ConfigurationError as err:
        assert err.field in {*KNOWN_EXTRAS, "extra"} and str(err).startswith(f"{err.field}: ")
        assert err.fix
    else:
        assert settings_.transport in ("rest", "soap")
        for key in ("customer_id", "account_id"):
            value = getattr(settings_, key)
            assert value is None or 0 < value < 2**63


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        pytest.param(
            '["developer_token", "x"]',
            "extra: must be a JSON object",
            marks=pytest.mark.skipif(
                _AIRFLOW_VERSION < (3, 2),
                reason="Airflow 3.1 itself refuses a JSON connection whose extra is not an object",
            ),
        ),
        ('{"developer_token": ["a"]}', "developer_token: expected text, got list"),
        ('{"developer_token": "d", "customer_id": 12.5}', "customer_id: expected a number, got float"),
        ('{"developer_token": "d", "environment": {"name": "sandbox"}}', "environment: expected text"),
        ('{"developer_token": "d", "transport": 1}', "transport: expected text, got int"),
        ('{"developer_token": "d", "api_base_url": ["http://127.0.0.1"]}', "api_base_url: expected text"),
    ],
)
def test_wrong_typed_extras_through_the_hook(extra: str, says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    conn = {"conn_type": "msads", "login": "c", "password": "refresh-token-x", "extra": json.loads(extra)}
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_REL_EXTRA", json.dumps(conn))
    hook = MicrosoftAdsHook("msads_rel_extra")
    with pytest.raises(ConfigurationError, match=r"^" + says.replace("[", r"\[")):
        _ = hook.settings
    ok, message = hook.test_connection()  # the UI's Test button says the same, never a traceback
    assert not ok and message.startswith("ConfigurationError: " + says.split(":")[0])


# -- parsers never fail with anything but our errors (property tests) ------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSON_VALUES, status=st.sampled_from([200, 400, 429, 500, 503]))
def test_rest_codec_raises_only_provider_errors(doc: Any, status: int) -> None:
    codec = RestCodec(ENDPOINTS)
    for payload in (doc, {"Accounts": doc}, {"Accounts": [doc]}, {"User": doc}, {"Errors": doc}):
        for decode in (codec.accounts, codec.user_info, codec.account, codec.customer):
            try:
                result = decode(wire(json.dumps(payload).encode(), status=status))
            except MicrosoftAdsError:
                continue
            assert status == 200
            if isinstance(result, list):
                assert all(0 <= a.id < 2**63 for a in result)


XML_TAGS = st.sampled_from(
    [
        f"{{{SOAP_ENV}}}Envelope",
        f"{{{SOAP_ENV}}}Body",
        f"{{{SOAP_ENV}}}Fault",
        f"{{{CM}}}SearchAccountsResponse",
        f"{{{CM}}}Accounts",
        f"{{{ENT}}}AdvertiserAccount",
        f"{{{ENT}}}Id",
        f"{{{ENT}}}ParentCustomerId",
        "detail",
        "AdApiError",
        "Code",
        "x",
    ]
)


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> Any:
    from lxml import etree

    el = etree.Element(draw(XML_TAGS))
    el.text = draw(st.one_of(st.none(), st.sampled_from(["1", "-1", "1.5", str(2**64), "abc", "42"])))
    if depth < 5:
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            el.append(draw(xml_trees(depth + 1)))
    return el


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=xml_trees(), status=st.sampled_from([200, 500]), cut=st.integers(min_value=0, max_value=400))
def test_soap_codec_raises_only_provider_errors(tree: Any, status: int, cut: int) -> None:
    from lxml import etree

    body = etree.tostring(tree)
    codec = SoapCodec(ENDPOINTS)
    for payload in (body, body[:cut]):
        try:
            result = codec.accounts(wire(payload, status=status))
        except MicrosoftAdsError:
            continue
        assert status == 200 and all(0 <= a.id < 2**63 for a in result)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(min_value=0, max_value=2**63 - 1), max_size=20))
def test_every_64_bit_id_round_trips_on_both_codecs(ids: list[int]) -> None:
    assert [a.id for a in RestCodec(ENDPOINTS).accounts(wire(rest_page([str(i) for i in ids])))] == ids
    assert [a.id for a in SoapCodec(ENDPOINTS).accounts(wire(soap_page([str(i) for i in ids])))] == ids
