"""MicrosoftAdsHook: an Airflow connection of type ``msads`` turned into a ready API client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_msads.client.connection_fields import FIELDS, SECRET_EXTRAS, extra_value
from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ConfigurationError,
    MicrosoftAdsError,
    ResponseTooLargeError,
    TerminalAuthError,
    UnsafeXmlError,
)
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.provider_info import CONNECTION_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR

if TYPE_CHECKING:
    from airflow_provider_msads.client import MicrosoftAdsClient
    from airflow_provider_msads.client.models import Account, UserInfo
    from airflow_provider_msads.client.protocols import TokenStore
    from airflow_provider_msads.client.retry import RetryPolicy


#: Errors no task retry can fix: a person must act (re-consent, fix a connection field or argument, fix
#: a proxy rewriting responses). Retrying a revoked token would only call the token endpoint again.
TERMINAL_ERRORS: tuple[type[MicrosoftAdsError], ...] = (
    ConfigurationError,
    TerminalAuthError,
    ApiAuthenticationError,
    UnsafeXmlError,
    ResponseTooLargeError,
)


@contextmanager
def fail_without_retries() -> Iterator[None]:
    """Fail the task at once, skipping its Airflow retries, when a terminal error escapes the block.

    The error becomes an ``AirflowFailException`` with the same message (and the original as its
    cause). Errors the client already retried (network, throttling, 5xx) pass through unchanged, so
    Airflow's task retries still apply to them. Operators use this; wrap your own ``@task`` code too::

        with fail_without_retries(), MicrosoftAdsHook().get_client() as client:
            ...
    """
    try:
        yield
    except TERMINAL_ERRORS as err:
        raise _fail_exception()(f"{type(err).__name__}: {err}") from err


def _fail_exception() -> type[Exception]:
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 3.1 keeps it in airflow.exceptions
        from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]
    return AirflowFailException


class MicrosoftAdsHook(BaseHook):
    """Interact with the Microsoft Advertising API through an ``msads`` connection.

    The hook only reads the connection, masks its secrets, and builds a
    :class:`~airflow_provider_msads.client.MicrosoftAdsClient`; all protocol work happens there.

    :param msads_conn_id: id of a connection of type ``msads``.
    :param token_store: where rotated refresh tokens are persisted; default: an encrypted Airflow
        Variable keyed by the connection id (see :mod:`airflow_provider_msads.hooks.token_store`).
    :param retry: retry budget of each API request
        (:class:`~airflow_provider_msads.client.retry.RetryPolicy`: attempts, total seconds, waits);
        default ``RetryPolicy()``: 5 attempts within 300 s.
    :param timeout: seconds one attempt may take in total, connect to last byte (default 60).
    """

    conn_name_attr = "msads_conn_id"
    default_conn_name = "msads_default"
    conn_type = CONNECTION_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        msads_conn_id: str = default_conn_name,
        *,
        token_store: TokenStore | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.msads_conn_id = msads_conn_id
        self._token_store = token_store
        self.retry = retry
        self.timeout = timeout

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The validated connection; secrets are registered with Airflow's masker before anything else."""
        return self.settings_from_connection(self.get_connection(self.msads_conn_id))

    @staticmethod
    def settings_from_connection(conn: Any) -> ConnectionSettings:
        """Mask the secrets of an Airflow ``Connection``, then validate it into settings.

        Shared with the report trigger, which looks the connection up asynchronously itself.
        """
        extra = conn.extra_dejson
        _mask(conn.password, *_secret_extras(extra))
        settings = ConnectionSettings.from_connection_fields(
            login=conn.login, password=conn.password, extra=extra
        )
        _mask(*settings.secrets)
        return settings

    def get_client(self) -> MicrosoftAdsClient:
        """Return a new client; use it as a context manager so its HTTP connections are closed."""
        from airflow_provider_msads.client import MicrosoftAdsClient

        return MicrosoftAdsClient.from_settings(
            self.settings,
            token_store=self._token_store if self._token_store is not None else self._default_token_store(),
            retry=self.retry,
            timeout=self.timeout,
        )

    def _default_token_store(self) -> TokenStore:
        from airflow_provider_msads.hooks.token_store import VariableTokenStore

        return VariableTokenStore(self.msads_conn_id, self.settings)

    def get_user(self) -> UserInfo:
        """GetUser for the signed-in user (with their customer roles)."""
        with fail_without_retries(), self.get_client() as client:
            return client.get_user()

    def discover_accounts(self, **filters: Any) -> list[Account]:
        """Every account the user can reach (GetUser → SearchAccounts); see ``MicrosoftAdsClient``."""
        with fail_without_retries(), self.get_client() as client:
            return list(client.discover_accounts(**filters))

    def iter_accounts(self, **filters: Any) -> Iterator[Account]:
        """Like :meth:`discover_accounts` but streaming: memory stays flat for very large users."""
        with fail_without_retries(), self.get_client() as client:
            yield from client.discover_accounts(**filters)

    def test_connection(self) -> tuple[bool, str]:
        """Refresh a token and call GetUser: proves all three credentials work together."""
        try:
            info = self.get_user()
        except Exception as err:  # the UI shows this text: our errors never contain secrets
            shown = err.__cause__ if isinstance(err.__cause__, MicrosoftAdsError) else err
            return False, f"{type(shown).__name__}: {shown}"
        user = info.user
        return True, (
            f"Connected as {user.user_name or user.id} (user id {user.id}) in "
            f"{self.settings.environment}; {len(info.customer_roles)} customer role(s)."
        )

    # Airflow 3.1 builds the connection form from these classmethods; 3.2+ reads provider_info instead.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
            from wtforms import PasswordField, StringField
            from wtforms.validators import Optional, any_of
        except ImportError:  # Airflow 3.2+ without the FAB provider: the form comes from provider_info
            return {}
        widgets: dict[str, Any] = {}
        for spec in FIELDS:
            validators = [Optional()]
            if spec.enum:
                validators.append(any_of(list(spec.enum)))
            widgets[spec.name] = (PasswordField if spec.secret else StringField)(
                spec.label,
                validators=validators,
                description=spec.description,
                default=spec.default,
                widget=BS3PasswordFieldWidget() if spec.secret else BS3TextFieldWidget(),
            )
        return widgets


def _secret_extras(extra: Any) -> list[Any]:
    if not isinstance(extra, dict):  # e.g. a JSON array: ConnectionSettings reports it by field name
        return []
    return [extra_value(extra, name) for name in SECRET_EXTRAS]


def _mask(*values: Any) -> None:
    from airflow.sdk.log import mask_secret

    for value in values:
        if isinstance(value, str) and value:
            mask_secret(value)
