"""The OpenAPI document as served: a valid OpenAPI 3.1 document (every reference resolves), one
feature tag per operation with every tag listed and described, the error statuses every
operation can answer, and the limits the API enforces stated where the API enforces them."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from server.rules import fields
from tests.conftest import Api

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _document(api: Api) -> dict[str, Any]:
    r = api.call("GET", "/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()  # type: ignore[no-any-return]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_the_document_validates_and_every_reference_resolves(api: Api) -> None:
    doc = _document(api)
    validate(doc)  # raises on an invalid document, dangling references included
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    audits = [
        op["responses"]["200"]["content"]["application/json"]["schema"]
        for m, p, op in _operations(doc)
        if p in ("/api/v1/admin/audit", "/api/v1/sites/{site}/audit")
    ]
    assert len(audits) == 2


def test_every_operation_has_one_feature_tag_and_every_tag_is_described(api: Api) -> None:
    doc = _document(api)
    listed = {t["name"]: t.get("description", "") for t in doc["tags"]}
    used = set()
    for method, path, op in _operations(doc):
        assert len(op["tags"]) == 1, (method, path, op["tags"])
        assert op["tags"][0] in listed, (method, path, op["tags"])
        used.add(op["tags"][0])
    assert used == set(listed), ("listed but unused", set(listed) - used)
    for name, text in listed.items():
        assert text.strip() and "\n" not in text, name
    assert {"tickets", "counters", "dossiers", "supervision", "admin"} <= used
    assert not {"public", "supervisor", "config"} & used


def test_every_operation_documents_its_errors_with_the_error_body(api: Api) -> None:
    doc = _document(api)
    for method, path, op in _operations(doc):
        statuses = {int(s) for s in op["responses"]}
        assert {400, 404, 413, 422, 429, 503} <= statuses, (method, path)
        if op["security"]:
            assert {401, 403} <= statuses, (method, path)
        for s in statuses:
            if s >= 400:
                schema = op["responses"][str(s)]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, s)
    reprint = doc["paths"]["/api/v1/tickets/{ticket_id}/reprint"]["post"]
    assert {"409", "422"} <= set(reprint["responses"])
    error = doc["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message"}



def test_the_document_states_the_limits_the_api_enforces(api: Api) -> None:
    schemas = _document(api)["components"]["schemas"]
    site = schemas["SiteAdminIn"]["properties"]
    code = site["code"]["anyOf"][0]
    assert code["pattern"] == fields.CODE.pattern and code["maxLength"] == fields.CODE_MAX
    assert site["kind"]["anyOf"][0]["enum"] == ["province", "centre", "point"]
    service = schemas["ServiceAdminIn"]["properties"]
    assert service["prefix"]["anyOf"][0]["pattern"] == fields.PREFIX.pattern
    sla = service["sla_target_minutes"]["anyOf"][0]
    assert (sla["minimum"], sla["maximum"]) == fields.SLA_MINUTES[:2]
    counter = schemas["CounterAdminIn"]["properties"]["number"]["anyOf"][0]
    assert (counter["minimum"], counter["maximum"]) == fields.COUNTER_NUMBER[:2]
    user = schemas["UserAdminIn"]["properties"]["role"]["anyOf"][0]
    assert user["enum"] == ["admin", "supervisor", "clerk"]
