"""schemathesis hooks for tests/api/test_schemathesis.py (``SCHEMATHESIS_HOOKS``)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def positive_data_passes_field_validation(ctx: Any, response: Any, case: Any) -> None:
    """A request the schema calls valid must pass the server's field validation.

    The built-in positive_data_acceptance check accepts 422 here because domain rules
    answer 422 too (schemathesis.toml); this one tells them apart: field validation
    answers with a list of problems in ``detail``, a domain rule with a sentence.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    if str(meta.phase.name) == "stateful":
        # A link fills a parameter from an earlier response, and a null there arrives as the
        # text "None": a value the schema never promised, so not a disagreement.
        return
    try:
        detail = response.json().get("detail")
    except ValueError:
        return
    if isinstance(detail, list):
        raise AssertionError(f"schema-valid input failed field validation: {detail}")


@schemathesis.check
def error_body_has_detail_and_code(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx JSON answer is ``{detail, code}`` (the one error shape)."""
    if response.status_code < 400:
        return
    ctype = response.headers.get("content-type") or response.headers.get("Content-Type") or ""
    if isinstance(ctype, list):
        ctype = ctype[0] if ctype else ""
    if not str(ctype).startswith("application/json"):
        return
    body = response.json()
    if not (isinstance(body, dict) and "detail" in body and isinstance(body.get("code"), str)):
        raise AssertionError(f"error body without detail and code: {body!r}")
