"""Hardened XML parsing for SOAP responses.

A response is untrusted input: a proxy, a captive portal or an attacker in the middle can send anything.
The parser therefore never resolves entities, never loads a DTD, never touches the network and keeps
libxml2's size limits (``huge_tree=False``); the caller caps the body size before parsing. A document
that declares a DTD at all is refused: the service never sends one, and an internal subset is how XXE
and billion-laughs payloads arrive.
"""

from __future__ import annotations

from lxml import etree

from airflow_provider_msads.client.errors import MalformedResponseError, UnsafeXmlError


def _parser() -> etree.XMLParser:
    # A parser per call: lxml parsers must not be shared between threads, and building one is cheap.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(content: bytes, *, operation: str, tracking_id: str | None = None) -> etree._Element:
    """Parse ``content`` safely and return the root element.

    A plain ``<!DOCTYPE html>`` is not refused here (an HTML error page is diagnosed by the caller from
    the HTTP status); entity declarations and external DTDs are.

    :raises UnsafeXmlError: the document declares entities or references an external DTD.
    :raises MalformedResponseError: empty, truncated or otherwise not well-formed XML.
    """
    if not content.strip():
        raise MalformedResponseError("empty response body", operation=operation, tracking_id=tracking_id)
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        if b"<!ENTITY" in content or (b"<!DOCTYPE" in content and "entity" in str(exc.msg).lower()):
            raise UnsafeXmlError(_UNSAFE, operation=operation, tracking_id=tracking_id) from None
        raise MalformedResponseError(
            f"response is not well-formed XML (truncated, or not XML at all): {exc.msg}",
            operation=operation,
            tracking_id=tracking_id,
        ) from None
    dtd = root.getroottree().docinfo.internalDTD
    # Any DTD is refused, except the bare ``<!DOCTYPE html>`` of an HTML error page without entities.
    if dtd is not None and (b"<!ENTITY" in content or local_name(str(root.tag)).lower() != "html"):
        raise UnsafeXmlError(_UNSAFE, operation=operation, tracking_id=tracking_id)
    return root


_UNSAFE = "response declares XML entities or an external DTD (XXE / entity expansion); refused unparsed"


def local_name(tag: str) -> str:
    """``{namespace}Name`` -> ``Name`` (faults and unknown namespaces are matched by local name)."""
    return tag.rpartition("}")[2]
