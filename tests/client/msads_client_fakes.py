"""In-process fakes for client tests: a token provider and a Customer Management service (MockTransport).

The fake service checks every request it receives (SOAP: against the vendored WSDL schemas in
tests/contract; REST: against the documented JSON templates) and records problems in ``violations``;
tests assert that list is empty, so a malformed request can never pass unnoticed.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from airflow_provider_msads.client.retry import RetryPolicy

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
EXAMPLES = CONTRACT / "examples"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CUSTOMER_NS = "https://bingads.microsoft.com/Customer/v13"
ENTITIES_NS = "https://bingads.microsoft.com/Customer/v13/Entities"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
REST_OPS = {
    "User/Query": "GetUser",
    "Accounts/Search": "SearchAccounts",
    "Account/Query": "GetAccount",
    "Customer/Query": "GetCustomer",
}

ACCESS_TOKENS = (
    "EwB-ACCESS-TOKEN-one-0123456789abcdef",
    "EwB-ACCESS-TOKEN-two-0123456789abcdef",
    "EwB-ACCESS-TOKEN-three-0123456789abcdef",
)
DEVELOPER_TOKEN = "DEVTOKEN-SECRET-0123456789"


def load_validator() -> Any:
    """tests/contract/validate_soap.py as a module (it resolves its schemas next to itself)."""
    spec = importlib.util.spec_from_file_location(
        "msads_contract_validate_soap", CONTRACT / "validate_soap.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VALIDATOR = load_validator()


def rest_template(name: str) -> Any:
    """A docs JSON template with its non-JSON placeholders made parseable."""
    text = (EXAMPLES / "rest" / name).read_text()
    text = text.replace("DecimalValueHere", '"__DECIMAL__"').replace("IntValueHere", '"__INT__"')
    return json.loads(text)


def shape_errors(value: Any, template: Any, path: str = "$") -> list[str]:
    """Where ``value`` departs from a docs template: unknown keys, wrong JSON types for the placeholders."""
    if template == "LongValueHere":
        ok = value is None or (isinstance(value, str) and value.isdigit())
        return [] if ok else [f"{path}: 64-bit id must be a JSON string of digits, got {value!r}"]
    if template == "__INT__":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
        return [] if ok else [f"{path}: expected a JSON number, got {value!r}"]
    if template == "ValueHere":
        return (
            [] if value is None or isinstance(value, str) else [f"{path}: expected a string, got {value!r}"]
        )
    if isinstance(template, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errors = [f"{path}: undocumented key {k!r}" for k in value if k not in template]
        for k, v in value.items():
            if k in template:
                errors += shape_errors(v, template[k], f"{path}.{k}")
        return errors
    if isinstance(template, list):
        if value is None:
            return []
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [e for i, v in enumerate(value) for e in shape_errors(v, template[0], f"{path}[{i}]")]
    return [f"{path}: unexpected template {template!r}"]


class FakeAuth:
    """AccessTokenProvider: hands out tokens in order; ``invalidate`` moves to the next one."""

    def __init__(self, tokens: Iterable[str] = ACCESS_TOKENS) -> None:
        self.tokens = list(tokens)
        self.index = 0
        self.invalidated: list[str] = []
        self.calls = 0

    def get_access_token(self) -> str:
        self.calls += 1
        return self.tokens[self.index]

    def invalidate(self, access_token: str) -> None:
        self.invalidated.append(access_token)
        if access_token == self.tokens[self.index]:
            self.index += 1


def make_accounts(n: int, *, user_customers: tuple[int, ...] = (5000001, 5000002)) -> list[dict[str, Any]]:
    """Wire-neutral account records (what both renderers turn into JSON or XML)."""
    statuses = ("Active", "Active", "Pause", "Inactive", "Draft", "Suspended", "Pending")
    out = []
    for i in range(n):
        status = statuses[i % len(statuses)]
        out.append(
            {
                "Id": 180000000 + i * 7,
                "Number": f"F{100000 + i}",
                "Name": f"Account & <{i}> \u00e9t\u00e9",
                "ParentCustomerId": user_customers[i % len(user_customers)],
                "AccountLifeCycleStatus": status,
                "CurrencyCode": "USD" if i % 2 else "EUR",
                "TimeZone": "PacificTimeUSCanadaTijuana",
                "Language": "English",
                "AccountFinancialStatus": "ClearFinancialStatus",
                "PauseReason": (2 if i % 3 else 1) if status == "Pause" else None,
                "BillToCustomerId": user_customers[i % len(user_customers)],
                "PrimaryUserId": 123456789,
                "PaymentMethodType": "CreditCard",
                "AccountMode": "Expert",
                "LastModifiedTime": "2024-05-01T17:03:12.123",
            }
        )
    return out


#: AdvertiserAccount elements in schema order (the subset the fake renders).
SOAP_ACCOUNT_ORDER = (
    "BillToCustomerId",
    "CurrencyCode",
    "AccountFinancialStatus",
    "Id",
    "Language",
    "LastModifiedTime",
    "Name",
    "Number",
    "ParentCustomerId",
    "PaymentMethodType",
    "PrimaryUserId",
    "AccountLifeCycleStatus",
    "TimeZone",
    "PauseReason",
    "AccountMode",
)


@dataclass
class Seen:
    operation: str
    transport: str
    headers: httpx.Headers
    body: Any  # dict (REST) or lxml element of the request body (SOAP)
    page_index: int | None = None


Responder = Callable[["FakeService", Seen], httpx.Response]


@dataclass
class FakeService:
    """Customer Management over MockTransport, REST and SOAP, with scripted responses per operation."""

    accounts: list[dict[str, Any]] = field(default_factory=lambda: make_accounts(25))
    user_id: int = 123456789
    customers: dict[int, str] = field(default_factory=lambda: {5000001: "Contoso", 5000002: "Fabrikam"})
    developer_token: str = DEVELOPER_TOKEN
    valid_tokens: tuple[str, ...] = ACCESS_TOKENS[1:]  # the first token is "expired" when expire_first
    expire_first: bool = False
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    script: list[tuple[str, Callable[[Seen], bool], Responder]] = field(default_factory=list)

    # -- scripting ------------------------------------------------------------------------------

    def inject(
        self,
        operation: str,
        responder: Responder,
        *,
        times: int = 1,
        when: Callable[[Seen], bool] = lambda s: True,
    ) -> None:
        for _ in range(times):
            self.script.append((operation, when, responder))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def count(self, operation: str) -> int:
        return sum(1 for s in self.seen if s.operation == operation)

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        seen = self._parse(request)
        self.seen.append(seen)
        for i, (op, when, responder) in enumerate(self.script):
            if op == seen.operation and when(seen):
                del self.script[i]
                return responder(self, seen)
        token = self._token(seen)
        if token is None or token not in ACCESS_TOKENS or (self.expire_first and token == ACCESS_TOKENS[0]):
            return self.fault(seen, 109, status=401 if seen.transport == "rest" else 500)
        if seen.operation == "GetUser":
            return self.ok(seen, self._user())
        if seen.operation == "GetCustomer":
            cid = int(self._arg(seen, "CustomerId"))
            return self.ok(seen, {"Id": cid, "Name": self.customers.get(cid, f"Customer {cid}")})
        if seen.operation == "GetAccount":
            aid = int(self._arg(seen, "AccountId"))
            match = [a for a in self.accounts if a["Id"] == aid]
            if not match:
                return self.fault(seen, 1102, status=400)
            return self.ok(seen, match[0])
        return self.ok(seen, self._search(seen))

    def _parse(self, request: httpx.Request) -> Seen:
        content = request.read()
        if request.url.path.endswith(".svc"):
            errors = VALIDATOR.validate_envelope(content, "customer_management", expect="request")
            self.violations += [f"SOAP request: {e}" for e in errors]
            action = request.headers.get("SOAPAction", "")
            if request.headers.get("Content-Type") != "text/xml; charset=utf-8":
                self.violations.append(f"SOAP Content-Type {request.headers.get('Content-Type')!r}")
            root = etree.fromstring(content)
            body = root.find(f"{{{SOAP_ENV}}}Body")[0]  # type: ignore[index]
            if body.tag != f"{{{CUSTOMER_NS}}}{action}Request":
                self.violations.append(f"SOAPAction {action!r} does not match body {body.tag}")
            if "Authorization" in request.headers:
                self.violations.append("SOAP request carries an Authorization header")
            seen = Seen(action, "soap", request.headers, root)
            if action == "SearchAccounts":
                seen.page_index = int(body.findtext(f"{{{CUSTOMER_NS}}}PageInfo/{{{ENTITIES_NS}}}Index"))  # type: ignore[arg-type]
            return seen
        path = request.url.path.split("/CustomerManagement/v13/", 1)[1]
        op = REST_OPS[path]
        body_json = json.loads(content)
        template = rest_template(f"{op}.request.json.txt")
        self.violations += [f"REST {op} request: {e}" for e in shape_errors(body_json, template)]
        for name in ("CustomerId", "CustomerAccountId"):
            if name in request.headers:
                self.violations.append(f"REST {op} sends the {name} header (not an account-scoped service)")
        if request.headers.get("DeveloperToken") != self.developer_token:
            self.violations.append(f"REST {op}: DeveloperToken header missing or wrong")
        seen = Seen(op, "rest", request.headers, body_json)
        if op == "SearchAccounts":
            seen.page_index = body_json["PageInfo"]["Index"]
        return seen

    def _token(self, seen: Seen) -> str | None:
        if seen.transport == "rest":
            auth = seen.headers.get("Authorization", "")
            return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        token = seen.body.findtext(f"{{{SOAP_ENV}}}Header/{{{CUSTOMER_NS}}}AuthenticationToken")
        developer = seen.body.findtext(f"{{{SOAP_ENV}}}Header/{{{CUSTOMER_NS}}}DeveloperToken")
        if developer != self.developer_token:
            self.violations.append("SOAP DeveloperToken header missing or wrong")
        return token  # type: ignore[no-any-return]

    def _arg(self, seen: Seen, name: str) -> str:
        if seen.transport == "rest":
            return str(seen.body[name])
        return seen.body.find(f"{{{SOAP_ENV}}}Body")[0].findtext(f"{{{CUSTOMER_NS}}}{name}")  # type: ignore[no-any-return,index]

    def search_args(self, seen: Seen) -> tuple[list[tuple[str, str, str]], str | None, int, int]:
        """(predicates, ordering field, index, size) from either wire format."""
        if seen.transport == "rest":
            b = seen.body
            preds = [(p["Field"], p["Operator"], p["Value"]) for p in b.get("Predicates") or []]
            order = (b.get("Ordering") or [{}])[0].get("Field")
            return preds, order, b["PageInfo"]["Index"], b["PageInfo"]["Size"]
        req = seen.body.find(f"{{{SOAP_ENV}}}Body")[0]
        e = f"{{{ENTITIES_NS}}}"
        preds = [
            (p.findtext(e + "Field"), p.findtext(e + "Operator"), p.findtext(e + "Value"))
            for p in req.iter(e + "Predicate")
        ]
        order = req.findtext(f"{{{CUSTOMER_NS}}}Ordering/{e}OrderBy/{e}Field")
        page = req.find(f"{{{CUSTOMER_NS}}}PageInfo")
        return preds, order, int(page.findtext(e + "Index")), int(page.findtext(e + "Size"))  # type: ignore[arg-type,union-attr]

    def _search(self, seen: Seen) -> list[dict[str, Any]]:
        preds, _order, index, size = self.search_args(seen)
        found = sorted(self.accounts, key=lambda a: a["Id"])
        for fld, op, value in preds:
            values = value.split(",") if op == "In" else [value]
            if fld == "UserId":
                assert int(value) == self.user_id
            elif fld == "AccountId":
                found = [a for a in found if str(a["Id"]) in values]
            elif fld == "CustomerId":
                found = [a for a in found if str(a["ParentCustomerId"]) in values]
            elif fld == "AccountLifeCycleStatus":
                found = [a for a in found if a["AccountLifeCycleStatus"] in values]
            elif fld == "AccountName":
                found = [a for a in found if value.casefold() in a["Name"].casefold()]
            else:
                self.violations.append(f"unsupported predicate {fld}")
        return found[index * size : (index + 1) * size]

    def _user(self) -> dict[str, Any]:
        return {
            "Id": self.user_id,
            "UserName": "someone@example.com",
            "CustomerId": 5000001,
            "Roles": [(cid, 41) for cid in self.customers],
        }

    # -- rendering ------------------------------------------------------------------------------

    def ok(self, seen: Seen, data: Any, *, status: int = 200) -> httpx.Response:
        headers = {"TrackingId": f"track-{len(self.seen)}"}
        op = seen.operation
        if seen.transport == "rest":
            return httpx.Response(status, json=rest_payload(op, data), headers=headers)
        return httpx.Response(status, content=soap_payload(op, data, headers["TrackingId"]), headers=headers)

    def fault(
        self,
        seen: Seen,
        code: int,
        *,
        status: int = 500,
        message: str = "failure",
        retry_after: str | None = None,
        soap_status: int | None = None,
    ) -> httpx.Response:
        headers = {"TrackingId": f"fault-track-{len(self.seen)}"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if seen.transport == "rest":
            body = {
                "TrackingId": headers["TrackingId"],
                "Type": "AdApiFaultDetail",
                "Errors": [{"Code": code, "Detail": None, "ErrorCode": f"E{code}", "Message": message}],
            }
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(
            soap_status or status, content=soap_fault(code, message, headers["TrackingId"]), headers=headers
        )


def rest_payload(op: str, data: Any) -> dict[str, Any]:
    def account(a: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k in ("Id", "ParentCustomerId", "BillToCustomerId", "PrimaryUserId"):
            out[k] = None if out.get(k) is None else str(out[k])
        out["PauseReason"] = None if a.get("PauseReason") is None else str(a["PauseReason"])
        return out

    if op == "SearchAccounts":
        return {"Accounts": [account(a) for a in data]}
    if op == "GetAccount":
        return {"Account": account(data)}
    if op == "GetCustomer":
        return {"Customer": {"Id": str(data["Id"]), "Name": data["Name"]}}
    return {
        "User": {"Id": str(data["Id"]), "UserName": data["UserName"], "CustomerId": str(data["CustomerId"])},
        "CustomerRoles": [
            {"CustomerId": str(c), "RoleId": r, "AccountIds": None, "LinkedAccountIds": None}
            for c, r in data["Roles"]
        ],
    }


def _soap_account(a: dict[str, Any], tag: str) -> str:
    parts = []
    for name in SOAP_ACCOUNT_ORDER:
        value = a.get(name)
        parts.append(
            f'<a:{name} i:nil="true"/>' if value is None else f"<a:{name}>{escape(str(value))}</a:{name}>"
        )
    return f"<{tag}>{''.join(parts)}</{tag}>"


def soap_payload(op: str, data: Any, tracking_id: str) -> bytes:
    ns = f'xmlns:a="{ENTITIES_NS}" xmlns:i="{XSI}"'
    if op == "SearchAccounts":
        inner = (
            f"<Accounts {ns}>"
            + "".join(_soap_account(a, "a:AdvertiserAccount") for a in data)
            + "</Accounts>"
        )
    elif op == "GetAccount":
        inner = _soap_account(data, f"Account {ns}").replace(f"</Account {ns}>", "</Account>")
    elif op == "GetCustomer":
        inner = f"<Customer {ns}><a:Id>{data['Id']}</a:Id><a:Name>{escape(data['Name'])}</a:Name></Customer>"
    else:
        roles = "".join(
            f"<a:CustomerRole><a:RoleId>{r}</a:RoleId><a:CustomerId>{c}</a:CustomerId>"
            f'<a:AccountIds i:nil="true"/><a:LinkedAccountIds i:nil="true"/></a:CustomerRole>'
            for c, r in data["Roles"]
        )
        inner = (
            f"<User {ns}><a:CustomerId>{data['CustomerId']}</a:CustomerId><a:Id>{data['Id']}</a:Id>"
            f"<a:UserName>{escape(data['UserName'])}</a:UserName></User>"
            f"<CustomerRoles {ns}>{roles}</CustomerRoles>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_ENV}"><s:Header>'
        f'<h:TrackingId xmlns:h="{CUSTOMER_NS}">{tracking_id}</h:TrackingId></s:Header><s:Body>'
        f'<{op}Response xmlns="{CUSTOMER_NS}">{inner}</{op}Response></s:Body></s:Envelope>'
    ).encode()


def soap_fault(code: int, message: str, tracking_id: str, *, kind: str = "AdApiFaultDetail") -> bytes:
    if kind == "ApiFault":
        detail = (
            f'<ApiFault xmlns="{CUSTOMER_NS}" xmlns:i="{XSI}"><TrackingId xmlns="https://adapi.microsoft.com">'
            f'{tracking_id}</TrackingId><OperationErrors xmlns="{CUSTOMER_NS}/Exception"><OperationError>'
            f'<Code>{code}</Code><Details i:nil="true"/><Message>{escape(message)}</Message>'
            "</OperationError></OperationErrors></ApiFault>"
        )
    else:
        detail = (
            f'<AdApiFaultDetail xmlns="https://adapi.microsoft.com" xmlns:i="{XSI}"><TrackingId>{tracking_id}'
            f'</TrackingId><Errors><AdApiError><Code>{code}</Code><Detail i:nil="true"/>'
            f"<ErrorCode>E{code}</ErrorCode><Message>{escape(message)}</Message></AdApiError></Errors>"
            "</AdApiFaultDetail>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_ENV}"><s:Header>'
        f'<h:TrackingId xmlns:h="{CUSTOMER_NS}">{tracking_id}</h:TrackingId></s:Header><s:Body><s:Fault>'
        f'<faultcode>s:Server</faultcode><faultstring xml:lang="en-US">Invalid client data. TrackingId: '
        f"{tracking_id}.</faultstring><detail>{detail}</detail></s:Fault></s:Body></s:Envelope>"
    ).encode()


def example_soap(name: str) -> bytes:
    return (EXAMPLES / "soap" / name).read_bytes()


def strip_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text)


#: Tiny waits so retry tests take milliseconds; attempts stay realistic.
FAST_RETRY = RetryPolicy(
    max_attempts=4, max_total_seconds=5.0, backoff_base=0.001, backoff_max=0.002, throttle_wait=0.001
)


class Sleeps(list[float]):
    """Records the waits a client asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
