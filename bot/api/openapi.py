"""The API's OpenAPI 3.1 document, built from the same pydantic models that validate requests.

Starlette has no schema generator of its own (FastAPI's is what the issue had in mind); the request body is
the one part worth generating, since it carries every limit, and the rest is short enough to state here.
Served at ``GET /v1/openapi.json`` without credentials: it describes the contract, nothing of this daemon.
"""

from __future__ import annotations

from typing import Any

from linecall.bot.api.models import CallRequest

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": reason, "content": {"application/json": {"schema": _ERROR}}}
        for status, reason in (
            (400, "a header or field is missing or invalid (`field` names it)"),
            (401, "missing or wrong Basic credentials"),
            (403, "the service id is not LINE_API_SERVICE_ID"),
            (404, "unknown sid or contentId"),
            (409, "the source is used by a queued or live call"),
            (413, "the upload is larger than LINE_API_SOURCE_MAX_BYTES"),
            (429, "more than 100 requests per second"),
            (503, "CALL_CAPACITY, CALLEE_BUSY, STORAGE_DISABLED or API_DISABLED"),
        )
        if status in statuses
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    body = CallRequest.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    definitions = body.pop("$defs", {})
    source = {
        "type": "object",
        "properties": {
            "contentId": {"type": "string", "pattern": "^[0-9a-f]{12}$"},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "duration": {"type": "number", "description": "seconds"},
            "sampleRate": {"type": "integer"},
            "channels": {"type": "integer"},
            "sampleFormat": {"type": "string"},
            "createdAt": {"type": "integer", "description": "epoch milliseconds"},
        },
    }
    path_params = [
        {"name": "to-serviceId", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "to-userId",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^u[0-9a-f]{32}$"},
        },
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linecall Audio Caller API",
            "version": "1",
            "description": "LINE Planet's Make Agent 1-to-1 Call, served by linecall from its own LINE account. "
            "GET /tas/v2/agt_call/{sid} and /v1/sources are linecall extensions.",
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                **definitions,
                "CallRequest": body,
                "Source": source,
                "Error": {
                    "type": "object",
                    "required": ["status", "code", "message", "timestamp"],
                    "properties": {
                        "status": {"const": "error"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                        "timestamp": {"type": "integer"},
                    },
                },
            },
        },
        "security": [{"basic": []}],
        "paths": {
            "/tas/v2/agt_call/audio_caller/{to-serviceId}/{to-userId}": {
                "post": {
                    "summary": "Make Agent 1-to-1 Call",
                    "parameters": path_params,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/CallRequest"}}
                        },
                    },
                    "responses": {
                        "200": _json(
                            "queued",
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"const": "success"},
                                    "data": {
                                        "type": "object",
                                        "properties": {"sid": {"type": "string", "format": "uuid"}},
                                    },
                                    "timestamp": {"type": "integer"},
                                },
                            },
                        ),
                        **_errors(400, 401, 403, 429, 503),
                    },
                }
            },
            "/tas/v2/agt_call/{sid}": {
                "get": {
                    "summary": "The call's history (linecall extension)",
                    "parameters": [
                        {"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "states, result, release, callbacks"},
                        **_errors(401, 404, 429),
                    },
                }
            },
            "/v1/sources": {
                "get": {
                    "summary": "Stored sources",
                    "responses": {
                        "200": _json(
                            "all",
                            {
                                "type": "object",
                                "properties": {
                                    "sources": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Source"},
                                    }
                                },
                            },
                        ),
                        **_errors(401, 429),
                    },
                },
                "post": {
                    "summary": "Upload a WAV (raw body, name in ?name=, or multipart field 'file')",
                    "requestBody": {
                        "content": {
                            "audio/wav": {"schema": {"type": "string", "format": "binary"}},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            },
                        }
                    },
                    "responses": {
                        "201": _json("stored", {"$ref": "#/components/schemas/Source"}),
                        **_errors(400, 401, 413, 429, 503),
                    },
                },
            },
            "/v1/sources/{contentId}": {
                "parameters": [
                    {"name": "contentId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "responses": {
                        "200": _json("one", {"$ref": "#/components/schemas/Source"}),
                        **_errors(401, 404, 429),
                    }
                },
                "delete": {"responses": {"200": {"description": "deleted"}, **_errors(401, 404, 409, 429)}},
            },
        },
    }
