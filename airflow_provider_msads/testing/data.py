"""Deterministic synthetic Customer Management data: users, customers, roles and advertiser accounts.

The world is built so that tests can compute exact expectations:

* ``accounts=N`` is the number of accounts the **demo user** can reach. They are spread over the
  demo user's customer roles: "all accounts" roles on several customers (AccountIds nil), one role with
  an explicit AccountIds list, and an agency role whose ``LinkedAccountIds`` are accounts owned by a
  client customer. :meth:`Dataset.reachable_account_ids` gives the exact set for any user.
* A few extra "foreign" accounts exist that the demo user must NOT see (the rest of the explicit-list
  customer, unlinked accounts of the client customer, and a customer of another user).
* Every AdvertiserAccount field is filled realistically; all six lifecycle statuses appear once
  ``N >= 6``; several currencies, time zones and languages appear (one market table drives them).

Values come from a cheap integer mixer over ``(seed, index)`` rather than one ``random`` call per field,
so 100,000 accounts generate in well under two seconds. Ids are above 2**31 on purpose: a client that
stores them in 32 bits breaks here, not in production.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property

LIFECYCLE_STATUSES = ("Active", "Draft", "Inactive", "Pause", "Pending", "Suspended")

DEMO_USER_ID = 2_900_000_001
DEMO_USER_NAME = "demo.user@contoso-emulator.example"

ROLE_SUPER_ADMIN = 41
ROLE_CAMPAIGN_MANAGER = 16
ROLE_STANDARD = 203
ROLE_VIEWER = 100

_MASK64 = (1 << 64) - 1


def _mix(seed: int, n: int) -> int:
    """splitmix64-style hash: deterministic, well spread, and much cheaper than random.Random per field."""
    z = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out)).rjust(width, "0")


@dataclass(frozen=True, slots=True)
class Market:
    """Country-level facts that must agree with each other (currency, language, time zone, address)."""

    country: str
    currency: str
    language: str
    lcid: str
    time_zone: str
    city: str
    state: str | None
    postal_code: str


MARKETS: tuple[Market, ...] = (
    Market("US", "USD", "English", "EnglishUS", "PacificTimeUSCanadaTijuana", "Redmond", "WA", "98052"),
    Market("US", "USD", "English", "EnglishUS", "EasternTimeUSCanada", "New York", "NY", "10001"),
    Market("US", "USD", "English", "EnglishUS", "CentralTimeUSCanada", "Chicago", "IL", "60601"),
    Market(
        "GB",
        "GBP",
        "English",
        "EnglishUK",
        "GreenwichMeanTimeDublinEdinburghLisbonLondon",
        "London",
        None,
        "EC1A 1BB",
    ),
    Market(
        "DE",
        "EUR",
        "German",
        "GermanGermany",
        "AmsterdamBerlinBernRomeStockholmVienna",
        "München",
        "BY",
        "80331",
    ),
    Market("FR", "EUR", "French", "FrenchFrance", "BrusselsCopenhagenMadridParis", "Paris", None, "75001"),
    Market("CA", "CAD", "French", "FrenchCanada", "EasternTimeUSCanada", "Montréal", "QC", "H2Y 1C6"),
    Market("AU", "AUD", "English", "EnglishAustralia", "CanberraMelbourneSydney", "Sydney", "NSW", "2000"),
    Market("JP", "JPY", "Japanese", "JapaneseJapan", "OsakaSapporoTokyo", "東京", None, "100-0001"),
    Market("BR", "BRL", "Portuguese", "PortugueseBrazil", "Brasilia", "São Paulo", "SP", "01000-000"),
    Market("IN", "INR", "English", "EnglishIndia", "ChennaiKolkataMumbaiNewDelhi", "Mumbai", "MH", "400001"),
    Market("ES", "EUR", "Spanish", "SpanishSpain", "BrusselsCopenhagenMadridParis", "Madrid", None, "28001"),
)

# Fictitious company names; a few carry XML/JSON-sensitive characters on purpose (&, ', non-ASCII).
COMPANIES: tuple[str, ...] = (
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Adventure Works",
    "Tailspin Toys",
    "Wingtip Toys",
    "Woodgrove Bank",
    "Litware",
    "Proseware",
    "Alpine Ski House",
    "Coho Winery",
    "Fourth Coffee",
    "Lucerne Publishing",
    "Margie's Travel",
    "Trey Research",
    "Wide World Importers",
    "Blue Yonder Airlines",
    "Humongous Insurance",
    "City Power & Light",
    "Consolidated Messenger",
    "Southridge Video",
    "VanArsdel",
    "Relecloud",
    "Tailwind Traders",
    "Café Münster",
    "A. Datum",
)
PRODUCTS: tuple[str, ...] = (
    "Search",
    "Shopping",
    "Brand",
    "Audience",
    "Performance Max",
    "Local",
    "Retargeting",
)
_FIRST_NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn")
_LAST_NAMES = (
    "Doe",
    "Garcia",
    "Nguyen",
    "Müller",
    "Smith",
    "Kowalski",
    "Rossi",
    "Tanaka",
    "O'Brien",
    "Silva",
)
_STREETS = ("Main Street", "Market Street", "Example Way", "High Street", "Harbour Road", "Lake Avenue")

_EPOCH = datetime(2023, 1, 1, tzinfo=timezone.utc)
_FINANCIAL = {
    "Active": "ClearFinancialStatus",
    "Pause": "ClearFinancialStatus",
    "Inactive": "ClearFinancialStatus",
    "Pending": "PendingCreditCheck",
    "Draft": "Proposed",
}


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~2x on 100,000 accounts; treat as read-only
class Address:
    id: int
    business_name: str | None
    line1: str
    line2: str | None
    city: str
    state_or_province: str | None
    postal_code: str
    country_code: str
    time_stamp: str | None = None


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~2x on 100,000 accounts; treat as read-only
class TaxCertificate:
    status: str
    blob_container_name: str | None
    certificates: tuple[tuple[str, str], ...]  # (key, base64 value)


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~2x on 100,000 accounts; treat as read-only
class Account:
    """An AdvertiserAccount with every wire field (snake_case; wire names in the REST/SOAP renderers)."""

    index: int  # position in Dataset.accounts, used for cheap caches
    id: int
    number: str
    name: str
    parent_customer_id: int
    parent_customer_number: str
    bill_to_customer_id: int
    currency_code: str
    financial_status: str
    language: str
    last_modified_by_user_id: int
    last_modified_time: str
    payment_method_id: int | None
    payment_method_type: str | None
    primary_user_id: int
    lifecycle_status: str
    time_stamp: str
    time_zone: str
    pause_reason: int | None
    forward_compatibility_map: tuple[tuple[str, str], ...]
    linked_agencies: tuple[tuple[int, str], ...]  # (customer id, name)
    sales_house_customer_id: int | None
    tax_information: tuple[tuple[str, str], ...] | None
    back_up_payment_instrument_id: int | None
    billing_threshold_amount: float | None
    business_address: Address
    auto_tag_type: str
    sold_to_payment_instrument_id: int | None
    tax_certificate: TaxCertificate | None
    account_mode: str


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    number: str
    name: str
    industry: str
    market_country: str
    market_language: str
    service_level: str
    lifecycle_status: str
    financial_status: str
    last_modified_by_user_id: int
    last_modified_time: str
    time_stamp: str
    address: Address
    forward_compatibility_map: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CustomerRole:
    """``account_ids`` None means "every account of the customer" (the service sends AccountIds nil)."""

    customer_id: int
    role_id: int
    account_ids: tuple[int, ...] | None = None
    linked_account_ids: tuple[int, ...] | None = None
    customer_link_permission: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: int
    user_name: str
    customer_id: int
    first_name: str
    last_name: str
    middle_initial: str | None
    email: str
    job_title: str | None
    lcid: str
    lifecycle_status: str
    last_modified_by_user_id: int
    last_modified_time: str
    time_stamp: str
    contact_id: int
    address: Address
    phone1: str
    roles: tuple[CustomerRole, ...] = field(default=())


_DAYS = tuple((_EPOCH + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(730))


def _when(h: int) -> str:
    """An xs:dateTime in the service's style (UTC, milliseconds, no offset) within 2023-2024."""
    secs = (h >> 10) % 86400
    return f"{_DAYS[h % 730]}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{(h >> 30) % 1000:03d}"


def _stamp(h: int) -> str:
    return base64.b64encode((h & _MASK64).to_bytes(8, "big")).decode("ascii")


class Dataset:
    """The emulator's immutable world. Build once per ``(accounts, seed)``; share across tests."""

    def __init__(self, accounts: int = 25, seed: int = 0, foreign_accounts: int = 3) -> None:
        if accounts < 0 or accounts > 1_000_000:
            raise ValueError("accounts must be between 0 and 1,000,000")
        self.n_accounts = accounts
        self.seed = seed
        self._address_seq = 4_000_000_000 + (seed % 1000) * 1_000_000
        self._customer_seq = 2_100_000_000 + (seed % 1000) * 10_000
        self._user_seq = DEMO_USER_ID
        self.customers: list[Customer] = []
        self.users: list[User] = []
        self.accounts: list[Account] = []
        gc_was_enabled = gc.isenabled()
        gc.disable()  # ~0.5 M young objects, no cycles: collector passes would only cost time
        try:
            self._build(accounts, max(1, foreign_accounts))
        finally:
            if gc_was_enabled:
                gc.enable()
        self.account_by_id: dict[int, Account] = {a.id: a for a in self.accounts}
        self.customer_by_id: dict[int, Customer] = {c.id: c for c in self.customers}
        self.user_by_id: dict[int, User] = {u.id: u for u in self.users}
        self._reach_cache: dict[int, tuple[int, ...]] = {}

    # ------------------------------------------------------------------ building
    def _next_address(self, h: int, business_name: str | None, market: Market) -> Address:
        self._address_seq += 1
        return Address(
            id=self._address_seq,
            business_name=business_name,
            line1=f"{1 + h % 9800} {_STREETS[(h >> 8) % len(_STREETS)]}",
            line2=f"Suite {100 + (h >> 16) % 800}" if (h >> 12) % 3 == 0 else None,
            city=market.city,
            state_or_province=market.state,
            postal_code=market.postal_code,
            country_code=market.country,
        )

    def _new_customer(
        self, company: str, market: Market, *, industry: str = "Retail", agency: bool = False
    ) -> Customer:
        self._customer_seq += 7
        cid = self._customer_seq
        h = _mix(self.seed, cid)
        customer = Customer(
            id=cid,
            number=f"C{_base36(cid % 36**6, 6)}",
            name=company,
            industry="AgencySalesHouse" if agency else industry,
            market_country=market.country,
            market_language=market.language,
            service_level="Premium" if agency else ("SelfServe", "SelfServeTrusted", "Select")[h % 3],
            lifecycle_status="Active",
            financial_status="ClearFinancialStatus",
            last_modified_by_user_id=DEMO_USER_ID,
            last_modified_time=_when(h),
            time_stamp=_stamp(h >> 3),
            address=self._next_address(h, company, market),
        )
        self.customers.append(customer)
        return customer

    def _new_user(
        self, customer: Customer, market: Market, roles: tuple[CustomerRole, ...], *, demo: bool = False
    ) -> User:
        uid = DEMO_USER_ID if demo else self._user_seq + 1
        self._user_seq = max(self._user_seq, uid)
        h = _mix(self.seed + 17, uid)
        first = _FIRST_NAMES[h % len(_FIRST_NAMES)]
        last = _LAST_NAMES[(h >> 8) % len(_LAST_NAMES)]
        user_name = DEMO_USER_NAME if demo else f"{first.lower()}.{uid % 100000}@example.com"
        user = User(
            id=uid,
            user_name=user_name,
            customer_id=customer.id,
            first_name=first if not demo else "Demo",
            last_name=last if not demo else "User",
            middle_initial=None,
            email=user_name,
            job_title="Marketing Manager" if h % 2 else None,
            lcid=market.lcid,
            lifecycle_status="Active",
            last_modified_by_user_id=uid,
            last_modified_time=_when(h),
            time_stamp=_stamp(h >> 5),
            contact_id=3_300_000_000 + uid % 1_000_000,
            address=self._next_address(h, customer.name, market),
            phone1=f"4255550{100 + h % 900}",
            roles=roles,
        )
        self.users.append(user)
        return user

    def _make_accounts(
        self,
        customer: Customer,
        count: int,
        *,
        primary_user_id: int,
        linked_agencies: tuple[tuple[int, str], ...] = (),
    ) -> list[Account]:
        made = []
        seed = self.seed
        base_id = 3_000_000_000 + (seed % 1000) * 1_000_000_000 // 1000
        for _ in range(count):
            i = len(self.accounts)
            h = _mix(seed, i)
            h2 = _mix(seed + 1, i)
            market = MARKETS[h % len(MARKETS)]
            # The first six accounts cover every lifecycle status; after that mostly Active.
            if i < len(LIFECYCLE_STATUSES):
                status = LIFECYCLE_STATUSES[(i + seed) % len(LIFECYCLE_STATUSES)]
            else:
                roll = (h >> 8) % 100
                status = (
                    "Active"
                    if roll < 70
                    else "Pause"
                    if roll < 80
                    else "Inactive"
                    if roll < 88
                    else "Suspended"
                    if roll < 93
                    else "Pending"
                    if roll < 97
                    else "Draft"
                )
            pause_reason = (1, 2, 4)[(h >> 16) % 3] if status == "Pause" else None
            financial = (
                ("Hold", "CreditWarning", "WriteOff")[(h >> 20) % 3]
                if status == "Suspended"
                else _FINANCIAL[status]
            )
            pay_roll = (h >> 24) % 10
            payment_type: str | None = (
                "CreditCard" if pay_roll < 6 else "Invoice" if pay_roll < 9 else "PayPal"
            )
            payment_id: int | None = 5_500_000_000 + i * 3 + 1
            if status == "Draft":
                payment_type, payment_id = None, None
            account_id = base_id + 11 + i * 7 + (h2 % 7)
            company = customer.name
            product = PRODUCTS[(h >> 28) % len(PRODUCTS)]
            tax_info: tuple[tuple[str, str], ...] | None = None
            if market.currency == "EUR":
                tax_info = (("VATNumber", f"{market.country}{100000000 + h2 % 899999999}"),)
            elif market.country == "IN":
                tax_info = (("GSTINNumber", f"27AAAPL{1000 + h2 % 8999}C1ZV"),)
            tax_cert = None
            if market.country in ("BR", "IN"):
                tax_cert = TaxCertificate(
                    status=("Valid", "Pending", "Invalid")[(h2 >> 8) % 3],
                    blob_container_name=f"taxcert-{account_id}",
                    certificates=(("certificate.pdf", _stamp(h2 >> 1)),),
                )
            made.append(
                Account(
                    index=i,
                    id=account_id,
                    # 37 is odd, so the number is unique for i < 16**6.
                    number=f"F1{(1_000_000 + i * 37 + seed % 37) % 16**6:06X}",
                    name=f"{company} {product} {i + 1:06d}",
                    parent_customer_id=customer.id,
                    parent_customer_number=customer.number,
                    bill_to_customer_id=customer.id,
                    currency_code=market.currency,
                    financial_status=financial,
                    language=market.language,
                    last_modified_by_user_id=primary_user_id,
                    last_modified_time=_when(h2),
                    payment_method_id=payment_id,
                    payment_method_type=payment_type,
                    primary_user_id=primary_user_id,
                    lifecycle_status=status,
                    time_stamp=_stamp(h2 >> 7),
                    time_zone=market.time_zone,
                    pause_reason=pause_reason,
                    forward_compatibility_map=(),
                    linked_agencies=linked_agencies,
                    sales_house_customer_id=None,
                    tax_information=tax_info,
                    back_up_payment_instrument_id=(5_600_000_000 + i) if (h2 >> 20) % 5 == 0 else None,
                    billing_threshold_amount=(
                        float(50 * (1 + (h2 >> 24) % 20)) if payment_type == "CreditCard" else None
                    ),
                    business_address=self._next_address(h2, company, market),
                    auto_tag_type=("Inactive", "Preserve", "Replace")[(h2 >> 32) % 3],
                    sold_to_payment_instrument_id=payment_id if payment_type == "Invoice" else None,
                    tax_certificate=tax_cert,
                    account_mode="Expert" if (h2 >> 36) % 5 else "Smart",
                )
            )
            self.accounts.append(made[-1])
        return made

    def _build(self, n: int, foreign: int) -> None:
        seed = self.seed
        pick = _mix(seed, 999_999)
        m = MARKETS
        # Demo user's customers: A (home) and B with "all accounts" roles, C with an explicit list,
        # D an agency (all own accounts + linked client accounts owned by E).
        cust_a = self._new_customer(COMPANIES[pick % len(COMPANIES)], m[0])
        cust_b = self._new_customer(COMPANIES[(pick + 5) % len(COMPANIES)], m[4], industry="Automotive")
        cust_c = self._new_customer(
            COMPANIES[(pick + 9) % len(COMPANIES)], m[3], industry="TravelHospitality"
        )
        cust_d = self._new_customer(COMPANIES[(pick + 13) % len(COMPANIES)] + " Agency", m[1], agency=True)
        cust_e = self._new_customer(COMPANIES[(pick + 17) % len(COMPANIES)], m[7], industry="FoodServices")
        cust_f = self._new_customer(COMPANIES[(pick + 21) % len(COMPANIES)], m[8], industry="Technology")

        linked = max(1, n // 10) if n >= 5 else 0
        explicit = max(1, n // 10) if n >= 5 else 0
        rest = n - linked - explicit
        # Spread the "all accounts" share over A, B, D and, for big worlds, more customers of <= 2,500 each.
        all_customers = [cust_a, cust_b, cust_d]
        extra = max(0, math.ceil(rest / 2500) - len(all_customers))
        for k in range(extra):
            all_customers.append(
                self._new_customer(f"{COMPANIES[(pick + 3 * k + 1) % len(COMPANIES)]} {k + 1}", m[k % len(m)])
            )
        shares = [rest // len(all_customers)] * len(all_customers)
        for k in range(rest - sum(shares)):
            shares[k] += 1
        if n < 5:  # tiny worlds: everything on the home customer
            shares = [rest] + [0] * (len(all_customers) - 1)

        owner_c = DEMO_USER_ID + 11
        owner_e = DEMO_USER_ID + 12
        owner_f = DEMO_USER_ID + 13
        for customer, share in zip(all_customers, shares, strict=True):
            self._make_accounts(customer, share, primary_user_id=DEMO_USER_ID)
        granted = self._make_accounts(cust_c, explicit, primary_user_id=owner_c)
        self._make_accounts(cust_c, foreign, primary_user_id=owner_c)  # not granted to the demo user
        agency = ((cust_d.id, cust_d.name),)
        linked_accounts = self._make_accounts(cust_e, linked, primary_user_id=owner_e, linked_agencies=agency)
        self._make_accounts(cust_e, foreign, primary_user_id=owner_e)  # not linked to the agency
        self._make_accounts(cust_f, foreign, primary_user_id=owner_f)  # another user's world
        linked_ids = tuple(a.id for a in linked_accounts)

        demo_roles = (
            CustomerRole(cust_a.id, ROLE_SUPER_ADMIN),
            CustomerRole(cust_b.id, ROLE_SUPER_ADMIN),
            CustomerRole(cust_c.id, ROLE_CAMPAIGN_MANAGER, account_ids=tuple(a.id for a in granted)),
            CustomerRole(
                cust_d.id,
                ROLE_SUPER_ADMIN,
                linked_account_ids=linked_ids,
                customer_link_permission="Standard" if linked_ids else None,
            ),
            *(CustomerRole(c.id, ROLE_SUPER_ADMIN) for c in all_customers[3:]),
        )
        self.demo_user = self._new_user(cust_a, m[0], demo_roles, demo=True)
        # Colleagues on the home customer, and owners of the foreign customers.
        self._user_seq = DEMO_USER_ID + 1
        self._new_user(cust_a, m[0], (CustomerRole(cust_a.id, ROLE_VIEWER),))
        self._new_user(cust_a, m[0], (CustomerRole(cust_a.id, ROLE_STANDARD),))
        self._user_seq = owner_c - 1
        self._new_user(cust_c, m[3], (CustomerRole(cust_c.id, ROLE_SUPER_ADMIN),))
        self._new_user(cust_e, m[7], (CustomerRole(cust_e.id, ROLE_SUPER_ADMIN),))
        self._new_user(cust_f, m[8], (CustomerRole(cust_f.id, ROLE_SUPER_ADMIN),))
        self.accounts.sort(key=lambda a: a.id)
        self.accounts = [_reindex(a, k) for k, a in enumerate(self.accounts)]
        self.home_customer, self.explicit_customer, self.agency_customer = cust_a, cust_c, cust_d
        self.client_customer, self.foreign_customer = cust_e, cust_f
        self.linked_account_ids = linked_ids

    # ------------------------------------------------------------------ queries
    def reachable_account_ids(self, user_id: int) -> tuple[int, ...]:
        """Ids of every account ``user_id`` can reach through its customer roles, ascending."""
        cached = self._reach_cache.get(user_id)
        if cached is not None:
            return cached
        user = self.user_by_id.get(user_id)
        ids: set[int] = set()
        if user is not None:
            all_of = {r.customer_id for r in user.roles if r.account_ids is None}
            for role in user.roles:
                ids.update(role.account_ids or ())
                ids.update(role.linked_account_ids or ())
            ids.update(a.id for a in self.accounts if a.parent_customer_id in all_of)
        result = tuple(sorted(ids))
        self._reach_cache[user_id] = result
        return result

    @cached_property
    def demo_account_ids(self) -> tuple[int, ...]:
        """Exactly the account ids SearchAccounts(UserId = demo user) returns, ascending."""
        return self.reachable_account_ids(self.demo_user.id)

    def customer_ids_of(self, user_id: int) -> tuple[int, ...]:
        user = self.user_by_id.get(user_id)
        return tuple(r.customer_id for r in user.roles) if user else ()

    def accounts_by_ids(self, ids: Iterable[int]) -> list[Account]:
        return [self.account_by_id[i] for i in ids]


def _reindex(acct: Account, index: int) -> Account:
    return acct if acct.index == index else dataclasses.replace(acct, index=index)
