"""Checks request bodies against Mailchimp's official OpenAPI file, as the live API checks them.

The 5 MB file ships in the repo (``specs/mailchimp/marketing-api.json``, provenance in
``specs/mailchimp/README.md``) and is read once, lazily; ``CONNECTOR_MAILCHIMP_OPENAPI`` points at
another copy (an installed package has no ``specs/``). If neither exists, validation is skipped
with one warning. Quirks handled (see the spec
README, "Known gaps and quirks"): request bodies may be ``$ref``s to ``components/requestBodies``;
``notify_on_subscribe``/``notify_on_unsubscribe`` are ``type: string`` with ``default: false``
(defaults are not validated, so harmless here).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

log = logging.getLogger(__name__)

ENV_VAR = "CONNECTOR_MAILCHIMP_OPENAPI"
_REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PATHS = (_REPO_ROOT / "specs" / "mailchimp" / "marketing-api.json",)
_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
    "null": "NULL",
}


def spec_path() -> Path | None:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    return next((p for p in DEFAULT_PATHS if p.is_file()), None)


class RequestValidator:
    """Finds the operation of a request and checks its JSON body against the requestBody schema."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._loaded = False
        self._operations: list[tuple[re.Pattern[str], str, dict[str, Any]]] = []
        self._validators: dict[tuple[str, str], Draft4Validator] = {}
        self.available = False

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            path = self._path or spec_path()
            if path is None:
                log.warning(
                    "Mailchimp OpenAPI file not found (set %s); request bodies are not validated",
                    ENV_VAR,
                )
                return
            self._operations = _operations(str(path.resolve()))
            self.available = True

    def schema_for(self, method: str, api_path: str) -> dict[str, Any] | None:
        self._load()
        for pattern, op_method, schema in self._operations:
            if op_method == method and pattern.match(api_path):
                return schema
        return None

    def errors(self, method: str, api_path: str, body: Any) -> list[dict[str, str]]:
        """Mailchimp-style ``errors`` entries for the body; empty when it is valid (or unknown)."""
        schema = self.schema_for(method, api_path)
        if schema is None:
            return []
        key = (method, str(id(schema)))
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = Draft4Validator(schema)
        found = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        return [_as_mailchimp_error(error) for error in found]


def _as_mailchimp_error(error: ValidationError) -> dict[str, str]:
    field = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else ""
        return {
            "field": f"{field}.{name}" if field else name,
            "message": f"Required fields were not provided: {name}",
        }
    if error.validator == "type":
        expected = error.validator_value
        expected = expected[0] if isinstance(expected, list) else expected
        return {
            "field": field,
            "message": f"Schema describes {_TYPE_NAMES.get(expected, expected)}, "
            f"{_json_type(error.instance)} found instead",
        }
    if error.validator == "enum":
        return {"field": field, "message": "Data isn't one of the allowed values."}
    if error.validator in ("anyOf", "oneOf"):
        return {
            "field": field,
            "message": "Data did not match any of the schemas described in anyOf.",
        }
    return {"field": field, "message": error.message}


def _json_type(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@functools.lru_cache(maxsize=2)
def _operations(path: str) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    """(path pattern, method, requestBody schema) of every operation; parsed once per file."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    bodies = document.get("components", {}).get("requestBodies", {})
    operations = []
    for template, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "/?$")
        for method, operation in item.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            if "$ref" in body:
                body = bodies.get(body["$ref"].rsplit("/", 1)[-1], {})
            schema = body.get("content", {}).get("application/json", {}).get("schema")
            if schema:
                operations.append((pattern, method.upper(), schema))
    # literal segments first, so a parameter never shadows a fixed name at the same place
    operations.sort(key=lambda op: op[0].pattern.count("[^/]+"))
    log.info("Mailchimp OpenAPI loaded from %s", path)
    return operations
