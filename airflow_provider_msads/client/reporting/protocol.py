"""Reporting v13 REST wire protocol: operations, bodies, responses — sans-IO where the trigger needs it.

``POST {reporting}/GenerateReport/Submit`` with ``{"ReportRequest": {...}}`` -> ``{"ReportRequestId": "…"}``;
``POST {reporting}/GenerateReport/Poll`` with ``{"ReportRequestId": "…"}`` ->
``{"ReportRequestStatus": {"Status": "Pending|Success|Error", "ReportDownloadUrl": url|null}}``.
Same headers as Customer Management, account-scoped (CustomerId / CustomerAccountId sent when known):
they are assembled by ``RestCodec.headers`` — the one home of REST headers — for the sync runner and the
async trigger alike. Faults go through the REST codec's fault parsing, then ``errors.reporting_error``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from airflow_provider_msads.client.environments import Endpoints, _is_loopback
from airflow_provider_msads.client.errors import ApiError, ConfigurationError, MalformedResponseError
from airflow_provider_msads.client.reporting.errors import reporting_error
from airflow_provider_msads.client.rest import RestCodec
from airflow_provider_msads.client.wire import Credentials, Operation, WireRequest, WireResponse

SUBMIT = Operation("SubmitGenerateReport", "GenerateReport/Submit", account_scoped=True)
POLL = Operation("PollGenerateReport", "GenerateReport/Poll", account_scoped=True)
MAX_REPORT_REQUEST_ID = 40  # docs: "has a length up to 40 and can contain any character"
StatusName = Literal["Pending", "Success", "Error"]
_STATUSES: frozenset[str] = frozenset({"Pending", "Success", "Error"})


def redact_url(url: str | None) -> str | None:
    """A download URL without its query (the SAS signature is a bearer credential): safe to log."""
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?<redacted>" if parts.query else "")


@dataclass(frozen=True, slots=True)
class ReportStatus:
    """One Poll answer. ``repr``/``str`` never show the download URL's query (its SAS signature)."""

    status: StatusName
    download_url: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"ReportStatus(status={self.status!r}, download_url={redact_url(self.download_url)!r})"

    __str__ = __repr__


def check_report_request_id(report_request_id: object) -> str:
    if not isinstance(report_request_id, str) or not 1 <= len(report_request_id) <= MAX_REPORT_REQUEST_ID:
        raise ConfigurationError(
            "report_request_id",
            f"{str(report_request_id)[:60]!r} is not a ReportRequestId (1-{MAX_REPORT_REQUEST_ID} characters)",
            "pass the id that submit_report() returned",
        )
    return report_request_id


def check_download_url(url: str, *, operation: str = POLL.name) -> str:
    """The poll's URL as given, if it is one we may fetch: https, or plain http on a loopback host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host and _is_loopback(host):
        return url
    raise MalformedResponseError(
        f"the report download URL {redact_url(url)!r} is not https (plain http is accepted on loopback only)",
        operation=operation,
    )


class ReportingCodec(RestCodec):
    """The REST codec pointed at the Reporting service: same headers and fault parsing, other bodies."""

    name = "rest"

    def __init__(self, endpoints: Endpoints) -> None:
        super().__init__(endpoints)
        self._reporting = endpoints.reporting_rest_url

    def encode(self, op: Operation, request: Any, credentials: Credentials) -> WireRequest:
        body = json.dumps(request, separators=(",", ":")).encode()
        return WireRequest(self._reporting + op.rest_path, self.headers(op, credentials), body)

    def report_request_id(self, response: WireResponse) -> str:
        doc = self._reporting_document(response, "ReportRequestId")
        value = doc.get("ReportRequestId")
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_REPORT_REQUEST_ID:
            raise MalformedResponseError(
                "Submit answered without a usable ReportRequestId",
                operation=response.operation,
                tracking_id=response.headers.get("TrackingId"),
            )
        return value

    def report_status(self, response: WireResponse) -> ReportStatus:
        doc = self._reporting_document(response, "ReportRequestStatus")
        status = doc.get("ReportRequestStatus")
        if not isinstance(status, dict) or status.get("Status") not in _STATUSES:
            raise MalformedResponseError(
                "Poll answered without a ReportRequestStatus of Pending, Success or Error",
                operation=response.operation,
                tracking_id=response.headers.get("TrackingId"),
            )
        url = status.get("ReportDownloadUrl")
        if url is not None and not isinstance(url, str):
            raise MalformedResponseError(
                "Poll answered a ReportDownloadUrl that is not a string", operation=response.operation
            )
        if url is not None and url.strip():
            url = check_download_url(url.strip(), operation=response.operation)
        else:
            url = None  # Success without a URL: no data for these parameters (docs), no file
        return ReportStatus(status["Status"], url)

    def _reporting_document(self, response: WireResponse, key: str) -> dict[str, Any]:
        try:
            return self._document(response, key)
        except ApiError as exc:
            raise reporting_error(exc) from None


def poll_body(report_request_id: str) -> dict[str, Any]:
    return {"ReportRequestId": check_report_request_id(report_request_id)}


# -- sans-IO pieces for the async trigger -------------------------------------------------------------


def poll_request(endpoints: Endpoints, report_request_id: str) -> tuple[str, dict[str, Any]]:
    """URL and JSON body of one Poll (the caller sends it with :func:`poll_headers`)."""
    return endpoints.reporting_rest_url + POLL.rest_path, poll_body(report_request_id)


def poll_headers(endpoints: Endpoints, credentials: Credentials) -> dict[str, str]:
    """The Poll request headers, from the same assembly the sync runner uses (``RestCodec.headers``)."""
    return RestCodec(endpoints).headers(POLL, credentials)


def parse_poll_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    environment: str = "production",
    secrets: tuple[str, ...] = (),
) -> ReportStatus:
    """A Poll response -> :class:`ReportStatus`, or the typed error its fault means.

    :param secrets: values to scrub from fault texts (the access and developer tokens used).
    """
    codec = ReportingCodec(_bare_endpoints(environment))
    response = WireResponse(POLL.name, status_code, httpx.Headers(dict(headers)), body, secrets)
    return codec.report_status(response)


def _bare_endpoints(environment: str) -> Endpoints:
    from airflow_provider_msads.client.environments import resolve_endpoints

    return resolve_endpoints(environment)
