"""Error codes the emulator speaks, with the real names and messages.

API codes come from Microsoft's operation error code page (the project's ``error-codes.json``);
AADSTS codes from the Microsoft Entra error code reference (``oauth-errors.md``). Only the codes the
emulator produces are listed: the package must not depend on the shared reference pack at run time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiCode:
    """One Microsoft Advertising operation error code."""

    code: int
    name: str | None  # Symbolic ErrorCode; None where Microsoft documents "Not applicable"
    message: str
    fault_type: str  # "AdApiFaultDetail" (call-level) or "ApiFault" (operation-level, no ErrorCode)
    http_status: int  # REST status the emulator uses by default


_API_CODES: tuple[ApiCode, ...] = (
    ApiCode(
        0,
        "InternalError",
        "An unidentified error has occurred. You may obtain additional information about this error by "
        "contacting Microsoft Advertising Support.",
        "AdApiFaultDetail",
        500,
    ),
    ApiCode(100, "NullRequest", "The request message is null.", "AdApiFaultDetail", 400),
    ApiCode(
        105,
        "InvalidCredentials",
        "Authentication failed. Either supplied credentials are invalid or the account is inactive.",
        "AdApiFaultDetail",
        401,
    ),
    ApiCode(
        106,
        "UserIsNotAuthorized",
        "The user is not authorized to perform this action.",
        "AdApiFaultDetail",
        403,
    ),
    ApiCode(
        109,
        "AuthenticationTokenExpired",
        "Authentication token expired. Please renew it or obtain a new token.",
        "AdApiFaultDetail",
        401,
    ),
    ApiCode(
        116,
        "RequestMissingHeaders",
        "One or more required header elements are missing from the request.",
        "AdApiFaultDetail",
        401,
    ),
    ApiCode(
        117,
        "CallRateExceeded",
        "You have exceeded the number of calls that you are allowed to make in a minute. Please reduce the "
        "number of calls that you make per minute.",
        "AdApiFaultDetail",
        429,
    ),
    ApiCode(
        201,
        "ApiInputValidationError",
        "One or more input elements failed validation.",
        "AdApiFaultDetail",
        400,
    ),
    ApiCode(203, "NullParameter", "The parameter cannot be null.", "AdApiFaultDetail", 400),
    ApiCode(474, None, "Required search predicate is missing.", "ApiFault", 400),
    ApiCode(
        833,
        "ServiceTimeOut",
        "A service timeout because the network or service is not available.",
        "AdApiFaultDetail",
        500,
    ),
    ApiCode(1102, None, "The account identifier is not valid.", "ApiFault", 400),
    ApiCode(1490, None, "The customer identifier is not valid.", "ApiFault", 400),
    ApiCode(
        2208,
        None,
        "Microsoft Advertising encountered a system issue. Please try again later.",
        "AdApiFaultDetail",
        500,
    ),
    ApiCode(3024, None, "The batch size exceeds the limit.", "ApiFault", 400),
    ApiCode(
        3030,
        None,
        "The Predicate passed in the search is invalid. For example you used an invalid predicate operator "
        "for a valid predicate field.",
        "ApiFault",
        400,
    ),
    ApiCode(3080, None, "Page Info must be present and have index greater than 0 (zero).", "ApiFault", 400),
    ApiCode(
        3101,
        "OAuthTokenInvalid",
        "Typically indicates usage of an incorrect OAuth token.",
        "AdApiFaultDetail",
        401,
    ),
)
API_CODES: dict[int, ApiCode] = {c.code: c for c in _API_CODES}


def api_code(code: int) -> ApiCode:
    """Describe ``code``; unknown codes (injected by tests) become a generic call-level fault."""
    known = API_CODES.get(code)
    if known is not None:
        return known
    return ApiCode(code, None, f"Emulated error {code}.", "AdApiFaultDetail", 400)


@dataclass(frozen=True, slots=True)
class AadstsCode:
    """One Microsoft Entra (AADSTS) token-endpoint error."""

    code: int
    error: str  # the OAuth "error" value
    http_status: int
    description: str


_AADSTS: tuple[AadstsCode, ...] = (
    AadstsCode(
        50011,
        "invalid_request",
        400,
        "The redirect URI specified in the request does not match the redirect URIs configured for the "
        "application.",
    ),
    AadstsCode(
        50173,
        "invalid_grant",
        400,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
        "user might "
        "have changed or reset their password.",
    ),
    AadstsCode(
        50196,
        "invalid_request",
        400,
        "The server terminated an operation because it encountered a client loop.",
    ),
    AadstsCode(
        54005,
        "invalid_grant",
        400,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an"
        " existing refresh token.",
    ),
    AadstsCode(
        65001, "invalid_grant", 400, "The user or administrator has not consented to use the application."
    ),
    AadstsCode(65004, "access_denied", 400, "User declined to consent to access the app."),
    AadstsCode(9002313, "invalid_grant", 400, "Invalid request. Request is malformed or invalid."),
    AadstsCode(70000, "invalid_grant", 400, "Provided grant is invalid or malformed."),
    AadstsCode(
        70008,
        "invalid_grant",
        400,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new "
        "interactive authorization request for this user and resource.",
    ),
    AadstsCode(
        70011,
        "invalid_scope",
        400,
        "The provided request must include a 'scope' input parameter. The provided value for the "
        "input parameter 'scope' is not valid.",
    ),
    AadstsCode(
        90002, "invalid_request", 400, "Tenant not found. Check to make sure you have the correct tenant ID."
    ),
    AadstsCode(
        900144, "invalid_request", 400, "The request body must contain the following parameter: 'grant_type'."
    ),
    AadstsCode(
        90014,
        "invalid_request",
        400,
        "The request body must contain the following parameter: a required field.",
    ),
    AadstsCode(70003, "unsupported_grant_type", 400, "The app requested an unsupported grant type."),
    AadstsCode(
        501481,
        "invalid_grant",
        400,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    ),
    AadstsCode(
        700016,
        "unauthorized_client",
        400,
        "Application with the given identifier was not found in the directory. This can happen if the"
        " application has not been installed by the administrator of the tenant or consented to by "
        "any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    ),
    AadstsCode(
        700025,
        "invalid_client",
        401,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    ),
    AadstsCode(
        7000215,
        "invalid_client",
        401,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client "
        "secret value, not the client secret ID, for a secret added to app.",
    ),
    AadstsCode(
        7000218,
        "invalid_client",
        401,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    ),
    AadstsCode(
        50076,
        "interaction_required",
        400,
        "Due to a configuration change made by your administrator, or because you moved to a new "
        "location, you must use multi-factor authentication to access the resource.",
    ),
    AadstsCode(90033, "temporarily_unavailable", 503, "A transient error has occurred. Please try again."),
    AadstsCode(
        50000, "server_error", 500, "There was an error issuing a token or an issue with our sign-in service."
    ),
    AadstsCode(900561, "invalid_request", 400, "The endpoint only accepts POST requests."),
)
AADSTS_CODES: dict[int, AadstsCode] = {c.code: c for c in _AADSTS}


def aadsts_code(code: int) -> AadstsCode:
    """Describe an AADSTS code; unknown codes (injected by tests) become ``invalid_request``."""
    return AADSTS_CODES.get(code) or AadstsCode(code, "invalid_request", 400, f"Emulated error {code}.")
