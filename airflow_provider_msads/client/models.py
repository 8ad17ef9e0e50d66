"""Plain result types of the Customer Management service.

Immutable, slotted, free of secrets. Ids are ``int`` here whatever the wire format (JSON strings on
REST, text on SOAP). ``to_row()`` gives the flat, JSON-safe dict that operators put in XCom or SQL tables.

:class:`Account` is a frozen ``msgspec.Struct`` (not a dataclass) because REST pages are decoded
straight into it: the JSON field names are declared on its fields, ids are checked as 64-bit integers
and ``lifecycle_status`` against the documented enum while decoding, with no dict in between. Its
attributes, constructor, ``to_row()``, equality and hashing are those of the earlier dataclass; use
``msgspec.structs.replace`` instead of ``dataclasses.replace``. The other models stay dataclasses
(one of each per discovery, not on the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import msgspec

from airflow_provider_msads.client.ids import MAX_ID, wire_int

if TYPE_CHECKING:
    WireLong = int
else:
    # The REST wire sends 64-bit ids as JSON strings and SOAP as text: the decoder accepts either,
    # and Account.__post_init__ turns them into ints (ids.wire_int: ASCII digits, 64-bit range).
    WireLong = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)] | str

_force_setattr = msgspec.structs.force_setattr
_LONG_FIELDS = ("id", "parent_customer_id", "bill_to_customer_id", "primary_user_id", "pause_reason")

#: AccountLifeCycleStatus values (Customer Management v13 Entities XSD). Validated while decoding REST.
AccountStatus = Literal["Draft", "Active", "Inactive", "Pause", "Pending", "Suspended"]
ACCOUNT_STATUSES: tuple[str, ...] = get_args(AccountStatus)

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


class Account(msgspec.Struct, frozen=True, gc=False):
    """An AdvertiserAccount (the fields pipelines use; the wire format has a few more).

    Each field declares its JSON name; unknown JSON fields are ignored.
    """

    id: WireLong = msgspec.field(name="Id")
    number: str | None = msgspec.field(default=None, name="Number")
    name: str | None = msgspec.field(default=None, name="Name")
    parent_customer_id: WireLong | None = msgspec.field(default=None, name="ParentCustomerId")
    lifecycle_status: AccountStatus | None = msgspec.field(default=None, name="AccountLifeCycleStatus")
    currency_code: str | None = msgspec.field(default=None, name="CurrencyCode")
    time_zone: str | None = msgspec.field(default=None, name="TimeZone")
    language: str | None = msgspec.field(default=None, name="Language")
    financial_status: str | None = msgspec.field(default=None, name="AccountFinancialStatus")
    pause_reason: WireLong | None = msgspec.field(default=None, name="PauseReason")
    bill_to_customer_id: WireLong | None = msgspec.field(default=None, name="BillToCustomerId")
    primary_user_id: WireLong | None = msgspec.field(default=None, name="PrimaryUserId")
    payment_method_type: str | None = msgspec.field(default=None, name="PaymentMethodType")
    account_mode: str | None = msgspec.field(default=None, name="AccountMode")
    #: ISO 8601 as sent by the service (no timezone: UTC)
    last_modified_time: str | None = msgspec.field(default=None, name="LastModifiedTime")
    #: filled by discovery when the customer is known (not a wire field)
    customer_name: str | None = msgspec.field(default=None, name="customer_name")

    def __post_init__(self) -> None:
        # Runs inside the decoder (and on construction): a bad id fails the decode of that page. Hot
        # (100,000 accounts, four ids each): the usual short digit string is converted inline; anything
        # else goes through the one parser (ids.wire_int).
        set_ = _force_setattr
        for name in _LONG_FIELDS:
            value = getattr(self, name)
            if value.__class__ is str and len(value) < 19 and value.isdigit() and value.isascii():
                set_(self, name, int(value))
            elif value is not None and value.__class__ is not int:
                set_(self, name, wire_int(value))

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
