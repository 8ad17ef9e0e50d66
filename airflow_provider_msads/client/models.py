"""Plain result types of the Customer Management service.

Frozen, slotted dataclasses: cheap to build in bulk (discovery of 100,000 accounts), safe to share, and
free of secrets. Ids are ``int`` here whatever the wire format (JSON strings on REST, text on SOAP).
``to_row()`` gives the flat, JSON-safe dict that operators put in XCom or SQL tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Columns of :meth:`Account.to_row`, in order. Operators and warehouse tables use this list.
ACCOUNT_ROW_FIELDS: tuple[str, ...] = (
    "account_id",
    "account_number",
    "account_name",
    "customer_id",
    "customer_name",
    "status",
    "currency",
    "time_zone",
    "language",
    "financial_status",
    "pause_reason",
    "bill_to_customer_id",
    "primary_user_id",
    "payment_method_type",
    "account_mode",
    "last_modified_time",
)


@dataclass(frozen=True, slots=True)
class Account:
    """An AdvertiserAccount (the fields pipelines use; the wire format has a few more)."""

    id: int
    number: str | None
    name: str | None
    parent_customer_id: int | None
    lifecycle_status: str | None = None
    currency_code: str | None = None
    time_zone: str | None = None
    language: str | None = None
    financial_status: str | None = None
    pause_reason: int | None = None
    bill_to_customer_id: int | None = None
    primary_user_id: int | None = None
    payment_method_type: str | None = None
    account_mode: str | None = None
    last_modified_time: str | None = None  # ISO 8601 as sent by the service (no timezone: UTC)
    customer_name: str | None = None  # filled by discovery when the customer is known

    def to_row(self) -> dict[str, Any]:
        """Flat JSON-safe dict with the keys of :data:`ACCOUNT_ROW_FIELDS`."""
        return {
            "account_id": self.id,
            "account_number": self.number,
            "account_name": self.name,
            "customer_id": self.parent_customer_id,
            "customer_name": self.customer_name,
            "status": self.lifecycle_status,
            "currency": self.currency_code,
            "time_zone": self.time_zone,
            "language": self.language,
            "financial_status": self.financial_status,
            "pause_reason": self.pause_reason,
            "bill_to_customer_id": self.bill_to_customer_id,
            "primary_user_id": self.primary_user_id,
            "payment_method_type": self.payment_method_type,
            "account_mode": self.account_mode,
            "last_modified_time": self.last_modified_time,
        }


@dataclass(frozen=True, slots=True)
class CustomerRole:
    """One role of the user on a customer: which accounts of it the user may reach."""

    customer_id: int
    role_id: int | None
    account_ids: tuple[int, ...] = ()
    linked_account_ids: tuple[int, ...] = ()
    customer_link_permission: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "role_id": self.role_id,
            "account_ids": list(self.account_ids),
            "linked_account_ids": list(self.linked_account_ids),
            "customer_link_permission": self.customer_link_permission,
        }


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in Microsoft Advertising user (never carries Password or AuthenticationToken)."""

    id: int
    user_name: str | None
    customer_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    lifecycle_status: str | None = None
    lcid: str | None = None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """GetUser result: the user and their customer roles."""

    user: User
    customer_roles: tuple[CustomerRole, ...] = ()

    @property
    def customer_ids(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(role.customer_id for role in self.customer_roles))


@dataclass(frozen=True, slots=True)
class Customer:
    """A Customer (the organisation that owns accounts)."""

    id: int
    name: str | None
    number: str | None = None
    lifecycle_status: str | None = None
    financial_status: str | None = None
    market_country: str | None = None
    market_language: str | None = None
    industry: str | None = None
    service_level: str | None = None
    last_modified_time: str | None = None
