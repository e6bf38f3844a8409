"""The OpenAPI 3.1 document at /api/v1/openapi.json, and the docs page that renders it."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.integration.support import PASSWORD

UNDOCUMENTED = {"/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(spec: dict, ref: str):
    assert ref.startswith("#/"), f"only local references are used, got {ref}"
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _schema_validator(spec: dict, name: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for one component, resolving refs inside the document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                 "components": spec["components"]})


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    errors = list(OpenAPIV31SpecValidator(spec).iter_errors())
    assert errors == []


def test_every_api_route_is_documented(app, spec):
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.rule not in UNDOCUMENTED
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert routes
    assert routes - documented == set()
    assert {("/api/v1/auth/register", "post"), ("/api/v1/auth/token", "post"),
            ("/api/v1/me", "get"), ("/api/v1/doctors", "get"),
            ("/api/v1/doctors/{doctor_id}", "get")} <= documented


def test_every_reference_resolves(spec):
    refs = set(_refs(spec))

    assert refs
    for ref in refs:
        assert isinstance(_resolve(spec, ref), dict), ref


def test_errors_are_documented_as_problem_json(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (
                        path, method, status)


def test_security_is_declared_per_operation(spec):
    paths = spec["paths"]

    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "Token from POST /api/v1/auth/token."}
    assert {"bearerAuth": []} in paths["/api/v1/me"]["get"]["security"]
    assert "401" in paths["/api/v1/me"]["get"]["responses"]
    assert paths["/api/v1/auth/token"]["post"]["security"] == []
    assert paths["/api/v1/doctors"]["get"]["security"] == []


def test_path_and_query_parameters_are_described(spec):
    one = spec["paths"]["/api/v1/doctors/{doctor_id}"]["get"]
    listing = spec["paths"]["/api/v1/doctors"]["get"]

    assert one["parameters"] == [{"name": "doctor_id", "in": "path", "required": True,
                                  "schema": {"type": "string", "format": "uuid"}}]
    assert {p["name"] for p in listing["parameters"]} == {"specialty", "q", "page", "per_page"}
    assert all(p["in"] == "query" and not p["required"] for p in listing["parameters"])


def test_responses_match_the_documented_schemas(client, factory, spec):
    doctor = factory.create_doctor(name="Dr. Schema Check", hours=())
    patient = factory.create_patient()
    token = client.api_token(patient.email, PASSWORD)
    schemas = spec["paths"]

    def documented(path, method, status):
        ref = schemas[path][method]["responses"][status]["content"]
        return next(iter(ref.values()))["schema"]["$ref"].rsplit("/", 1)[1]

    cases = [
        (client.get("/api/v1/doctors"), "/api/v1/doctors", "200"),
        (client.get(f"/api/v1/doctors/{doctor.id}"), "/api/v1/doctors/{doctor_id}", "200"),
        (client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
         "/api/v1/me", "200"),
        (client.get("/api/v1/me"), "/api/v1/me", "401"),
        (client.get("/api/v1/doctors?per_page=0"), "/api/v1/doctors", "422"),
        (client.post("/api/v1/auth/register", json={"name": "x"}), "/api/v1/auth/register",
         "422"),
    ]
    for response, path, status in cases:
        assert str(response.status_code) == status
        validator = _schema_validator(spec, documented(path, "get" if "register" not in path
                                                       else "post", status))
        assert list(validator.iter_errors(response.get_json())) == [], (path, status)


def test_the_docs_page_renders_the_document(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<h1>API documentation</h1>" in body
    assert 'id="swagger-ui" data-spec-url="/api/v1/openapi.json"' in body
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', body):
        assert client.get(asset).status_code == 200, asset
