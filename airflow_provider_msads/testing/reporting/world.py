"""Deterministic performance data behind the emulator's reports.

Every advertiser account of the :class:`~airflow_provider_msads.testing.data.Dataset` that has served ads
(lifecycle status other than Draft/Pending) owns a fixed tree of campaigns -> ad groups -> keywords ->
search terms, sized by :class:`Volume`. Ids and names are pure functions of (seed, account, position), so a
test can compute them, and are above 2**31 on purpose.

Daily metrics are pure functions of (seed, account, day), split down the tree by fixed integer weights, so
every level adds up exactly to its parent. Numbers are integers in the smallest unit (cents for money,
hundredths for conversions) so that weekly, monthly and summary rows are exact sums of days and hourly
rows split a day exactly (cumulative shares of a fixed 24-hour profile).

Restatement: a day after the "Last Completed Available Day" is provisional. Its numbers as seen at a
given "today" are the final numbers scaled by how mature the day is (late clicks, and especially late
conversions and revenue, still arriving); they grow deterministically as the emulator's clock advances
and reach the final values once the day is complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from airflow_provider_msads.testing.data import Account, Dataset, _mix

#: Accounts in these lifecycle states never served ads: no rows, no campaigns.
NO_ACTIVITY_STATUSES = frozenset({"Draft", "Pending"})

LEVELS = ("account", "campaign", "ad_group", "keyword", "search_term")


@dataclass(frozen=True, slots=True)
class Volume:
    """How many entities each active account has (the knob for big reports).

    Rows of a report = entities at its level in scope x time periods, e.g. a daily KeywordPerformance
    report over 30 days for 25 accounts with the defaults: 25 x 3 x 2 x 4 x 30 = 18,000 rows.
    """

    campaigns_per_account: int = 3
    ad_groups_per_campaign: int = 2
    keywords_per_ad_group: int = 4
    search_terms_per_keyword: int = 2

    def __post_init__(self) -> None:
        for name, limit in (
            ("campaigns_per_account", 999),
            ("ad_groups_per_campaign", 999),
            ("keywords_per_ad_group", 9999),
            ("search_terms_per_keyword", 99),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= limit:
                raise ValueError(f"Volume.{name} must be an integer between 1 and {limit}, got {value!r}")

    def per_account(self, level: str) -> int:
        """Entities of one active account at ``level``."""
        n = 1
        if level == "account":
            return n
        n *= self.campaigns_per_account
        if level == "campaign":
            return n
        n *= self.ad_groups_per_campaign
        if level == "ad_group":
            return n
        n *= self.keywords_per_ad_group
        if level == "keyword":
            return n
        return n * self.search_terms_per_keyword


# Names chosen to exercise CSV quoting and the SDK's "Total" quirk (a data row whose cell starts with Total).
_CAMPAIGN_NAMES = (
    "Brand, exact",
    'Generic "running" shoes',
    "Total Sale (summer)",
    "Shopping \u2013 all products",
    "Remarketing",
    "Competitors",
    "Seasonal: winter",
    "Café & bistro",
)
_AD_GROUP_NAMES = ("Core terms", "Long tail", "Promotions", "Accessories", "Near me", "Gifts")
_KEYWORDS = (
    "running shoes",
    "trail running shoes",
    "buy shoes online",
    "waterproof boots",
    "shoe sale",
    "kids sneakers",
    "leather boots",
    "sports socks",
    "hiking boots",
    "cheap trainers",
)
_QUERY_SUFFIXES = ("", " near me", " reviews", " discount code", " size 42", " for women")
_CAMPAIGN_STATUSES = ("Active", "Active", "Active", "Paused", "BudgetPaused")
_CAMPAIGN_TYPES = ("Search", "Search", "Shopping", "Audience", "PerformanceMax")
_MATCH_TYPES = ("Exact", "Phrase", "Broad")
_DEVICE_TYPES = ("Computer", "Smartphone", "Tablet")
# Hour-of-day traffic profile (per mille, sums to 1000): quiet nights, busy evenings.
_HOUR_PROFILE = (10, 7, 5, 4, 4, 6, 12, 25, 40, 52, 58, 60, 62, 60, 58, 57, 58, 62, 68, 72, 70, 60, 42, 48)
_HOUR_CUMULATIVE = tuple(sum(_HOUR_PROFILE[:i]) for i in range(25))
_MASK = (1 << 62) - 1
Metrics = tuple[int, int, int, int, int]  # impressions, clicks, spend c, conversions /100, revenue c


class Entity:
    """One row source: an account, campaign, ad group, keyword or search term of an account.

    Positions (0-based, -1 = not at this level) say where it sits in its account's tree; ids and the hash
    key are computed once here because every row of the entity needs them.
    """

    __slots__ = (
        "account",
        "ad_group",
        "ad_group_id",
        "campaign",
        "campaign_id",
        "key",
        "keyword",
        "keyword_id",
        "level",
        "term",
    )

    def __init__(
        self,
        level: str,
        account: Account,
        campaign: int = -1,
        ad_group: int = -1,
        keyword: int = -1,
        term: int = -1,
    ) -> None:
        self.level = level
        self.account = account
        self.campaign = campaign
        self.ad_group = ad_group
        self.keyword = keyword
        self.term = term
        # ids: 64-bit, above 2**31, unique within Volume's limits
        self.campaign_id = 7_000_000_000 + account.index * 1000 + campaign
        self.ad_group_id = self.campaign_id * 1000 + ad_group
        self.keyword_id = self.ad_group_id * 10_000 + keyword
        self.key = (
            (((account.index * 1000 + campaign + 1) * 1000 + ad_group + 1) * 10_000 + keyword + 1) * 100
            + term
            + 1
        ) * 8 + LEVELS.index(level)

    def __repr__(self) -> str:
        return f"Entity({self.level}, account={self.account.id}, key={self.key})"


def campaign_name(e: Entity) -> str:
    base = _CAMPAIGN_NAMES[e.campaign % len(_CAMPAIGN_NAMES)]
    return base if e.campaign < len(_CAMPAIGN_NAMES) else f"{base} {e.campaign // len(_CAMPAIGN_NAMES) + 1}"


def ad_group_name(e: Entity) -> str:
    return f"{_AD_GROUP_NAMES[e.ad_group % len(_AD_GROUP_NAMES)]} {e.ad_group + 1}"


def keyword_text(e: Entity) -> str:
    n = e.campaign * 7 + e.ad_group * 3 + e.keyword
    base = _KEYWORDS[n % len(_KEYWORDS)]
    return base if e.keyword < len(_KEYWORDS) else f"{base} {e.keyword // len(_KEYWORDS) + 1}"


def search_query(e: Entity) -> str:
    return (
        keyword_text(e)
        + _QUERY_SUFFIXES[e.term % len(_QUERY_SUFFIXES)]
        + (f" {e.term // len(_QUERY_SUFFIXES) + 1}" if e.term >= len(_QUERY_SUFFIXES) else "")
    )


def campaign_status(e: Entity) -> str:
    return _CAMPAIGN_STATUSES[(e.account.index + e.campaign) % len(_CAMPAIGN_STATUSES)]


def campaign_type(e: Entity) -> str:
    return _CAMPAIGN_TYPES[e.campaign % len(_CAMPAIGN_TYPES)]


def match_type(e: Entity) -> str:
    return _MATCH_TYPES[(e.keyword + e.ad_group) % len(_MATCH_TYPES)]


def device_type(e: Entity) -> str:
    return _DEVICE_TYPES[e.key % len(_DEVICE_TYPES)]


def has_activity(account: Account) -> bool:
    return account.lifecycle_status not in NO_ACTIVITY_STATUSES


class World:
    """Entities and metrics over one :class:`Dataset` (stateless apart from configuration)."""

    def __init__(self, data: Dataset, volume: Volume | None = None) -> None:
        self.data = data
        self.seed = data.seed
        self.volume = volume or Volume()
        self._weight_cache: dict[tuple[int, int, tuple[int, ...], int], tuple[tuple[int, ...], ...]] = {}

    # ------------------------------------------------------------------ entities
    def entities(
        self,
        level: str,
        accounts: list[Account],
        campaigns: frozenset[tuple[int, int]] = frozenset(),
        ad_groups: frozenset[tuple[int, int, int]] = frozenset(),
        whole_accounts: frozenset[int] = frozenset(),
    ) -> Iterator[Entity]:
        """Entities at ``level`` under the scope (union of whole accounts, campaigns, ad groups)."""
        v = self.volume
        for account in accounts:
            if not has_activity(account):
                continue
            if level == "account":
                yield Entity("account", account)
                continue
            whole = account.id in whole_accounts
            for c in range(v.campaigns_per_account):
                camp = Entity("campaign", account, c)
                camp_in = whole or (account.id, camp.campaign_id) in campaigns
                if level == "campaign":
                    if camp_in or any(ag[:2] == (account.id, camp.campaign_id) for ag in ad_groups):
                        yield camp
                    continue
                for g in range(v.ad_groups_per_campaign):
                    group = Entity("ad_group", account, c, g)
                    if not (camp_in or (account.id, camp.campaign_id, group.ad_group_id) in ad_groups):
                        continue
                    if level == "ad_group":
                        yield group
                        continue
                    for k in range(v.keywords_per_ad_group):
                        if level == "keyword":
                            yield Entity("keyword", account, c, g, k)
                            continue
                        for t in range(v.search_terms_per_keyword):
                            yield Entity("search_term", account, c, g, k, t)

    def campaign_exists(self, account: Account, campaign_id: int) -> bool:
        c = campaign_id - 7_000_000_000 - account.index * 1000
        return has_activity(account) and 0 <= c < self.volume.campaigns_per_account

    def ad_group_exists(self, account: Account, campaign_id: int, ad_group_id: int) -> bool:
        return self.campaign_exists(account, campaign_id) and 0 <= ad_group_id - campaign_id * 1000 < (
            self.volume.ad_groups_per_campaign
        )

    # ------------------------------------------------------------------ metrics
    def base(self, e: Entity) -> int:
        """The hash of the entity's account (its size, click-through, cost per click...)."""
        return _mix(self.seed, e.account.index * 8 + 1)

    def account_day(self, base: int, day: date) -> Metrics:
        """Final numbers of one account and day (the top of the tree; everything below is a split)."""
        h = _mix(base, day.toordinal())
        weekday = (85, 100, 104, 103, 101, 98, 80)[day.weekday()]
        keywords = self.volume.per_account("keyword")
        impressions = (40 * (40 + base % 160) * weekday * (80 + h % 41)) * keywords // 24_000
        if (h >> 20) % 23 == 0:
            impressions = 0  # some quiet days: zero-impression rows exist in real reports too
        ctr_bp = 80 + (base >> 12) % 420 + (h >> 40) % 41 - 20  # click-through in basis points (~0.6-5 %)
        clicks = (impressions * ctr_bp + (h >> 8) % 10_000) // 10_000
        cpc = 15 + (base >> 24) % 150 + (h >> 48) % 13  # cents per click
        spend = clicks * cpc + ((h >> 32) % 7 if clicks else 0)
        cvr = 2 + (base >> 36) % 12  # percent of clicks converting
        conversions = (clicks * cvr * 100 + (h >> 16) % 100) // 100
        conversions -= conversions % 25  # whole and quarter conversions, as with value-based goals
        revenue = conversions * (900 + (base >> 44) % 9000) // 100
        return impressions, clicks, spend, conversions, revenue

    def _weights(
        self, account_index: int, depth: int, parent: tuple[int, ...], n: int
    ) -> tuple[tuple[int, ...], ...]:
        """Cumulative split weights of the ``n`` children of one parent, one list per metric.

        Clicks, spend, conversions and revenue get weights near the impressions' (x0.7-1.3, x0.8-1.2...),
        so children differ in click-through and cost per click while every level stays plausible
        (clicks <= impressions, conversions <= clicks).
        """
        key = (account_index, depth, parent, n)
        cached = self._weight_cache.get(key)
        if cached is not None:
            return cached
        columns: list[list[int]] = [[0] for _ in range(5)]
        node = account_index
        for p in parent:
            node = node * 10_007 + p + 1
        for i in range(n):
            h = _mix(self.seed + depth * 7919, (node * 10_007 + i + 1) & _MASK)
            wi = 50 + h % 100
            wc = wi * (70 + (h >> 8) % 61) // 100
            ws = wc * (80 + (h >> 16) % 41) // 100
            wv = wc * (85 + (h >> 24) % 31) // 100
            wr = wv * (80 + (h >> 32) % 41) // 100
            for k, w in enumerate((wi, wc, ws, wv, wr)):
                columns[k].append(columns[k][-1] + max(1, w))
        result = tuple(tuple(c) for c in columns)
        if len(self._weight_cache) > 8192:
            self._weight_cache.clear()  # bounded: one report touches few parents at a time
        self._weight_cache[key] = result
        return result

    def chain(self, e: Entity) -> tuple[tuple[int, ...], ...]:
        """The entity's place in each split, from its campaign down: per level and metric the cumulative
        weights before and after it and the total (computed once per entity and report)."""
        v = self.volume
        path = (
            ("campaign", e.campaign, v.campaigns_per_account),
            ("ad_group", e.ad_group, v.ad_groups_per_campaign),
            ("keyword", e.keyword, v.keywords_per_ad_group),
            ("search_term", e.term, v.search_terms_per_keyword),
        )
        out: list[tuple[int, ...]] = []
        positions: list[int] = []
        if e.level == "account":
            return ()
        for depth, (level, pos, n) in enumerate(path):
            cum = self._weights(e.account.index, depth, tuple(positions), n)
            out.append(tuple(x for c in cum for x in (c[pos], c[pos + 1], c[n])))
            if level == e.level:
                break
            positions.append(pos)
        return tuple(out)

    def split(self, e: Entity, top: Metrics) -> Metrics:
        """The entity's part of its account's numbers: campaign, then ad group, keyword, search term.

        Integer splits by cumulative weights, so the children of any parent sum exactly to it: campaign
        rows add up to the account row, keyword rows to their ad group's row.
        """
        return apply_chain(self.chain(e), top)

    def day_metrics(self, e: Entity, day: date) -> Metrics:
        """Final (complete) numbers of one entity and day:
        (impressions, clicks, spend in cents, conversions in hundredths, revenue in cents)."""
        return self.split(e, self.account_day(self.base(e), day))

    def seen_top(self, base: int, day: date, today: date, last_complete: date) -> Metrics:
        """An account's day as a report run on ``today`` shows it (provisional after ``last_complete``).

        The account's day is scaled first and then split, so provisional rows add up across levels too.
        """
        top = self.account_day(base, day)
        if day <= last_complete:
            return top
        lag = max(1, (today - last_complete).days)
        age = max(0, (today - day).days)  # 0 for today
        done = min(age + 1, lag)  # 1..lag (lag only reached once complete)
        impressions, clicks, spend, conversions, revenue = top
        traffic = 900 * lag + 100 * done  # per mille * lag
        return (
            impressions * traffic // (1000 * lag),
            clicks * traffic // (1000 * lag),
            spend * traffic // (1000 * lag),
            conversions * done // (lag + 1),
            revenue * done // (lag + 1),
        )

    def seen_metrics(self, e: Entity, day: date, today: date, last_complete: date) -> Metrics:
        """One entity's day as a report run on ``today`` shows it."""
        return self.split(e, self.seen_top(self.base(e), day, today, last_complete))


def apply_chain(chain: tuple[tuple[int, ...], ...], top: Metrics) -> Metrics:
    """Split ``top`` down an entity's :meth:`World.chain` (the hot path of big reports: plain arithmetic)."""
    a, b, c, d, f = top
    for l0, h0, t0, l1, h1, t1, l2, h2, t2, l3, h3, t3, l4, h4, t4 in chain:
        a = a * h0 // t0 - a * l0 // t0
        b = b * h1 // t1 - b * l1 // t1
        c = c * h2 // t2 - c * l2 // t2
        d = d * h3 // t3 - d * l3 // t3
        f = f * h4 // t4 - f * l4 // t4
    return a, b, c, d, f


def hour_share(value: int, hour: int) -> int:
    """The part of a day's ``value`` that falls into ``hour`` (shares sum exactly to ``value``)."""
    return value * _HOUR_CUMULATIVE[hour + 1] // 1000 - value * _HOUR_CUMULATIVE[hour] // 1000
