"""ONE catalogue of Microsoft identity platform (sign-in and token) errors: what happened, what to do.

Keyed by AADSTS code (the precise one, from ``error_codes`` or the ``AADSTSnnnnn:`` prefix of
``error_description``) and, when the code is unknown or absent, by the OAuth ``error`` field. Both the
client's token errors (:mod:`.auth`, seen in task logs and by ``msads-auth``) and the UI's Connect page
read it, so one code means one thing everywhere.

``fix`` texts are fragments that each caller completes: ``{reconsent}`` is how to consent again where the
message is shown (``msads-auth`` or the Connect page in a task log; "press Sign in with Microsoft again"
on the Connect page), ``{redirect_uri}`` and ``{tenant}`` are filled in when known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AADSTS_RE = re.compile(r"AADSTS(\d+)")


@dataclass(frozen=True, slots=True)
class SignInProblem:
    """One entry of the catalogue.

    :param title: short heading for the Connect page.
    :param cause: what happened, one line, lower-case start (it is embedded in sentences).
    :param fix: what to do, a fragment with ``{reconsent}``/``{redirect_uri}``/``{tenant}`` placeholders.
    :param transient: retrying later can help (else a person must act: terminal).
    """

    title: str
    cause: str
    fix: str
    transient: bool = False

    def render(
        self, *, reconsent: str, redirect_uri: str = "", tenant: str = "common"
    ) -> tuple[str, str, str]:
        """``(title, cause, fix)`` with the placeholders filled in for where the message is shown."""
        values = {
            "reconsent": reconsent,
            "redirect_uri": redirect_uri or "the redirect URI you sign in with",
            "tenant": tenant,
        }
        return self.title, self.cause.format(**values), self.fix.format(**values)


_RECONSENT = "{reconsent}"
_PUT_THE_VALUE = (
    "put the secret VALUE (not its ID) from Entra ID → App registrations → your app → Certificates & "
    "secrets into the connection's client_secret"
)
_WRONG_SECRET = SignInProblem("Wrong client secret", "the client secret is wrong", _PUT_THE_VALUE)

#: AADSTS code -> problem. Sources: Microsoft's AADSTS error code reference and observed responses.
BY_CODE: dict[int, SignInProblem] = {
    70008: SignInProblem(
        "This sign-in expired",
        "the authorization code or refresh token expired (or was revoked)",
        _RECONSENT,
    ),
    700082: SignInProblem(
        "The refresh token expired",
        "the refresh token expired after inactivity (unused for about 90 days)",
        _RECONSENT,
    ),
    700084: SignInProblem(
        "The refresh token expired",
        "the refresh token of a single-page app reached its fixed lifetime",
        _RECONSENT,
    ),
    70043: SignInProblem(
        "The sign-in expired",
        "the refresh token expired under a Conditional Access sign-in-frequency policy",
        _RECONSENT,
    ),
    50173: SignInProblem(
        "The refresh token was revoked",
        "the refresh token was revoked (password change, or revoked by the user or an admin)",
        _RECONSENT,
    ),
    70000: SignInProblem(
        "The token does not fit this scope",
        "the refresh token is not valid for the requested scope (a sandbox token used against production, "
        "or the reverse, looks exactly like this)",
        "check that the connection's environment matches where the token was obtained, or {reconsent}",
    ),
    65001: SignInProblem(
        "Consent is required",
        "neither the user nor an administrator has consented to this app using Microsoft Advertising",
        "{reconsent} and accept the permissions, or ask a tenant administrator to grant admin consent",
    ),
    65004: SignInProblem(
        "Consent was declined",
        "the user declined the permissions this app asked for",
        "{reconsent} and press Accept; if your organisation does not let users consent, ask a tenant "
        "administrator to grant admin consent to the app in Entra ID",
    ),
    50076: SignInProblem(
        "Multi-factor authentication is required",
        "multi-factor authentication is now required",
        "{reconsent} and complete every step the sign-in page asks for",
    ),
    50078: SignInProblem(
        "Multi-factor authentication expired",
        "the multi-factor authentication has expired",
        "{reconsent} and complete every step the sign-in page asks for",
    ),
    50079: SignInProblem(
        "Multi-factor authentication enrolment is required",
        "the user must enrol in multi-factor authentication",
        "{reconsent} and complete the enrolment the sign-in page asks for",
    ),
    53003: SignInProblem(
        "Blocked by Conditional Access",
        "a Conditional Access policy of the organisation blocked this sign-in",
        "ask your Entra ID administrator to allow this app, or sign in from an allowed device or network",
    ),
    90002: SignInProblem(
        "Tenant not found",
        "the identity platform does not know the tenant '{tenant}'",
        "set tenant to 'common', your tenant's GUID or its domain (for example contoso.onmicrosoft.com)",
    ),
    90072: SignInProblem(
        "Wrong account for this tenant",
        "the account that signed in does not exist in the tenant '{tenant}'",
        "{reconsent} with an account of that tenant, or set tenant to 'common'",
    ),
    50020: SignInProblem(
        "Wrong account for this tenant",
        "the account that signed in is not a member or guest of the tenant '{tenant}'",
        "{reconsent} with an account of that tenant, or set tenant to 'common'",
    ),
    70002: _WRONG_SECRET,
    7000215: _WRONG_SECRET,
    7000222: SignInProblem(
        "Client secret expired",
        "the app's client secret is past its expiry date",
        "create a new client secret in Entra ID and put its value in the connection's client_secret",
    ),
    7000218: SignInProblem(
        "Client secret missing",
        "the app is a confidential (Web) client, so the token request must carry its client secret",
        "set the connection's client_secret",
    ),
    700025: SignInProblem(
        "This app must not send a client secret",
        "the app is a public client, so no client secret may be sent",
        "remove client_secret from the connection (servers should use a Web app with a secret)",
    ),
    700016: SignInProblem(
        "App not found",
        "no app with this client ID exists in the tenant '{tenant}'",
        "check the client ID (the Application (client) ID GUID, not an old Live SDK id) and tenant",
    ),
    50194: SignInProblem(
        "The app only accepts accounts of its own tenant",
        "the app is single-tenant, so the shared 'common' endpoint cannot be used",
        "set tenant to the app's Directory (tenant) ID from its Entra ID overview page",
    ),
    50011: SignInProblem(
        "Redirect URI not registered",
        "the app registration does not list this redirect URI",
        "in Entra ID → App registrations → your app → Authentication, add the platform 'Web' with the "
        "redirect URI {redirect_uri} exactly, save, then {reconsent}",
    ),
    50196: SignInProblem(
        "Too many identical sign-in requests",
        "the identity platform detected a request loop (too many identical token requests)",
        "stop retrying and check that tokens are cached (one shared access token per connection)",
    ),
    70011: SignInProblem(
        "Invalid scope",
        "the identity platform rejected the requested Microsoft Advertising scope",
        "remove the scope override or use https://ads.microsoft.com/msads.manage offline_access",
    ),
    650052: SignInProblem(
        "Microsoft Advertising is not enabled for this tenant",
        "the tenant has no service principal for Microsoft Advertising",
        "have a tenant administrator sign in to Microsoft Advertising once, then {reconsent}",
    ),
    54005: SignInProblem(
        "This sign-in was already used",
        "the authorization code was already redeemed",
        _RECONSENT,
    ),
    501481: SignInProblem(
        "The sign-in could not be verified",
        "the PKCE code verifier did not match the sign-in that was started",
        _RECONSENT,
    ),
}

#: OAuth ``error`` field -> problem, for codes not in :data:`BY_CODE` (or responses without one).
BY_ERROR: dict[str, SignInProblem] = {
    "invalid_grant": SignInProblem(
        "The sign-in could not be completed",
        "the authorization code or refresh token was not accepted (expired, revoked, already used, or "
        "issued for another app or scope)",
        _RECONSENT,
    ),
    "invalid_client": SignInProblem(
        "The app's credentials were rejected",
        "client authentication failed",
        "check the client ID; " + _PUT_THE_VALUE,
    ),
    "unauthorized_client": SignInProblem(
        "The app may not sign users in this way",
        "the app is not allowed to use this grant in this tenant",
        "check the client ID and tenant, and that the app has a 'Web' platform with the redirect URI "
        "{redirect_uri}",
    ),
    "invalid_scope": BY_CODE[70011],
    "interaction_required": SignInProblem(
        "More sign-in steps are required",
        "the user must sign in interactively (multi-factor authentication or consent)",
        "{reconsent} and complete every step the sign-in page asks for",
    ),
    "consent_required": BY_CODE[65001],
    "login_required": SignInProblem("You need to sign in", "the user must sign in again", _RECONSENT),
    "access_denied": BY_CODE[65004],
    "invalid_request": SignInProblem(
        "The sign-in request was rejected",
        "the token request was rejected as malformed",
        "check the client ID, the client secret (public clients must not send one) and the scope",
    ),
    "unsupported_grant_type": SignInProblem(
        "The identity platform refused the grant type",
        "the identity platform refused the grant type",
        "check that auth_base_url points at a Microsoft identity platform v2.0 endpoint",
    ),
    "invalid_resource": SignInProblem(
        "Microsoft Advertising is not configured for this tenant",
        "the target resource is not configured for this tenant",
        "check the scope and that Microsoft Advertising is enabled for the tenant",
    ),
    "temporarily_unavailable": SignInProblem(
        "Microsoft's sign-in service is busy",
        "the identity platform is temporarily unavailable",
        "wait a minute and try again (tasks retry this by themselves)",
        transient=True,
    ),
    "server_error": SignInProblem(
        "Microsoft's sign-in service failed",
        "the identity platform reported an internal error",
        "wait a minute and try again (tasks retry this by themselves)",
        transient=True,
    ),
}


def aadsts_code(description: str | None) -> int | None:
    """The AADSTS code in an ``error_description`` (``AADSTS70008: ...``), if any."""
    match = _AADSTS_RE.search(description or "")
    return int(match.group(1)) if match else None


def lookup(*, error: str | None, code: int | None) -> SignInProblem | None:
    """The catalogue entry for an AADSTS code, else for the OAuth error; None when neither is known."""
    if code is not None and code in BY_CODE:
        return BY_CODE[code]
    return BY_ERROR.get(error or "")
