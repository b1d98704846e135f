//! The OpenAPI 3.1 description of the REST API, served at
//! `/api/openapi.json`; kept next to the routes it describes.

use serde_json::{json, Value};

fn problem_responses() -> Value {
    json!({
        "401": {"description": "no or wrong credentials",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        "404": {"description": "no such object",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    })
}

fn list_of(schema: &str, summary: &str) -> Value {
    let mut responses = problem_responses();
    responses["200"] = json!({"description": summary,
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}}}}});
    json!({"get": {"summary": summary, "responses": responses}})
}

fn one_of(schema: &str, summary: &str) -> Value {
    let mut responses = problem_responses();
    responses["200"] = json!({"description": summary,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    json!({"get": {"summary": summary,
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": responses}})
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "vine manager API", "version": "1"},
        "security": [{"basic": []}],
        "paths": {
            "/api/v1/hosts": list_of("Host", "every host"),
            "/api/v1/hosts/{name}": one_of("Host", "one host"),
            "/api/v1/hosts/{name}/vms": {
                "get": {"summary": "the VMs of one host",
                    "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "the VMs of one host",
                        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Vm"}}}}},
                        "404": {"description": "no such host"}}}
            },
            "/api/v1/vms": list_of("Vm", "every VM"),
            "/api/v1/vms/{name}": one_of("Vm", "one VM")
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
                    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                   "status": {"type": "integer"}, "detail": {"type": "string"}}},
                "Host": {"type": "object", "required": ["name", "url", "health"],
                    "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                        "prefix": {"type": ["string", "null"]}, "system_name": {"type": ["string", "null"]},
                        "health": {"enum": ["Unknown", "Up", "Unreachable"]},
                        "last_seen": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]}}},
                "Vm": {"type": "object", "required": ["name", "host", "state"],
                    "properties": {"name": {"type": "string"}, "host": {"type": "string"},
                        "uuid": {"type": ["string", "null"]},
                        "state": {},
                        "vcpus": {"type": ["integer", "null"]}, "memory_mib": {"type": ["integer", "null"]}}}
            }
        }
    })
}
