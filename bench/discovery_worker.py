"""One measured account discovery, run in a fresh interpreter so that peak RSS means something.

Implementations (``--impl``):

* ``rest`` / ``soap``: ``MicrosoftAdsClient.discover_accounts()`` over that transport (the client only:
  a fresh refresh grant each run, no token store);
* ``hook``: what a task runs, ``MicrosoftAdsHook("msads_default").iter_accounts()`` over REST with the
  default Variable token store (needs ``AIRFLOW_HOME`` with a migrated metadata DB and
  ``AIRFLOW_CONN_MSADS_DEFAULT``). Airflow, the ORM and the hook module are loaded and a first
  Variable query is made before timing, as in a worker's task process; the timed part builds the hook,
  reads the connection and the token store, and pages through every account;
* ``raw-json``: the floor for REST, plain httpx + ``json.loads``, dicts straight off the wire;
* ``raw-lxml``: the floor for SOAP, plain httpx + ``lxml.etree.fromstring``, one ``{tag: text}`` dict
  per account.

Every implementation makes the same requests: one refresh-token grant, GetUser, then SearchAccounts
pages of 1,000 (UserId predicate, ordered by Id) until a short page. ``--mode list`` keeps every account
(what a caller collecting a list pays); ``--mode stream`` keeps only a count (memory must stay flat in N).

Prints one JSON line: rows, seconds (token grant to last account; imports excluded), import_seconds,
peak_rss and base_rss (bytes; base = after imports, before discovery), client-side request count.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

PAGE_SIZE = 1000


def _maxrss() -> int:
    """Peak RSS of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- the product ------------------------------------------------------------------------------------


def product(transport: str, conn: dict[str, Any]) -> tuple[Callable[[], Iterator[Any]], Callable[[], int]]:
    from airflow_provider_msads.client import MicrosoftAdsClient
    from airflow_provider_msads.client.settings import ConnectionSettings

    settings = ConnectionSettings.from_connection_fields(
        login=conn["login"], password=conn["password"], extra={**conn["extra"], "transport": transport}
    )
    holder: dict[str, Any] = {}

    def run() -> Iterator[Any]:
        with MicrosoftAdsClient.from_settings(settings) as client:
            holder["client"] = client
            yield from client.discover_accounts()

    # +1: the refresh grant goes through the auth object's httpx calls, not the runner's counter.
    return run, lambda: holder["client"].stats.requests + 1


def hook(conn: dict[str, Any]) -> tuple[Callable[[], Iterator[Any]], Callable[[], int]]:
    from airflow.models.variable import Variable
    from airflow.sdk import BaseHook

    from airflow_provider_msads.hooks import token_store
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    # What a task process has done before its first line of user code: ORM configured and a database
    # connection open, the secrets backends loaded (another connection id, so ours is not cached).
    Variable.get("msads_bench_warm_up", default_var=None)
    with contextlib.suppress(Exception):  # not defined: the lookup through every backend is the point
        BaseHook.get_connection("msads_bench_warm_up")
    token_store.reset_variable_calls()
    holder: dict[str, Any] = {}

    def run() -> Iterator[Any]:
        h = MicrosoftAdsHook("msads_default")
        with h.get_client() as client:
            holder["client"] = client
            yield from client.discover_accounts()
        holder["variable_calls"] = token_store.variable_calls()

    return run, lambda: holder["client"].stats.requests


# -- the floors -------------------------------------------------------------------------------------


class _Raw:
    """What both floors share: token grant and URLs, straight from the connection JSON."""

    def __init__(self, conn: dict[str, Any]) -> None:
        extra = conn["extra"]
        self.conn = conn
        self.base = extra["api_base_url"].rstrip("/")
        self.token_url = extra["auth_base_url"].rstrip("/") + "/common/oauth2/v2.0/token"
        self.developer_token = extra["developer_token"]
        self.requests = 0

    def token(self, http: Any) -> str:
        form = {
            "client_id": self.conn["login"],
            "grant_type": "refresh_token",
            "refresh_token": self.conn["password"],
            "scope": "https://ads.microsoft.com/msads.manage offline_access",
            "client_secret": self.conn["extra"]["client_secret"],
        }
        self.requests += 1
        response = http.post(self.token_url, data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])


def raw_json(conn: dict[str, Any]) -> tuple[Callable[[], Iterator[Any]], Callable[[], int]]:
    import httpx

    raw = _Raw(conn)
    url = raw.base + "/CustomerManagement/v13/"

    def run() -> Iterator[Any]:
        with httpx.Client() as http:
            headers = {
                "Authorization": "Bearer " + raw.token(http),
                "DeveloperToken": raw.developer_token,
                "Content-Type": "application/json",
            }

            def post(path: str, body: dict[str, Any]) -> Any:
                raw.requests += 1
                response = http.post(url + path, content=json.dumps(body), headers=headers)
                response.raise_for_status()
                return json.loads(response.content)

            user_id = post("User/Query", {"UserId": None})["User"]["Id"]
            index = 0
            while True:
                body = {
                    "Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": str(user_id)}],
                    "Ordering": [{"Field": "Id", "Order": "Ascending"}],
                    "PageInfo": {"Index": index, "Size": PAGE_SIZE},
                }
                page = post("Accounts/Search", body)["Accounts"]
                yield from page
                if len(page) < PAGE_SIZE:
                    return
                index += 1

    return run, lambda: raw.requests


_ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:c="https://bingads.microsoft.com/Customer/v13" '
    'xmlns:e="https://bingads.microsoft.com/Customer/v13/Entities">'
    "<s:Header><c:AuthenticationToken>{token}</c:AuthenticationToken>"
    "<c:DeveloperToken>{developer_token}</c:DeveloperToken></s:Header><s:Body>{body}</s:Body></s:Envelope>"
)
_GET_USER = '<c:GetUserRequest><c:UserId i:nil="true"/></c:GetUserRequest>'
_SEARCH = (
    "<c:SearchAccountsRequest><c:Predicates><e:Predicate><e:Field>UserId</e:Field>"
    "<e:Operator>Equals</e:Operator><e:Value>{user_id}</e:Value></e:Predicate></c:Predicates>"
    "<c:Ordering><e:OrderBy><e:Field>Id</e:Field><e:Order>Ascending</e:Order></e:OrderBy></c:Ordering>"
    "<c:PageInfo><e:Index>{index}</e:Index><e:Size>{size}</e:Size></c:PageInfo></c:SearchAccountsRequest>"
)
_C = "{https://bingads.microsoft.com/Customer/v13}"
_E = "{https://bingads.microsoft.com/Customer/v13/Entities}"


def raw_lxml(conn: dict[str, Any]) -> tuple[Callable[[], Iterator[Any]], Callable[[], int]]:
    import httpx
    from lxml import etree

    raw = _Raw(conn)
    url = raw.base + "/Api/CustomerManagement/v13/CustomerManagementService.svc"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

    def run() -> Iterator[Any]:
        with httpx.Client() as http:
            token = raw.token(http)

            def post(action: str, body: str) -> Any:
                raw.requests += 1
                envelope = _ENVELOPE.format(token=token, developer_token=raw.developer_token, body=body)
                response = http.post(
                    url,
                    content=envelope.encode(),
                    headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action},
                )
                response.raise_for_status()
                return etree.fromstring(response.content, parser)

            user_id = post("GetUser", _GET_USER).findtext(f".//{_C}User/{_E}Id")
            index = 0
            while True:
                root = post("SearchAccounts", _SEARCH.format(user_id=user_id, index=index, size=PAGE_SIZE))
                accounts = root.find(f".//{_C}Accounts")
                page = [{child.tag: child.text for child in account} for account in accounts]
                yield from page
                if len(page) < PAGE_SIZE:
                    return
                index += 1

    return run, lambda: raw.requests


_CLIENT = ("airflow_provider_msads.client", "airflow_provider_msads.client.settings")
PRELOAD: dict[str, tuple[str, ...]] = {
    "rest": (*_CLIENT, "airflow_provider_msads.client.rest"),
    "soap": (*_CLIENT, "airflow_provider_msads.client.soap"),
    "hook": (*_CLIENT, "airflow_provider_msads.client.rest", "airflow_provider_msads.hooks.msads"),
    "raw-json": ("httpx",),
    "raw-lxml": ("httpx", "lxml.etree"),
}
IMPLEMENTATIONS: dict[
    str, Callable[[dict[str, Any]], tuple[Callable[[], Iterator[Any]], Callable[[], int]]]
] = {
    "rest": lambda conn: product("rest", conn),
    "soap": lambda conn: product("soap", conn),
    "hook": hook,
    "raw-json": raw_json,
    "raw-lxml": raw_lxml,
}


# -- driver -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=tuple(IMPLEMENTATIONS), required=True)
    parser.add_argument("--mode", choices=("list", "stream"), default="list")
    parser.add_argument("--conn", required=True, help="the emulator's connection JSON")
    args = parser.parse_args()
    conn = json.loads(args.conn)

    started = time.perf_counter()
    for module in PRELOAD[args.impl]:  # imports are timed apart from discovery
        importlib.import_module(module)
    run, requests = IMPLEMENTATIONS[args.impl](conn)
    import_seconds = time.perf_counter() - started
    base_rss = _maxrss()

    started = time.perf_counter()
    if args.mode == "list":
        kept = list(run())
        rows = len(kept)
    else:
        rows = sum(1 for _ in run())
        kept = []
    seconds = time.perf_counter() - started
    extra: dict[str, Any] = {}
    if args.impl == "hook":
        from airflow_provider_msads.hooks import token_store

        extra["variable_calls"] = token_store.variable_calls()
    print(
        json.dumps(
            {
                "impl": args.impl,
                "mode": args.mode,
                "rows": rows,
                "seconds": seconds,
                "import_seconds": import_seconds,
                "base_rss": base_rss,
                "peak_rss": _maxrss(),
                "requests": requests(),
                **extra,
            }
        )
    )
    del kept
    return 0


if __name__ == "__main__":
    sys.exit(main())
