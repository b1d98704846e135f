//! Classes, qualifier declarations and instances written as MOF that the
//! compiler reads back to the same objects.
//!
//! A class prints what it declares itself: propagated properties, methods
//! and qualifiers are left out, so printing a resolved class gives its
//! local declaration. Qualifier flavors are not printed; they come from the
//! qualifier declarations when the text is compiled again.

use std::fmt::Write;

use crate::class::CimClass;
use crate::instance::CimInstance;
use crate::property::CimParameter;
use crate::qualifier::{CimQualifier, QualifierDecl};
use crate::types::CimType;
use crate::value::{format_real, CimValue};

/// `Qualifier Name : type[] = default, Scope(...), Flavor(...);`
pub fn qualifier_decl_to_mof(d: &QualifierDecl) -> String {
    let mut s = format!("Qualifier {} : {}", d.name, d.cim_type.as_str());
    if d.is_array {
        match d.array_size {
            Some(n) => write!(s, "[{n}]").unwrap_or_default(),
            None => s.push_str("[]"),
        }
    }
    if let Some(v) = &d.default {
        s.push_str(" = ");
        s.push_str(&value_to_mof(v));
    }
    let sc = d.scopes;
    let scopes: Vec<&str> = [
        (sc.class, "class"),
        (sc.association, "association"),
        (sc.indication, "indication"),
        (sc.property, "property"),
        (sc.reference, "reference"),
        (sc.method, "method"),
        (sc.parameter, "parameter"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let scopes = if scopes.len() == 7 {
        "any".to_string()
    } else {
        scopes.join(", ")
    };
    write!(s, ",\n    Scope({scopes})").unwrap_or_default();
    let f = d.flavor;
    let mut flavors = vec![
        if f.overridable {
            "EnableOverride"
        } else {
            "DisableOverride"
        },
        if f.to_subclass {
            "ToSubclass"
        } else {
            "Restricted"
        },
    ];
    if f.translatable {
        flavors.push("Translatable");
    }
    if f.to_instance {
        flavors.push("ToInstance");
    }
    write!(s, ",\n    Flavor({});\n", flavors.join(", ")).unwrap_or_default();
    s
}

/// The class as a MOF class declaration (local elements only).
pub fn class_to_mof(c: &CimClass) -> String {
    let mut s = String::new();
    s.push_str(&qualifier_list(&c.qualifiers, ""));
    write!(s, "class {}", c.name).unwrap_or_default();
    if let Some(sup) = &c.superclass {
        write!(s, " : {sup}").unwrap_or_default();
    }
    s.push_str(" {\n");
    for p in c.properties.iter().filter(|p| !p.propagated) {
        s.push('\n');
        s.push_str(&qualifier_list(&p.qualifiers, "      "));
        write!(
            s,
            "   {}",
            typed_name(p.cim_type, p.reference_class.as_ref(), &p.name)
        )
        .unwrap_or_default();
        s.push_str(&array_suffix(p.is_array, p.array_size));
        if let Some(v) = &p.value {
            write!(s, " = {}", value_to_mof(v)).unwrap_or_default();
        }
        s.push_str(";\n");
    }
    for m in c.methods.iter().filter(|m| !m.propagated) {
        s.push('\n');
        s.push_str(&qualifier_list(&m.qualifiers, "      "));
        write!(s, "   {} {}(", m.return_type.as_str(), m.name).unwrap_or_default();
        for (i, p) in m.parameters.iter().enumerate() {
            s.push_str(if i == 0 { "\n" } else { ",\n" });
            s.push_str(&param(p));
        }
        s.push_str(");\n");
    }
    s.push_str("};\n");
    s
}

/// The instance as a MOF instance declaration; NULL properties are written
/// as `NULL` so that a class default does not replace them on recompile.
pub fn instance_to_mof(i: &CimInstance) -> String {
    let mut s = String::new();
    s.push_str(&qualifier_list(&i.qualifiers, ""));
    writeln!(s, "instance of {} {{", i.class_name).unwrap_or_default();
    for p in &i.properties {
        s.push_str(&qualifier_list(&p.qualifiers, "    "));
        let v = p.value.as_ref().map(value_to_mof);
        writeln!(s, "    {} = {};", p.name, v.as_deref().unwrap_or("NULL")).unwrap_or_default();
    }
    s.push_str("};\n");
    s
}

fn typed_name(
    t: CimType,
    ref_class: Option<&crate::name::CimName>,
    name: &crate::CimName,
) -> String {
    match (t, ref_class) {
        (CimType::Reference, Some(c)) => format!("{c} REF {name}"),
        // A reference of no particular class: CIM_ManagedElement is the
        // root every referenced object derives from in the DMTF schema.
        (CimType::Reference, None) => format!("CIM_ManagedElement REF {name}"),
        (t, _) => format!("{} {name}", t.as_str()),
    }
}

fn array_suffix(is_array: bool, size: Option<u32>) -> String {
    match (is_array, size) {
        (false, _) => String::new(),
        (true, Some(n)) => format!("[{n}]"),
        (true, None) => "[]".into(),
    }
}

fn param(p: &CimParameter) -> String {
    let mut s = qualifier_list(&p.qualifiers, "         ");
    write!(
        s,
        "         {}{}",
        typed_name(p.cim_type, p.reference_class.as_ref(), &p.name),
        array_suffix(p.is_array, p.array_size)
    )
    .unwrap_or_default();
    s
}

/// `[A, B("x"), C{1, 2}]` and a newline, or nothing for no qualifiers;
/// propagated qualifiers are skipped.
fn qualifier_list(qs: &[CimQualifier], indent: &str) -> String {
    let own: Vec<String> = qs
        .iter()
        .filter(|q| !q.propagated)
        .map(|q| match &q.value {
            Some(CimValue::Boolean(true)) => q.name.to_string(),
            Some(v @ CimValue::Array(_)) => format!("{} {}", q.name, value_to_mof(v)),
            Some(v) => format!("{}({})", q.name, value_to_mof(v)),
            None => format!("{}(null)", q.name),
        })
        .collect();
    if own.is_empty() {
        return String::new();
    }
    format!("{indent}[{}]\n", own.join(&format!(",\n{indent} ")))
}

/// A value as a MOF literal.
pub fn value_to_mof(v: &CimValue) -> String {
    match v {
        CimValue::Boolean(b) => if *b { "true" } else { "false" }.into(),
        CimValue::String(s) => quote(s, '"'),
        CimValue::Char16(c) => quote(&c.to_string(), '\''),
        CimValue::DateTime(d) => quote(&d.to_string(), '"'),
        CimValue::Real32(r) => format_real(*r as f64, true),
        CimValue::Real64(r) => format_real(*r, false),
        CimValue::Reference(p) => quote(&p.to_string(), '"'),
        CimValue::Instance(i) => quote(&instance_to_mof(i), '"'),
        CimValue::Array(items) => format!(
            "{{{}}}",
            items
                .iter()
                .map(value_to_mof)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        int => int.to_string(),
    }
}

/// Quotes and escapes text; control characters become four-digit `\x`
/// escapes so a following hex digit cannot be read as part of them.
fn quote(s: &str, q: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) <= 0xffff => {
                write!(out, "\\x{:04x}", c as u32).unwrap_or_default()
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_the_lexer_unescapes() {
        assert_eq!(quote("a\"b\\c\n\u{1}F", '"'), r#""a\"b\\c\n\x0001F""#);
        assert_eq!(value_to_mof(&CimValue::Char16('\'')), r"'\''");
        assert_eq!(
            value_to_mof(&CimValue::Array(vec![1u8.into(), 2u8.into()])),
            "{1, 2}"
        );
    }
}
