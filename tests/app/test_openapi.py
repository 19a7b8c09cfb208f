"""The OpenAPI document (issue 15 item 2): typed responses and documented errors everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from server.http.app import create_app
from tests.conftest import Court, make_settings


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.rsplit("/", 1)[-1]
    resolved: dict[str, Any] = doc["components"]["schemas"][name]
    return resolved


def test_every_operation_has_a_typed_success_response(court: Court) -> None:
    doc = court.client.get("/openapi.json").json()
    ops = _operations(doc)
    assert len(ops) >= 59
    untyped = []
    for method, path, op in ops:
        ok = {k: v for k, v in op["responses"].items() if k.startswith("2")}
        assert ok, (method, path)
        for response in ok.values():
            for media, content in response.get("content", {}).items():
                schema = _resolve(doc, content.get("schema", {}))
                typed = schema.get("type") == "string" or bool(schema.get("properties"))
                if not typed:
                    untyped.append((method, path, media, schema))
    assert untyped == []


def test_every_api_operation_documents_its_errors(court: Court) -> None:
    doc = court.client.get("/openapi.json").json()
    error_shapes = {"ErrorBody", "ValidationErrorBody"}
    for method, path, op in _operations(doc):
        if not path.startswith("/api/"):
            continue
        errors = {k: v for k, v in op["responses"].items() if k[0] in "45"}
        takes_input = bool(op.get("parameters") or op.get("requestBody"))
        assert "401" in errors or path == "/api/auth/login", (method, path)
        assert "422" in errors or not takes_input, (method, path)
        for status, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in error_shapes, (method, path, status)
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"detail", "code"}


def test_ids_are_constrained_in_the_document(court: Court) -> None:
    doc = court.client.get("/openapi.json").json()
    params = {
        p["name"]: p["schema"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if isinstance(op, dict)
        for p in op.get("parameters", [])
        if p["in"] == "path"
    }
    assert params["tid"]["minimum"] == 1 and params["tid"]["maximum"] == 2**31 - 1
    assert params["session_id"]["pattern"].startswith("^[0-9a-fA-F]{8}-")
    assert params["turn_id"]["pattern"] == params["round_id"]["pattern"]


def test_integer_ids_beyond_64_bits_are_422_not_500(court: Court) -> None:
    huge = str(2**70)
    for path in (f"/api/tournaments/{huge}", f"/api/tournaments/{huge}/teams"):
        r = court.get(path, "admin")
        assert r.status_code == 422 and r.json()["code"] == "bad_request", r.text
    r = court.post(f"/api/tournaments/{huge}/events", "admin", json={"name": "x"})
    assert r.status_code == 422
    r = court.get(
        "/api/tournaments/1/schedule/conflicts", "admin", params={"schedule_version_id": huge}
    )
    assert r.status_code == 422
    assert court.get("/api/tournaments/2147483647", "admin").status_code == 404  # largest id
    r = court.get(
        f"/api/session/{'0' * 8}-0000-4000-8000-{'0' * 12}/logs", params={"from_sequence": huge}
    )
    assert r.status_code == 422


def test_405_names_every_method_of_the_path(court: Court) -> None:
    r = court.client.delete("/api/tournaments")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert r.json()["code"] == "bad_request"
    r = court.get("/api/session/create")  # a fixed path, not a session id
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_an_unexpected_error_is_500_and_stops_there(tmp_path: Path) -> None:
    """A bug answers 500 {detail, code} and does not escape the app (uvicorn would then
    close the keep-alive connection under the client's next request)."""
    app = create_app(make_settings(tmp_path))

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    # raise_server_exceptions: the test client re-raises anything that leaves the app.
    with TestClient(app, raise_server_exceptions=True) as client:
        for _ in range(2):
            r = client.get("/boom")
            assert r.status_code == 500
            assert r.json() == {"detail": "internal error", "code": "internal"}
        assert client.get("/healthz").status_code == 200


def test_unstorable_free_form_json_is_422_and_writes_nothing(court: Court) -> None:
    sid = court.new_session()
    before = court.get("/api/session/list").json()["count"]
    head = court.get(f"/api/session/{sid}").json()["head"]["sequence_number"]
    bad = [
        b'{"a": 123456789012345678901234567890}',  # beyond 64 bits
        b'{"a": "\\ud800"}',  # a lone surrogate
        b'{"a":' * 300 + b"1" + b"}" * 300,  # deeper than the encoder goes
    ]
    h = {**court.h("judge"), "Content-Type": "application/json"}
    for obj in bad:
        for path, body in (
            ("/api/session/create", b'{"title": "x", "metadata": ' + obj + b"}"),
            (f"/api/session/{sid}/log", b'{"event_type": "NOTE", "details": ' + obj + b"}"),
            (
                f"/api/session/{sid}/join",
                b'{"role": "petitioner", "speaker": 1, "client_info": ' + obj + b"}",
            ),
        ):
            r = court.client.post(path, content=body, headers=h)
            assert r.status_code == 422, (path, r.text)
            assert isinstance(r.json()["detail"], str) and r.json()["code"] == "bad_request"
    assert court.get("/api/session/list").json()["count"] == before
    assert court.get(f"/api/session/{sid}").json()["head"]["sequence_number"] == head
