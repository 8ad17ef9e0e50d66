"""One catalogue of sign-in errors: the client's token errors and the Connect page read the same entry.

For every AADSTS code and OAuth error in ``client.signin_errors``, a real token response carrying it goes
through ``OAuthClient`` (what tasks and msads-auth see) and through the Connect page's wording; both
must say the catalogue's cause, and retry exactly when the entry is transient.
"""

from __future__ import annotations

import httpx
import pytest
from msads_fake_identity import INITIAL_REFRESH_TOKEN, FakeIdentity, error_body
from test_auth_oauth_client import make_client

from airflow_provider_msads.client import signin_errors
from airflow_provider_msads.client.errors import AuthError, TerminalAuthError, TransientAuthError
from airflow_provider_msads.plugins.flow import describe_identity_error

TENANT = "contoso.example"


def _refresh_error(error: str, code: int) -> AuthError:
    fake = FakeIdentity()
    fake.faults = [httpx.Response(400, json=error_body(error, code, "server words"))] * 10
    with pytest.raises(AuthError) as info:
        make_client(fake).refresh(INITIAL_REFRESH_TOKEN)
    return info.value


@pytest.mark.parametrize("code", sorted(signin_errors.BY_CODE))
def test_each_code_means_the_same_in_a_task_log_and_on_the_connect_page(code: int) -> None:
    problem = signin_errors.BY_CODE[code]
    _, cause, _ = problem.render(reconsent="-", tenant="common")
    err = _refresh_error("invalid_request", code)
    assert isinstance(err, TransientAuthError if problem.transient else TerminalAuthError)
    assert f"{cause} (AADSTS{code}, invalid_request)" in str(err)

    page = describe_identity_error(error="invalid_request", description=None, code=code, tenant=TENANT)
    _, page_cause, _ = problem.render(reconsent="x", tenant=TENANT)
    assert page.title == problem.title
    assert page.explanation.lower().rstrip(".") == page_cause.lower()
    assert "{" not in page.explanation + page.fix, "every placeholder is filled in"
    assert "Sign in with Microsoft" in page.fix or "{reconsent}" not in problem.fix
    assert "msads-auth" in str(err) or "{reconsent}" not in problem.fix


@pytest.mark.parametrize("error", sorted(signin_errors.BY_ERROR))
def test_errors_without_a_known_code_fall_back_to_the_error_field(error: str) -> None:
    problem = signin_errors.BY_ERROR[error]
    _, cause, _ = problem.render(reconsent="-")
    err = _refresh_error(error, 9_999_999)  # a code the catalogue does not know
    assert isinstance(err, TransientAuthError if problem.transient else TerminalAuthError)
    assert cause in str(err)
    page = describe_identity_error(error=error, description="AADSTS9999999: something new")
    assert page.title == problem.title


def test_codes_are_found_in_the_description_when_error_codes_is_absent() -> None:
    assert signin_errors.aadsts_code("AADSTS700082: The refresh token has expired") == 700082
    assert signin_errors.aadsts_code("no code here") is None
    page = describe_identity_error(error="invalid_grant", description="AADSTS50173: revoked")
    assert page.title == signin_errors.BY_CODE[50173].title
