//! The OpenAPI 3.1 description of the REST API, served at
//! `/api/openapi.json`. Each route module describes its own paths and
//! schemas next to its code ([`crate::api::specs`]); this file assembles
//! them and holds the shared pieces.

use serde_json::{json, Map, Value};

/// The error responses every authenticated path can give.
pub(crate) fn problem_responses() -> Value {
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    json!({
        "401": {"description": "no or wrong credentials", "content": p},
        "404": {"description": "no such object", "content": p}
    })
}

/// A GET returning an array of `schema`.
pub(crate) fn list_of(schema: &str, summary: &str) -> Value {
    let mut responses = problem_responses();
    responses["200"] = json!({"description": summary,
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}}}}});
    json!({"get": {"summary": summary, "responses": responses}})
}

/// A GET by `{name}` returning one `schema`.
pub(crate) fn one_of(schema: &str, summary: &str) -> Value {
    let mut responses = problem_responses();
    responses["200"] = json!({"description": summary,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    json!({"get": {"summary": summary,
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": responses}})
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "required": ["type", "title", "status", "detail"],
            "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                           "status": {"type": "integer"}, "detail": {"type": "string"}}}),
    );
    for s in crate::api::specs() {
        for (k, v) in s.paths {
            // Two modules may describe methods of one path: merge them.
            match paths.get_mut(&k) {
                Some(Value::Object(existing)) => {
                    if let Value::Object(more) = v {
                        existing.extend(more);
                    }
                }
                _ => {
                    paths.insert(k, v);
                }
            }
        }
        schemas.extend(s.schemas);
    }
    // The console's login (crate::session_routes); cookie callers send
    // X-CSRF-Token on every change.
    let (session, session_schema) = crate::session_routes::spec();
    paths.insert("/api/v1/session".into(), session);
    schemas.insert("Session".into(), session_schema);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "vine manager API", "version": "1"},
        "security": [{"basic": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": "vine_session"},
                "joinToken": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas
        }
    })
}
