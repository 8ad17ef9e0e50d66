"""Airflow-free rules and state of the in-browser consent flow.

Why server-side state: the PKCE verifier, the client secret and the developer token typed into the form
must never travel through the browser, so a sign-in in progress lives here, keyed by its OAuth ``state``.
Entries are single-use (taken, never read twice), expire after 10 minutes (the lifetime of an
authorization code) and the store is bounded, so nothing accumulates in the API server.

Also here: turning the form plus the stored connection into a validated :class:`ConnectionDraft`, the
redirect URI rules, and the plain-words explanation of identity-platform errors shown to the user.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from airflow_provider_msads.client import signin_errors
from airflow_provider_msads.client.connection_fields import (
    CONNECTION_TYPE,
    LEGACY_EXTRA_PREFIX,
    SECRET_EXTRAS,
    extra_value,
)
from airflow_provider_msads.client.environments import DEFAULT_TENANT, Endpoints, check_override_url
from airflow_provider_msads.client.errors import ConfigurationError, TerminalAuthError
from airflow_provider_msads.client.pkce import new_state
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.signin_errors import aadsts_code

if TYPE_CHECKING:
    import httpx

CONN_TYPE = CONNECTION_TYPE
#: Path of the callback below the Airflow API server's base URL (the plugin app is mounted at /msads).
MOUNT_PREFIX = "/msads"
CALLBACK_PATH = MOUNT_PREFIX + "/connect/callback"
#: How long a started sign-in (state + PKCE verifier) and a finished result stay usable.
DEFAULT_TTL_SECONDS = 600.0
DEFAULT_MAX_ENTRIES = 256
#: Airflow accepts more characters in connection ids; new ones made here stay conservative.
_CONN_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_MAX_DETAIL = 300
#: Extras whose values are secrets are never rendered, only "stored / not stored" (SECRET_EXTRAS).
#: A stand-in refresh token, only to run the connection validator before one exists.
_PLACEHOLDER_REFRESH_TOKEN = "placeholder-refresh-token"  # noqa: S105 - not a secret

T = TypeVar("T")


class FlowError(Exception):
    """A step of the flow failed in a way the user can fix; rendered as title, explanation and fix."""

    def __init__(
        self, title: str, explanation: str, fix: str, *, detail: str | None = None, status: int = 400
    ):
        super().__init__(f"{title}: {explanation}")
        self.title = title
        self.explanation = explanation
        self.fix = fix
        self.detail = detail
        self.status = status
        self.retry_url: str | None = (
            None  # where "Back to the form" leads, when there is a form to go back to
        )


class FormError(Exception):
    """A form field is missing or invalid; the form is shown again with the message next to the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- the store -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    owner: str
    expires_at: float


class StateStore(Protocol[T]):
    """Where sign-ins in progress and their results live between two requests.

    :class:`ExpiringStore` keeps them in this process (one API-server process, tests); the API server
    uses :class:`~airflow_provider_msads.plugins.shared_state.DatabaseStore`, so a sign-in started on
    one API-server process finishes on any other.
    """

    def put(self, value: T, *, owner: str, key: str | None = None) -> str:
        """Store ``value`` for ``owner``; return its (new, unguessable unless given) key."""
        ...

    def take(self, key: str, *, owner: str) -> T:
        """Remove and return the entry: a key works at most once, across every process."""
        ...

    def get(self, key: str, *, owner: str) -> T:
        """Return the entry without removing it (until it expires)."""
        ...


def unknown_sign_in() -> FlowError:
    return FlowError(
        "This sign-in is unknown or was already used",
        "The link does not belong to a sign-in in progress: it was already completed, or it was started "
        "more than 10 minutes ago.",
        "Start again from Microsoft Advertising → Connect.",
    )


def check_entry(value: T, *, entry_owner: str, expires_at: float, owner: str, now: float) -> T:
    """``value`` if the entry is still valid and belongs to ``owner``; else the FlowError to show."""
    if now >= expires_at:
        raise FlowError(
            "This sign-in expired",
            "More than 10 minutes passed between pressing “Sign in with Microsoft” and coming back.",
            "Start again from Microsoft Advertising → Connect and finish signing in within 10 minutes.",
        )
    if not secrets.compare_digest(entry_owner.encode(), owner.encode()):
        raise FlowError(
            "This sign-in belongs to another Airflow user",
            "The sign-in was started by a different Airflow user than the one signed in now, so it was "
            "discarded (this protects against someone sending you a crafted link).",
            "Start again from Microsoft Advertising → Connect, signed in to Airflow as yourself.",
            status=403,
        )
    return value


class ExpiringStore(Generic[T]):
    """A small thread-safe in-process map of random keys to values owned by one user, with expiry and a
    size bound (a :class:`StateStore` for one process).

    :param ttl: seconds an entry stays valid.
    :param max_entries: when full, expired entries go first, then the oldest.
    :param clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("ttl and max_entries must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def put(self, value: T, *, owner: str, key: str | None = None) -> str:
        """Store ``value`` for ``owner`` and return its key (a fresh unguessable one unless given)."""
        key = key or new_state()
        now = self._clock()
        with self._lock:
            self._purge(now)
            while len(self._entries) >= self.max_entries:
                self._entries.popitem(last=False)
            self._entries[key] = _Entry(value, owner, now + self.ttl)
        return key

    def take(self, key: str, *, owner: str) -> T:
        """Remove and return the entry: whatever happens next, a key works at most once."""
        with self._lock:
            entry = self._entries.pop(key, None) if key else None
        return self._check(entry, owner)

    def get(self, key: str, *, owner: str) -> T:
        """Return the entry without removing it (results may be reloaded until they expire)."""
        with self._lock:
            entry = self._entries.get(key) if key else None
        return self._check(entry, owner)

    def _check(self, entry: _Entry[T] | None, owner: str) -> T:
        if entry is None:
            raise unknown_sign_in()
        return check_entry(
            entry.value, entry_owner=entry.owner, expires_at=entry.expires_at, owner=owner, now=self._clock()
        )

    def _purge(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now >= e.expires_at]:
            del self._entries[key]


# --- connections and drafts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExistingConnection:
    """What the flow needs to know about a stored connection (secret values kept out of repr)."""

    conn_id: str
    conn_type: str
    login: str | None
    extra: Mapping[str, Any] = field(repr=False, default_factory=dict)
    has_refresh_token: bool = False

    def extra_value(self, name: str) -> Any:
        """An extra by its plain name, falling back to the legacy ``extra__msads__`` prefix."""
        return extra_value(self.extra, name)

    def has_secret(self, name: str) -> bool:
        return bool(self.extra_value(name))


@dataclass(frozen=True, slots=True)
class ConnectionDraft:
    """The connection as it will be saved once consent succeeds (the refresh token is added then)."""

    conn_id: str
    client_id: str
    client_secret: str | None = field(repr=False)
    developer_token: str = field(repr=False)
    environment: str
    tenant: str
    auth_base_url: str | None
    api_base_url: str | None
    transport: str = "rest"
    extra: Mapping[str, Any] = field(repr=False, default_factory=dict)  # the full extras to store
    endpoints: Endpoints | None = field(default=None, compare=False)
    create: bool = False

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (getattr(self, name) for name in SECRET_EXTRAS) if s)


def check_new_conn_id(conn_id: str) -> str:
    """Validate the id of a connection to create (letters, digits, ``_ . -``)."""
    conn_id = conn_id.strip()
    if not _CONN_ID_RE.match(conn_id):
        raise FormError(
            "conn_id",
            "use letters, digits, '_', '.' or '-' (at most 200 characters), e.g. msads_default",
        )
    return conn_id


def draft_from_form(
    form: Mapping[str, str], *, conn_id: str, existing: ExistingConnection | None
) -> ConnectionDraft:
    """Merge the submitted form with the stored connection and validate the result.

    Secret fields left blank keep the stored value. Endpoint overrides left blank are removed. All other
    extras of the stored connection (customer_id, scope, transport, ...) are kept as they are.
    """

    def text(name: str) -> str:
        return (form.get(name) or "").strip()

    client_id = text("client_id")
    if not client_id:
        raise FormError("client_id", "enter the Application (client) ID of your Entra ID app registration")
    client_secret = text("client_secret") or (
        str(existing.extra_value("client_secret"))
        if existing and existing.has_secret("client_secret")
        else ""
    )
    developer_token = text("developer_token") or (
        str(existing.extra_value("developer_token"))
        if existing and existing.has_secret("developer_token")
        else ""
    )
    if not developer_token:
        raise FormError(
            "developer_token",
            "enter your developer token (Microsoft Advertising Developer Portal; sandbox: BBD37VB98)",
        )
    environment = text("environment") or "production"
    if environment not in ("production", "sandbox"):
        raise FormError("environment", "choose production or sandbox")
    tenant = text("tenant") or DEFAULT_TENANT
    overrides: dict[str, str | None] = {}
    for name in ("auth_base_url", "api_base_url"):
        value = text(name)
        if value:
            try:
                value = check_override_url(name, value)
            except ConfigurationError as err:
                raise FormError(name, f"{err.problem}; {err.fix}") from None
        overrides[name] = value or None

    extra: dict[str, Any] = dict(existing.extra) if existing else {}
    updates: dict[str, Any] = {
        "developer_token": developer_token,
        "client_secret": client_secret or None,
        "environment": environment,
        "tenant": None if tenant == DEFAULT_TENANT else tenant,
        **overrides,
    }
    for name, value in updates.items():
        extra.pop(LEGACY_EXTRA_PREFIX + name, None)
        if value is None:
            extra.pop(name, None)
        else:
            extra[name] = value
    try:
        return _draft(conn_id, client_id, extra, create=existing is None)
    except ConfigurationError as err:
        raise FormError(_form_field(err.field), f"{err.problem}; {err.fix}") from None


def _draft(conn_id: str, client_id: str, extra: dict[str, Any], *, create: bool) -> ConnectionDraft:
    """Validate the merged extras the way a task will read them (raises ConfigurationError)."""
    settings = ConnectionSettings.from_connection_fields(
        login=client_id, password=_PLACEHOLDER_REFRESH_TOKEN, extra=extra
    )
    return ConnectionDraft(
        conn_id=conn_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        developer_token=settings.developer_token,
        environment=settings.environment,
        tenant=settings.tenant,
        auth_base_url=settings.auth_base_url,
        api_base_url=settings.api_base_url,
        transport=settings.transport,
        extra=extra,
        endpoints=settings.endpoints,
        create=create,
    )


def _form_field(config_field: str) -> str:
    if config_field.startswith("login"):
        return "client_id"
    if config_field in ("developer_token", "client_secret", "environment", "tenant"):
        return config_field
    if config_field in ("auth_base_url", "api_base_url"):
        return config_field
    return (
        "extra"  # customer_id, scope, transport... stored on the connection: fix it in the Connections page
    )


@dataclass(frozen=True, slots=True)
class PendingConsent:
    """A sign-in in progress: what to save, and the PKCE verifier only the server ever sees."""

    draft: ConnectionDraft
    code_verifier: str = field(repr=False)
    redirect_uri: str

    def to_json(self) -> dict[str, Any]:
        """The fields a draft is rebuilt from (secrets included: store it sealed only)."""
        return {
            "conn_id": self.draft.conn_id,
            "client_id": self.draft.client_id,
            "extra": dict(self.draft.extra),
            "create": self.draft.create,
            "code_verifier": self.code_verifier,
            "redirect_uri": self.redirect_uri,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingConsent:
        """Rebuild what :meth:`to_json` wrote, validating the draft again."""
        try:
            draft = _draft(
                str(data["conn_id"]), str(data["client_id"]), dict(data["extra"]), create=bool(data["create"])
            )
            return cls(draft, str(data["code_verifier"]), str(data["redirect_uri"]))
        except (KeyError, TypeError, ValueError, ConfigurationError):
            raise unknown_sign_in() from None


# --- redirect URI ------------------------------------------------------------------------------


def build_redirect_uri(base_url: str) -> str:
    """The callback URL below the Airflow API server's base URL.

    Microsoft accepts plain http only for localhost, so anything else must be https; a query or fragment
    would never match a registered redirect URI.
    """
    try:
        base = check_override_url("redirect URI", base_url)
    except ConfigurationError as err:
        raise FlowError(
            "Airflow's address cannot be used as a redirect URI",
            f"The callback would live at {base_url!r}: {err.problem}.",
            "Set [api] base_url to the https address your users open Airflow at (for example "
            "https://airflow.example.com/) and restart the API server.",
            status=500,
        ) from None
    return base + CALLBACK_PATH


# --- identity platform errors, in plain words --------------------------------------------------

#: How to consent again, on this page (the catalogue's ``{reconsent}``).
_RECONSENT_HERE = "press “Sign in with Microsoft” again"


def describe_identity_error(
    *,
    error: str | None,
    description: str | None,
    code: int | None = None,
    redirect_uri: str = "",
    tenant: str = DEFAULT_TENANT,
) -> FlowError:
    """Explain an error from the identity platform (the redirect's ``error`` or a token response).

    The words come from :mod:`airflow_provider_msads.client.signin_errors`, the catalogue the client's
    token errors use, so a code means the same on this page as in a task log.
    """
    if code is None:
        code = aadsts_code(description)
    problem = signin_errors.lookup(error=error, code=code)
    if problem is None:
        title, explanation, fix = (
            "Microsoft sign-in failed",
            "The identity platform refused the sign-in.",
            "Read the details below; check Client ID, Client secret and Tenant, then sign in again.",
        )
    else:  # the one catalogue the client's token errors use too, worded as sentences for this page
        title, cause, action = problem.render(
            reconsent=_RECONSENT_HERE, redirect_uri=redirect_uri, tenant=tenant
        )
        explanation, fix = _sentence(cause), _sentence(action)
    code_label = f"AADSTS{code}" if code is not None else None
    if code_label and code_label in (description or ""):
        code_label = None  # the description already starts with it
    label = ", ".join(p for p in (code_label, error) if p)
    first_line = (description or "").strip().splitlines()[0] if (description or "").strip() else ""
    if len(first_line) > _MAX_DETAIL:
        first_line = first_line[: _MAX_DETAIL - 3] + "..."
    detail = f"{label}: {first_line}" if label and first_line else (label or first_line or None)
    return FlowError(title, explanation, fix, detail=detail)


def _sentence(fragment: str) -> str:
    return fragment[:1].upper() + fragment[1:] + ("" if fragment.endswith(".") else ".")


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One account shown on the result page."""

    account_id: int
    number: str | None
    name: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """What the result page says: which user, how many accounts, and any warning. Holds no secret."""

    conn_id: str
    environment: str
    created: bool
    user_name: str | None = None
    user_id: int | None = None
    customer_count: int = 0
    account_count: int = 0
    accounts_capped: bool = False
    accounts: tuple[AccountLine, ...] = ()
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectResult:
        try:
            lines = tuple(AccountLine(**line) for line in data.get("accounts", ()))
            return cls(**{**data, "accounts": lines})
        except (TypeError, ValueError):
            raise unknown_sign_in() from None


class IssuedAccessToken:
    """The access token that came with the code redemption, as an ``AccessTokenProvider``.

    Why: the result page's GetUser/SearchAccounts calls use it instead of redeeming the new refresh token,
    so the token just stored in the connection is exactly the one the pipelines will start from.
    """

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token
        self._rejected = False

    def __repr__(self) -> str:
        return f"IssuedAccessToken(rejected={self._rejected})"

    def get_access_token(self) -> str:
        if self._rejected:
            raise TerminalAuthError(
                "the access token issued at sign-in was rejected by Microsoft Advertising: check that the "
                "connection's environment matches the account you signed in with"
            )
        return self._access_token

    def invalidate(self, access_token: str) -> None:
        self._rejected = True


#: Retry bounds while a person waits for the result page.
INTERACTIVE_RETRY_SECONDS = 20.0


def summarise_access(
    draft: ConnectionDraft,
    access_token: str,
    *,
    http: httpx.Client,
    created: bool,
    max_accounts: int = 10_000,
    listed: int = 50,
) -> ConnectResult:
    """GetUser and account discovery with the fresh access token, for the result page.

    A failure here does not undo the connection (the refresh token is valid); it becomes a warning that
    says what to fix, typically the developer token or the environment.
    """
    from airflow_provider_msads.client.client import MicrosoftAdsClient
    from airflow_provider_msads.client.errors import MicrosoftAdsError
    from airflow_provider_msads.client.retry import RetryPolicy

    if draft.endpoints is None:
        raise ValueError("draft has no resolved endpoints")
    base = ConnectResult(conn_id=draft.conn_id, environment=draft.environment, created=created)
    retry = RetryPolicy(
        max_attempts=2, max_total_seconds=INTERACTIVE_RETRY_SECONDS, backoff_max=5.0, throttle_wait=5.0
    )
    # The hook's path (settings -> MicrosoftAdsClient.from_settings), with the access token issued at
    # sign-in instead of a refresh: the token just stored is exactly the one pipelines start from.
    settings = ConnectionSettings.from_connection_fields(
        login=draft.client_id, password=_PLACEHOLDER_REFRESH_TOKEN, extra=draft.extra
    )
    try:
        with MicrosoftAdsClient.from_settings(
            settings, auth=IssuedAccessToken(access_token), http=http, retry=retry
        ) as client:
            info = client.get_user()
            lines: list[AccountLine] = []
            count = 0
            capped = False
            for account in client.discover_accounts():
                if count >= max_accounts:
                    capped = True
                    break
                count += 1
                if len(lines) < listed:
                    lines.append(
                        AccountLine(account.id, account.number, account.name, account.lifecycle_status)
                    )
    except MicrosoftAdsError as err:
        return replace(
            base,
            warning=(
                "The refresh token was saved, but listing your accounts failed, so pipelines will fail the "
                f"same way until this is fixed: {err}"
            ),
        )
    return replace(
        base,
        user_name=info.user.user_name,
        user_id=info.user.id,
        customer_count=len(info.customer_ids),
        account_count=count,
        accounts_capped=capped,
        accounts=tuple(lines),
    )
