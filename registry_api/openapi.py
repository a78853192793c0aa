"""The OpenAPI 3.1 document and its HTML reference page, both built from the operation table."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from registry_api.http import API_PREFIX, Op
from registry_api.problems import PROBLEM_JSON
from registry_api.schema import COMPONENTS

PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "code": {"type": "string"}, "instance": {"type": "string"}, "params": {"type": "object"},
    },
    "required": ["type", "title", "status", "code"],
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _operation(op: Op) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": p.name, "in": "path", "required": True, "schema": p.schema, "description": p.description}
        for p in op.path_params
    ]
    params += [{"name": p.name, "in": "query", "required": p.required, "schema": p.schema,
                "description": p.description} for p in op.all_query()]
    if op.method == "POST":
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 120},
                       "description": "a repeated request with the same key returns the first answer"})
    if op.if_match:
        params.append({"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
                       "description": "the ETag of the version being changed"})
    responses: dict[str, Any] = {
        str(op.status): {"description": "OK", "content": {"application/json": {"schema": op.response}},
                         "headers": {"ETag": {"schema": {"type": "string"}}}},
        "400": _problem("malformed request"),
        "401": _problem("missing, unknown, revoked or expired key"),
        "403": _problem("the client's role may not do this"),
        "404": _problem("not found"),
        "409": _problem("conflicts with the registry's state"),
        "422": _problem("invalid input"),
        "429": _problem("rate limited (see Retry-After)"),
        "503": _problem("the database is busy: nothing was applied; send again after Retry-After"),
    }
    if op.body is not None:
        responses["413"] = _problem("body too large")
        responses["415"] = _problem("body is not JSON")
    if op.if_match:
        responses["412"] = _problem("the If-Match version is stale")
        responses["428"] = _problem("If-Match is required")
    out: dict[str, Any] = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "description": (op.handler.__doc__ or "").strip() + f"\n\nPermission: `{op.permission}`.",
        "parameters": params, "responses": responses, "security": [{"bearer": []}],
    }
    if op.body is not None:
        out["requestBody"] = {"required": not op.body_optional, "content": {"application/json": {"schema": op.body}}}
    return out


def document(ops: Sequence[Op]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SPSR registry API", "version": "1",
            "description": "The Social Protection Single Registry's API for agencies, the hotline, operators "
                           "and auditors. Errors are RFC 9457 problem+json with a stable `type` per reason "
                           "code; titles follow Accept-Language (uz, kaa, ru).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {**COMPONENTS, "Problem": PROBLEM},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _code(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def reference_page(doc: dict[str, Any]) -> str:
    """Plain HTML, no scripts and nothing fetched from elsewhere."""
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>{html.escape(doc['info']['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "pre{background:#f4f4f4;padding:.5em;overflow:auto}h3{border-top:1px solid #ccc;padding-top:1em}"
        "code.m{font-weight:bold}</style>",
        f"<h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])}</p>",
        "<p>Machine-readable: <a href=/v1/openapi.json>/v1/openapi.json</a>. "
        "Authenticate with <code>Authorization: Bearer &lt;key&gt;</code>.</p><h2>Operations</h2><ul>",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<li><a href='#{op['operationId']}'><code class=m>{method.upper()}</code> "
                         f"<code>{html.escape(path)}</code></a> — {html.escape(op['summary'])}</li>")
    parts.append("</ul>")
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h3 id='{op['operationId']}'><code class=m>{method.upper()}</code> "
                         f"<code>{html.escape(path)}</code></h3><p>{html.escape(op['description'])}</p>")
            if op["parameters"]:
                parts.append("<table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>")
                for p in op["parameters"]:
                    parts.append(f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                                 f"<td>{'yes' if p['required'] else ''}</td>"
                                 f"<td><code>{html.escape(json.dumps(p['schema']))}</code></td></tr>")
                parts.append("</table>")
            if "requestBody" in op:
                parts.append("<p>Body:</p>" + _code(op["requestBody"]["content"]["application/json"]["schema"]))
            parts.append("<p>Responses: " + ", ".join(html.escape(s) for s in op["responses"]) + "</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        parts.append(f"<h3 id='schema-{name}'>{html.escape(name)}</h3>" + _code(schema))
    return "".join(parts) + "</html>"
