"""What a company may register as an action: a JSON Schema of parameters the bot can extract,
a URL whose placeholders only fill its path or query, and request headers that stay secret."""

from __future__ import annotations

import json
import re
import string
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from helpdeck.errors import InvalidInput
from helpdeck.safe_http import UnsafeUrl, check_url

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_PROPERTIES = 20
MAX_SCHEMA_BYTES = 16 * 1024
MAX_HEADERS = 20
PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# Set by the HTTP client itself; a company header must not steer the connection.
RESERVED_HEADERS = {
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
    "proxy-authorization", "proxy-connection", "expect", "idempotency-key",
}


class InvalidParameters(InvalidInput):
    code = "action_parameters_invalid"


def check_parameters(schema: dict) -> dict:
    """A JSON Schema object with named properties; raises InvalidParameters saying what is wrong."""
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise InvalidParameters(f"the parameters schema is larger than {MAX_SCHEMA_BYTES} bytes", field="parameters")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "parameters"
        raise InvalidParameters(f"not a valid JSON Schema at {where}: {exc.message}", field="parameters") from None
    if any(not ref.startswith("#") for ref in _refs(schema)):
        raise InvalidParameters("only local references ($ref: #/...) are allowed", field="parameters")
    if schema.get("type", "object") != "object":
        raise InvalidParameters('the parameters schema must describe an object ("type": "object")', field="parameters")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict) or len(properties) > MAX_PROPERTIES:
        raise InvalidParameters(f"give at most {MAX_PROPERTIES} properties", field="parameters")
    for name, prop in properties.items():
        if not PROPERTY_NAME.match(name):
            raise InvalidParameters(f"property name {name!r} must be a plain identifier", field="parameters")
        if not isinstance(prop, dict):
            raise InvalidParameters(f"property {name!r} must be a schema object", field="parameters")
        if "pattern" in prop:
            try:
                re.compile(prop["pattern"])
            except re.error as exc:
                raise InvalidParameters(f"property {name!r}: bad pattern ({exc})", field="parameters") from None
    missing = [r for r in schema.get("required", []) if r not in properties]
    if missing:
        raise InvalidParameters(f"required names unknown properties: {missing}", field="parameters")
    return schema


def _refs(node: object) -> list[str]:
    """Every $ref and $dynamicRef in a schema: a remote one would make extraction fetch it."""
    if isinstance(node, dict):
        found = [str(v) for k, v in node.items() if k in ("$ref", "$dynamicRef")]
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def placeholders(url: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(url) if field is not None]


def probe_url(url: str) -> str:
    """The URL with every placeholder filled by a harmless value, to check the rest of it."""
    return re.sub(r"\{[^{}]*\}", "x", url)


async def check_action_url(url: str, schema: dict, allow_private: bool) -> None:
    """Placeholders name properties and stay out of scheme and host; the target is SSRF-checked."""
    try:
        names = placeholders(url)
    except ValueError:
        raise InvalidInput("unbalanced braces in the URL", code="action_url_invalid", field="url") from None
    unknown = [n for n in names if n not in schema.get("properties", {})]
    if unknown:
        raise InvalidInput(f"URL placeholders {unknown} are not parameters", code="action_url_invalid", field="url")
    try:
        raw = urlsplit(url)
    except ValueError:
        raise InvalidInput("not a valid URL", code="action_url_invalid", field="url") from None
    if "{" in raw.scheme or "{" in raw.netloc or "}" in raw.netloc:
        raise InvalidInput(
            "placeholders may fill the URL's path or query, never its scheme or host",
            code="action_url_invalid",
            field="url",
        )
    try:
        await check_url(probe_url(url), allow_private)
    except UnsafeUrl as exc:
        # Same rules as webhooks, with the actions' own stable codes.
        code = exc.code.replace("webhook_", "action_")
        raise InvalidInput(exc.detail.replace("webhook", "action"), code=code, field="url") from None


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} headers", code="action_header_invalid", field="headers")
    for name, value in headers.items():
        if not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise InvalidInput(f"header {name!r} cannot be set", code="action_header_invalid", field="headers")
        if not isinstance(value, str) or len(value) > 4096 or any(c in value for c in "\r\n\0"):
            raise InvalidInput(f"header {name!r} has a bad value", code="action_header_invalid", field="headers")
    return headers


def mask(value: str) -> str:
    """What listings show of a header value: enough to tell two keys apart, never the key."""
    return "****" + value[-4:] if len(value) >= 16 else "****"
