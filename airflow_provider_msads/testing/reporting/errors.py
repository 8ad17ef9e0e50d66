"""Reporting v13 faults: the codes the emulator answers with and their REST (JSON) bodies.

Shapes (reporting README §2, ``schemas/ApplicationFault.schema.json``): call-level problems (credentials,
throttling, internal errors) come as ``AdApiFaultDetail`` with ``Errors[]``; request problems as
``ApiFaultDetail`` with ``OperationErrors[]`` (and ``BatchErrors``), each error with ``Code``,
``ErrorCode``, ``Message``, ``Details``. Both are sent unwrapped, ``Type`` at the top level.

``ErrorCode`` strings: the docs prefix codes 2001-2041 with ``ReportingService``; a live fault quoted in the
README shows the name without the prefix (``AccountNotAuthorized``). The emulator sends the prefix-less
form; clients should dispatch on the numeric ``Code``. Messages are the docs' descriptions
(``error-codes.json``), copied here because the package must not read the shared pack at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_msads.testing.codes import api_code


@dataclass(frozen=True, slots=True)
class ReportingCode:
    code: int
    name: str
    message: str
    http_status: int = 400


_CODES: tuple[ReportingCode, ...] = (
    ReportingCode(
        207,
        "ConcurrentRequestOverLimit",
        "You have already reached the maximum number of concurrent report requests. Please wait until the "
        "previous reports are completed and then try to submit a new request.",
    ),
    ReportingCode(2001, "NullReportRequest", "The report request is null."),
    ReportingCode(2002, "UnknownReportType", "The report request type is not valid."),
    ReportingCode(
        2003,
        "AccountNotAuthorized",
        "The specified report request contains at least one account that you do not have privileges to "
        "access.",
    ),
    ReportingCode(
        2004,
        "NoCompleteDataAvaliable",
        "You requested a report with complete data for all included campaigns. Currently only partial data "
        "is available in the respective time zone of one or more campaigns. Please try again later or "
        "submit a report request for partial data.",
    ),
    ReportingCode(
        2005,
        "InvalidDataAvailabilityAndTimePeriodCombination",
        "The report request indicates that complete data is required; however, the request contains a "
        "report time period for which complete data cannot be returned.",
    ),
    ReportingCode(2006, "InvalidReportName", "The report name is not valid."),
    ReportingCode(
        2007,
        "InvalidReportAggregation",
        "The report aggregation is not valid for the specified report time period.",
    ),
    ReportingCode(
        2008,
        "InvalidReportTimeSelection",
        "The report time is null or contains more than one predefined time, custom date, or custom date "
        "range start and end.",
    ),
    ReportingCode(
        2009,
        "InvalidCustomDateRangeStart",
        "The report time contains a custom date range start value that is not valid.",
    ),
    ReportingCode(
        2010,
        "InvalidCustomDateRangeEnd",
        "The report time contains a custom date range end value that is not valid.",
    ),
    ReportingCode(
        2011,
        "EndDateBeforeStartDate",
        "The report time contains a custom date range that is not valid; the end date cannot be earlier "
        "than the start date.",
    ),
    ReportingCode(
        2014, "NullColumns", "The list of columns to include in the report cannot be null or empty."
    ),
    ReportingCode(
        2015,
        "RequiredColumnsNotSelected",
        "The list of columns to include in the report must contain all required columns.",
    ),
    ReportingCode(
        2016, "DuplicateColumns", "The list of columns to include in the report contains duplicate."
    ),
    ReportingCode(
        2019,
        "InvalidCampaignIdInCampaignReportScope",
        "The campaign report scope contains a campaign identifier that is not valid.",
    ),
    ReportingCode(
        2021,
        "InvalidCampaignIdInAdGroupReportScope",
        "The ad group report scope contains a campaign identifier that is not valid.",
    ),
    ReportingCode(
        2022,
        "InvalidAdGroupIdInAdGroupReportScope",
        "The ad group report scope contains an ad group identifier that is not valid.",
    ),
    ReportingCode(
        2026, "InvalidAccountReportScope", "The account report scope does not contain account identifiers."
    ),
    ReportingCode(
        2027,
        "InvalidAccountThruCampaignReportScope",
        "The account through campaign report scope contains one or more values that are not valid.",
    ),
    ReportingCode(
        2028,
        "InvalidAccountThruAdGroupReportScope",
        "The account through ad group report scope contains one or more values that are not valid.",
    ),
    ReportingCode(2029, "AccountsOverLimit", "The report scope contains too many accounts."),
    ReportingCode(2030, "MaximumCampaignsLimitReached", "The report scope contains too many campaigns."),
    ReportingCode(2031, "AdGroupsOverLimit", "The report scope contains too many ad groups."),
    ReportingCode(
        2034,
        "InvalidTimePeriodColumnForSummaryReport",
        "The TimePeriod column cannot be specified in a report request that has a summary aggregation.",
    ),
    ReportingCode(
        2035,
        "InvalidAccountIds",
        "The report request contains at least one account identifier that is not valid.",
    ),
    ReportingCode(2041, "InvalidFutureStartDate", "The specified report time start date is in the future."),
    ReportingCode(2059, "UnsuportedTimeGrain", "The report type does not support the specified time grain."),
    ReportingCode(
        2061, "InvalidSortColumn", "The sort column specified was not included in the submitted report."
    ),
    ReportingCode(2100, "InvalidReportId", "The report identifier is not valid."),
    ReportingCode(2101, "ReportNotFound", "The report was not found."),
)
REPORTING_CODES: dict[int, ReportingCode] = {c.code: c for c in _CODES}


class ReportingFault(Exception):
    """A fault the Reporting service would return.

    Codes of :data:`REPORTING_CODES` render as ``ApiFaultDetail``; everything else (0, 105, 106, 109, 117,
    201, ...) as ``AdApiFaultDetail`` with the Customer Management code table's name and message.
    """

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        http_status: int | None = None,
        message: str | None = None,
    ) -> None:
        self.code = code
        self.details = details
        known = REPORTING_CODES.get(code)
        if known is not None:
            self.fault_type = "ApiFaultDetail"
            self.error_code: str | None = known.name
            self.message = message or known.message
            self.http_status = http_status or known.http_status
        else:
            info = api_code(code)
            self.fault_type = "AdApiFaultDetail"
            self.error_code = info.name
            self.message = message or info.message
            self.http_status = http_status or info.http_status
        super().__init__(f"{code}: {self.message}" + (f" ({details})" if details else ""))


def fault_json(fault: ReportingFault, tracking_id: str) -> dict[str, Any]:
    if fault.fault_type == "ApiFaultDetail":
        return {
            "TrackingId": tracking_id,
            "Type": "ApiFaultDetail",
            "BatchErrors": [],
            "OperationErrors": [
                {
                    "Code": fault.code,
                    "Details": fault.details or "",
                    "ErrorCode": fault.error_code,
                    "Message": fault.message,
                }
            ],
        }
    return {
        "TrackingId": tracking_id,
        "Type": "AdApiFaultDetail",
        "Errors": [
            {
                "Code": fault.code,
                "Detail": fault.details,
                "ErrorCode": fault.error_code,
                "Message": fault.message,
            }
        ],
    }


def fault_bytes(fault: ReportingFault, tracking_id: str) -> bytes:
    return json.dumps(fault_json(fault, tracking_id), separators=(",", ":")).encode("utf-8")
