//! JSON Schema (draft 2020-12) of the policy file, for editors. A unit
//! test keeps it in step with the parser.

/// The JSON Schema of a vine policy file, as published by
/// `vine policy schema`.
pub fn policy_schema() -> &'static str {
    SCHEMA
}

const SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://vine.invalid/schemas/policy.json",
  "title": "vine policy",
  "type": "object",
  "additionalProperties": false,
  "required": ["name"],
  "$defs": {
    "fraction": { "type": "number", "minimum": 0, "maximum": 1 },
    "band": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "upper": { "$ref": "#/$defs/fraction", "description": "above this a host is overloaded" },
        "lower": { "$ref": "#/$defs/fraction", "description": "below this a host may be drained" }
      }
    },
    "predictor": { "enum": ["last-value", "moving-average", "linear-regression", "loess", "ar1"] },
    "group": { "type": "array", "items": { "type": "string" }, "minItems": 2, "uniqueItems": true }
  },
  "properties": {
    "name": { "type": "string", "minLength": 1 },
    "description": { "type": "string" },
    "scope": {
      "type": "object", "additionalProperties": false, "required": ["kind"],
      "properties": {
        "kind": { "enum": ["datacenter", "pool", "virtual-server", "hosts"] },
        "name": { "type": "string", "description": "pool or virtual-server name" },
        "labels": { "type": "array", "items": { "type": "string" }, "description": "for kind = hosts" }
      }
    },
    "thresholds": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "cpu": { "$ref": "#/$defs/band" },
        "memory": { "$ref": "#/$defs/band" },
        "network": { "$ref": "#/$defs/band" }
      }
    },
    "observation": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "window": { "type": "integer", "minimum": 2, "description": "samples kept per VM" },
        "k": { "type": "integer", "minimum": 1 },
        "n": { "type": "integer", "minimum": 1 }
      }
    },
    "prediction": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "predictor": { "anyOf": [ { "const": "auto" }, { "$ref": "#/$defs/predictor" } ] },
        "candidates": { "type": "array", "items": { "$ref": "#/$defs/predictor" } },
        "horizon": { "type": "integer", "minimum": 1 },
        "backtest": { "type": "integer", "minimum": 1 },
        "safety_margin": { "type": "number", "minimum": 0 }
      }
    },
    "migration": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "max_concurrent": { "type": "integer", "minimum": 1 },
        "max_per_round": { "type": "integer", "minimum": 1 },
        "max_per_hour": { "type": "integer", "minimum": 1 },
        "vm_cooldown_rounds": { "type": "integer", "minimum": 0 },
        "host_cooldown_rounds": { "type": "integer", "minimum": 0 },
        "hysteresis": { "$ref": "#/$defs/fraction" },
        "destination": { "enum": ["best-fit", "least-loaded"] },
        "vm_choice": { "enum": ["fewest-moves", "volume-size-ratio"] }
      }
    },
    "placement": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "affinity": { "type": "array", "items": { "$ref": "#/$defs/group" } },
        "anti_affinity": { "type": "array", "items": { "$ref": "#/$defs/group" } },
        "host_labels": { "type": "array", "items": { "type": "string" } }
      }
    },
    "power": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "consolidate": { "type": "boolean" },
        "power_off_idle": { "type": "boolean" },
        "spare_hosts": { "type": "integer", "minimum": 0 }
      }
    },
    "scaling": {
      "type": "object", "additionalProperties": false, "required": ["service"],
      "properties": {
        "service": { "type": "string" },
        "min_nodes": { "type": "integer", "minimum": 1 },
        "max_nodes": { "type": "integer", "minimum": 1 },
        "scale_out_above": { "$ref": "#/$defs/fraction" },
        "scale_in_below": { "$ref": "#/$defs/fraction" }
      }
    },
    "allocation": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "shares": { "type": "integer", "minimum": 2, "maximum": 262144 },
        "reservation": { "$ref": "#/$defs/fraction" },
        "limit": { "$ref": "#/$defs/fraction" }
      }
    },
    "schedule": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "active_hours": { "type": "array", "items": { "type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]-[0-2]?[0-9]:[0-5][0-9]$" } }
      }
    }
  }
}"##;
