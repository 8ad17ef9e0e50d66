"""The one id parser (client/ids.py): every entry point agrees, and no refused value is ever quoted."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.ids import MAX_ID, parse_id, parse_ids, required_id, wire_int
from airflow_provider_msads.client.models import Account
from airflow_provider_msads.client.settings import ConnectionSettings

SECRET_LIKE = "eyJ0eXAiOiJKV1QiLCJub25jZSI6"  # what a proxy might echo where an id belongs


@pytest.mark.parametrize("value", ["1", "42", str(MAX_ID), 7, MAX_ID, " 12 "])
def test_wire_ids_parse(value: Any) -> None:
    assert wire_int(value) == int(str(value).strip())


@pytest.mark.parametrize(
    "value",
    [str(MAX_ID + 1), "1" * 25, -5, "-5", "+5", 1.5, "1e3", "1.0", True, "٣", "12²", "", None, SECRET_LIKE],
)
def test_wire_ids_refuse_without_quoting(value: Any) -> None:
    with pytest.raises(ValueError) as caught:
        wire_int(value)
    text = str(caught.value)
    if isinstance(value, str) and len(value) > 1:
        assert value not in text
    assert "64-bit" in text


def test_user_ids_allow_quotes_and_blanks_but_not_zero() -> None:
    assert parse_id(" '123' ", "customer_id") == 123
    assert parse_id("", "customer_id") is None
    assert parse_id(None, "customer_id") is None
    with pytest.raises(ConfigurationError, match="customer_id: 0 is not an id"):
        parse_id(0, "customer_id")
    with pytest.raises(ConfigurationError, match="account_id: is missing"):
        required_id(None, "account_id")


def test_id_lists_from_every_templated_form() -> None:
    assert parse_ids("1, 2;3 2", "ids") == (1, 2, 3)
    assert parse_ids("[4, 5]", "ids") == (4, 5)
    assert parse_ids(["6", 7, "'8'"], "ids") == (6, 7, 8)
    assert parse_ids(9, "ids") == (9,)
    assert parse_ids("", "ids") is None
    assert parse_ids(None, "ids") is None
    with pytest.raises(ConfigurationError) as caught:
        parse_ids(f"1,{SECRET_LIKE}", "account_ids")
    assert caught.value.field == "account_ids" and SECRET_LIKE not in str(caught.value)


def test_connection_client_and_models_use_the_same_parser() -> None:
    # The same value is refused, with the field name, by the connection, and by the model.
    for bad in ("1e3", str(MAX_ID + 1)):
        with pytest.raises(ConfigurationError) as caught:
            ConnectionSettings.from_connection_fields(
                login="c", password="r", extra={"developer_token": "d" * 12, "customer_id": bad}
            )
        assert caught.value.field == "customer_id" and bad not in str(caught.value)
        with pytest.raises(ValueError):
            Account(bad)
    assert Account("12", None, None, "34").parent_customer_id == 34
