"""The documented demo identity the emulator accepts out of the box.

These values are public on purpose: they only work against the emulator, so the README demo and the
example DAGs run without a Microsoft account. The demo app is a confidential ("Web") client with a
secret, because that is what servers (Airflow workers) must use against the real identity platform.
"""

from __future__ import annotations

from airflow_provider_msads.client.environments import SANDBOX_DEVELOPER_TOKEN

#: Application (client) id of the demo confidential "Web" app registration.
DEMO_CLIENT_ID = "6f1d2a3b-8c4e-4f5a-9b6c-7d8e9f0a1b2c"
#: Client secret of the demo app (Entra secrets are ~40 characters; long enough to be masked in logs).
DEMO_CLIENT_SECRET = "emu~Demo.ClientSecret-0123456789abcdefghij"  # noqa: S105 - public demo value, emulator only
#: A public ("mobile and desktop") client: must NOT send a secret (AADSTS700025 if it does).
DEMO_PUBLIC_CLIENT_ID = "0b5c6d7e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
#: Production developer token of the demo integration (production only; sandbox uses BBD37VB98).
DEMO_DEVELOPER_TOKEN = "EMUDEMO0DEVTOKEN42"  # noqa: S105 - public demo value, emulator only
#: Microsoft's universal sandbox developer token; sandbox only, as on the real service.
DEMO_SANDBOX_DEVELOPER_TOKEN = SANDBOX_DEVELOPER_TOKEN
#: Refresh token of the demo user for the demo client. Never expires; using it still returns a new,
#: rotated refresh token that behaves like a real one (expires, can be revoked).
DEMO_REFRESH_TOKEN = "M.C5_emu.0.U.demo-refresh-token!never-expires.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # noqa: S105 - public demo value, emulator only
#: Redirect URIs registered for the demo apps (besides any http://localhost / 127.0.0.1 URI).
NATIVE_CLIENT_REDIRECT_URI = "https://login.microsoftonline.com/common/oauth2/nativeclient"

PRODUCTION_SCOPE_RESOURCES = (
    "https://ads.microsoft.com/msads.manage",
    "https://ads.microsoft.com/ads.manage",
    "https://ads.microsoft.com/bingads.manage",
    "ads.manage",
    "bingads.manage",
    "msads.manage",
)
SANDBOX_SCOPE_RESOURCES = (
    "https://si.ads.microsoft.com/msads.manage",
    "https://api.ads.microsoft.com/msads.manage",  # the SDK's sandbox scope against the PPE login host
)
