"""Microsoft Advertising ids: the one parser, for every place an id comes in.

Ids (accounts, customers, users) are signed 64-bit integers (``long``) on both wire formats; REST sends
them as JSON strings, SOAP as element text, users type them into connection fields and operator
arguments. Everything that turns such a value into an ``int`` calls this module, so "what is an id"
is decided once: ASCII digits only (other scripts' digits, signs, floats, exponents and booleans are
refused: a bad id must never be rounded, wrapped or written to a warehouse table), at most
2**63 - 1.

Error messages never quote the refused value: a proxy may echo a credential where an id belongs, and
a user may paste a token into the wrong field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_provider_msads.client.errors import ConfigurationError

MAX_ID = 2**63 - 1
_SEPARATORS = re.compile(r"[\s,;]+")


class _IdOutOfRange(ValueError):
    """Digits, but beyond the signed 64-bit range."""


def wire_int(value: object) -> int:
    """An id or count as the services send it: an int, or a string of ASCII digits, 0..2**63-1.

    Raises ``ValueError`` (the codecs turn it into an :class:`InvalidResponseError`); the message says
    what kind of value it was, never the value itself.
    """
    # Fast path for the usual wire form (hot: four calls per account): fewer than 19 ASCII digits is
    # always within range, so the result equals the checked path's below.
    if value.__class__ is str and len(value) < 19 and value.isdigit() and value.isascii():  # type: ignore[attr-defined]
        return int(value)  # type: ignore[call-overload, no-any-return]
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (text := value.strip()).isascii() and text.isdigit() and len(text) <= 19:
        number = int(text)
    else:
        raise ValueError(f"not a 64-bit integer ({describe(value)})")
    if not 0 <= number <= MAX_ID:
        raise _IdOutOfRange(f"outside the signed 64-bit range ({describe(value)})")
    return number


def parse_id(value: Any, field_name: str) -> int | None:
    """A user-supplied id (int or digit string; surrounding blanks and quotes ignored); empty = unset.

    :raises ConfigurationError: naming ``field_name`` when the value is not a positive 64-bit id.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigurationError(
            field_name,
            f"expected a number, got {type(value).__name__}",
            "write the numeric id, e.g. 123456789",
        )
    text = value.strip().strip("'\"") if isinstance(value, str) else value
    try:
        number = wire_int(text)
    except _IdOutOfRange:
        raise ConfigurationError(
            field_name, f"is out of range ({describe(value)})", "ids are positive 64-bit integers"
        ) from None
    except ValueError:
        raise ConfigurationError(
            field_name,
            f"is not a numeric id ({describe(value)})",
            "write digits only, e.g. 123456789 (no dashes, no name)",
        ) from None
    if number == 0:
        raise ConfigurationError(field_name, "0 is not an id", "ids are positive 64-bit integers")
    return number


def required_id(value: Any, field_name: str) -> int:
    """Like :func:`parse_id`, but a missing value is an error too."""
    parsed = parse_id(value, field_name)
    if parsed is None:
        raise ConfigurationError(field_name, "is missing", "pass the numeric id")
    return parsed


def parse_ids(value: Iterable[int | str] | int | str | None, field_name: str) -> tuple[int, ...] | None:
    """Ids from an int, a digit string, a list of either, or one comma/space separated string.

    Templated operator arguments arrive as strings (``"[1, 2]"`` or ``"1,2"``). Duplicates are dropped,
    order kept; None or nothing at all means "no filter" (None).
    """
    if value is None:
        return None
    items: list[Any]
    if isinstance(value, str):
        items = [part for part in _SEPARATORS.split(value.strip().strip("[]")) if part]
    elif isinstance(value, int):
        items = [value]
    elif isinstance(value, bytes):
        raise ConfigurationError(field_name, "expected ids, got bytes", "pass e.g. [123, 456]")
    else:
        items = list(value)
    return tuple(dict.fromkeys(required_id(item, field_name) for item in items)) or None


def describe(value: object) -> str:
    """A safe description of a refused value: its type and size, never its content."""
    if isinstance(value, (str, bytes)):
        return f"{type(value).__name__} of {len(value)} character{'s' if len(value) != 1 else ''}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"int of {len(str(abs(value)))} digits" + (", negative" if value < 0 else "")
    return type(value).__name__
