"""The Airflow plugin: mounts the Connect app on the API server and adds a menu entry to the UI.

Registered through the ``airflow.plugins`` entry point. Every Airflow process imports plugins at start-up
(scheduler, workers, the API server), so this module imports nothing heavy: the FastAPI app is built on
the first request that reaches it, in the API server only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_msads.plugins.flow import MOUNT_PREFIX

DOCS_URL = "https://github.com/airflow-provider-msads/airflow-provider-msads#readme"

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyConnectApp:
    """An ASGI app that builds the real one (FastAPI + Airflow backend) on its first request."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def _build(self) -> ASGIApp:
        with self._lock:
            if self._app is None:
                from airflow_provider_msads.plugins.app import create_app
                from airflow_provider_msads.plugins.backend import AirflowBackend
                from airflow_provider_msads.plugins.flow import ConnectResult, PendingConsent
                from airflow_provider_msads.plugins.shared_state import DatabaseStore

                # In the metadata DB, not in this process: the callback may reach another API server.
                self._app = create_app(
                    AirflowBackend(),
                    pending=DatabaseStore("pending", PendingConsent.to_json, PendingConsent.from_json),
                    results=DatabaseStore("result", ConnectResult.to_json, ConnectResult.from_json),
                )
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or self._build()
        await app(scope, receive, send)


def _ui_path(path: str) -> str:
    """``path`` below the path part of ``[api] base_url`` (Airflow may be served under a prefix)."""
    from airflow.configuration import conf

    root = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return root + path


class MicrosoftAdsPlugin(AirflowPlugin):
    """Microsoft Advertising → Connect: sign in with Microsoft from the Airflow UI."""

    name = "microsoft_advertising"
    fastapi_apps = [
        {
            "app": LazyConnectApp(),
            "url_prefix": MOUNT_PREFIX,
            "name": "Microsoft Advertising: Connect",
        }
    ]
    # No url_route: the page opens as a top-level tab, because the identity platform refuses to be shown
    # inside a frame, and Airflow's plugin iframes may neither open pop-ups nor navigate the top window.
    # Two entries on purpose: Airflow 3.3's UI renders a lone plugin entry as a top-level button that does
    # not follow its href; two or more go into Plugins → <category>, where they are real links.
    external_views = [
        {
            "name": "Connect",
            "href": _ui_path(MOUNT_PREFIX + "/connect"),
            "icon": _ui_path(MOUNT_PREFIX + "/icon.svg"),
            "category": "Microsoft Advertising",
            "destination": "nav",
        },
        {
            "name": "Documentation",
            "href": DOCS_URL,
            "category": "Microsoft Advertising",
            "destination": "nav",
        },
    ]
