"""Shared plumbing of the JSON API under /api/v1: input parsing, responses, OpenAPI.
(Bearer authentication is the auth domain's: `portal.auth.bearer`.)

Each domain keeps its routes in its own `api.py` blueprint, nested under `bp` here. Routes
describe themselves with `@operation(...)`; `/api/v1/openapi.json` is assembled from those
descriptions and the pydantic models, so the document cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time
from typing import Annotated, Any, TypeVar

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic.json_schema import models_json_schema

from portal.errors import PROBLEM_JSON
from portal.exceptions import DomainError


class _ApiBlueprint(Blueprint):
    """The /api/v1 blueprint, which each `create_app` nests the domain APIs into.

    Nesting happens once per process: a second app (tests, a CLI next to a server) nests the
    same domain blueprints again, which is a no-op instead of Flask's "already registered" error.
    """

    def register_blueprint(self, blueprint: Blueprint, **options: Any) -> None:
        if any(nested is blueprint for nested, _ in self._blueprints):
            return
        super().register_blueprint(blueprint, **options)


bp = _ApiBlueprint("api", __name__, url_prefix="/api/v1")

M = TypeVar("M", bound=BaseModel)


class ApiModel(BaseModel):
    """Base for request bodies: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProblemError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the fields at fault in `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemError] | None = None


class Money(BaseModel):
    amount: int = Field(description="Integer amount in the currency's minor unit (paise).")
    currency: str = Field(default="INR", description="ISO 4217 code.")


def _wall_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("Give a local wall time such as 09:30, without a UTC offset.")
    return value


def in_calendar(value: date) -> date:
    # Python's datetime stops at years 1 and 9999: an instant near either end cannot be moved to
    # UTC or another zone, or have days added, without an OverflowError (a 500).
    if not 1900 <= value.year <= 9000:
        raise ValueError("Use a date between the years 1900 and 9000.")
    return value


# An instant with its UTC offset that the portal can compute with.
Instant = Annotated[AwareDatetime, AfterValidator(in_calendar)]


# A doctor's schedule is local wall time plus the doctor's zone. JSON Schema's "time" format
# is RFC 3339's full-time, which requires an offset, so the document states the real shape.
WallTime = Annotated[time, AfterValidator(_wall_time), WithJsonSchema({
    "type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
    "description": "Local wall time, HH:MM or HH:MM:SS, without an offset", "examples": ["09:30"]})]


# --- input and output ----------------------------------------------------------------------


class BadBody(DomainError):
    status = 400
    title = "Malformed request body"


def parse_body(model: type[M]) -> M:
    """Validate the JSON body against `model` (422 naming each field at fault)."""
    data = request.get_json(silent=True)
    if data is None:
        raise BadBody("Send a JSON object with Content-Type: application/json.", "body")
    if not isinstance(data, dict):
        raise BadBody("The body must be a JSON object.", "body")
    return model.model_validate(data)


def parse_query(model: type[M]) -> M:
    """Validate query-string parameters against `model`."""
    return model.model_validate(request.args.to_dict())


def respond(payload: BaseModel, status: int = 200):
    response = jsonify(payload.model_dump(mode="json"))
    response.status_code = status
    return response


# --- OpenAPI -------------------------------------------------------------------------------


def operation(
    summary: str,
    *,
    tags: tuple[str, ...] = (),
    body: type[BaseModel] | None = None,
    files: dict[str, str] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    auth: bool = True,
    errors: tuple[int, ...] = (),
    description: str | None = None,
) -> Callable:
    """Describe a route for the OpenAPI document; the view itself is unchanged.

    `body` is a JSON body; `files` instead names the file fields of a multipart/form-data body
    (each required), with a description of each.
    """

    def decorator(view: Callable) -> Callable:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary, "tags": tags, "body": body, "files": files, "query": query,
            "response": response, "status": status, "auth": auth, "errors": errors,
            "description": description or (view.__doc__ or "").strip() or None,
        }
        return view

    return decorator


def _rule_path(rule) -> tuple[str, list[dict]]:
    path, params = rule.rule, []
    for name, converter in rule._converters.items():
        schema: dict = {"type": "string"}
        kind = type(converter).__name__
        if kind == "UUIDConverter":
            schema["format"] = "uuid"
        elif kind == "IntegerConverter":
            schema = {"type": "integer"}
        # <name>, <uuid:name>, <path:name>... all become {name}
        path = re.sub(r"<(?:\w+:)?" + re.escape(name) + ">", "{" + name + "}", path)
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return path, params


def _multipart_schema(files: dict[str, str]) -> dict:
    """A multipart/form-data body of files (OpenAPI 3.1 spells "binary" as contentMediaType)."""
    return {"type": "object", "required": list(files), "properties": {
        name: {"type": "string", "contentMediaType": "application/octet-stream",
               "description": text} for name, text in files.items()}}


def build_openapi() -> dict:
    """Assemble the OpenAPI 3.1 document from the routes described with `operation`."""
    operations = []
    models: set[type[BaseModel]] = {Problem}
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions.get(rule.endpoint)
        meta = getattr(view, "openapi", None)
        if meta is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((rule, method, meta))
        models.update(m for m in (meta["body"], meta["response"]) if m is not None)

    ordered = sorted(models, key=lambda m: m.__name__)
    schema_map, defs = models_json_schema(
        [(m, "validation") for m in ordered], ref_template="#/components/schemas/{model}"
    )
    components = dict(defs.get("$defs", {}))
    refs = {m: schema_map[(m, "validation")]["$ref"] for m in ordered}

    paths: dict = {}
    error_content = {PROBLEM_JSON: {"schema": {"$ref": refs[Problem]}}}
    for rule, method, meta in operations:
        path, params = _rule_path(rule)
        op: dict = {"summary": meta["summary"], "operationId": f"{rule.endpoint}.{method.lower()}"}
        if meta["description"]:
            op["description"] = meta["description"]
        if meta["tags"]:
            op["tags"] = list(meta["tags"])
        if meta["query"] is not None:
            query_schema = meta["query"].model_json_schema()
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required,
                               "schema": prop})
        if params:
            op["parameters"] = params
        if meta["body"] is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": refs[meta["body"]]}}}}
        if meta["files"]:
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {
                "schema": _multipart_schema(meta["files"])}}}
        ok: dict = {"description": "Success"}
        if meta["response"] is not None:
            ok["content"] = {"application/json": {"schema": {"$ref": refs[meta["response"]]}}}
        responses = {str(meta["status"]): ok}
        # On every route: 400, a request can always be malformed (NUL characters anywhere, a
        # body that is not JSON, a cookie session's missing CSRF token); 401, a bearer token
        # that is expired or wrong is refused even where none is needed.
        statuses = set(meta["errors"]) | {400, 401} | ({403} if meta["auth"] else set())
        if meta["body"] is not None or meta["query"] is not None or meta["files"]:
            statuses.add(422)
        for code in sorted(statuses):
            responses[str(code)] = {"description": _ERROR_TEXT.get(code, "Error"),
                                    "content": error_content}
        op["responses"] = responses
        op["security"] = [{"bearerAuth": []}, {"cookieSession": []}] if meta["auth"] else []
        paths.setdefault(path, {})[method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{current_app.config['CLINIC_NAME']} API",
            "version": "1.0.0",
            "description": "Book doctor consultations. Times are ISO 8601 with offsets; money "
                           "is integer paise with a currency; ids are UUIDs. Errors are "
                           "application/problem+json naming the fields at fault.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "Token from POST /api/v1/auth/token."},
                "cookieSession": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


_ERROR_TEXT = {
    400: "Malformed request", 401: "Not authenticated (or a bad bearer token)",
    403: "Not allowed",
    404: "Not found", 409: "Conflict with the current state",
    413: "The request body is too large", 422: "Invalid input", 429: "Too many requests",
}


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of every /api/v1 route."""
    cache = current_app.extensions.setdefault("openapi_cache", {})
    if "doc" not in cache:
        cache["doc"] = build_openapi()
    return jsonify(cache["doc"])


@bp.get("/docs")
def docs_page():
    """Interactive API documentation (Swagger UI, served from our own static files)."""
    return render_template("api/docs.html", spec_url=url_for("api.openapi_document"))
