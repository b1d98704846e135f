//! Plain-text output: aligned columns for lists, `key  value` lines for
//! one object. Values come from the API's JSON, so formatting is lenient:
//! a missing field prints `-`.

use serde_json::Value;

/// Rows under a header, columns padded to their widest cell.
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Self {
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, no trailing blanks.
    pub fn render(&self) -> String {
        let n = self.head.len();
        let mut width: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.head).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(n) {
                line.push_str(c);
                if i + 1 < n {
                    let pad = width[i] - c.chars().count() + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// One cell: `-` for null or missing, strings bare, scalars in a list
/// joined, anything else as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        // A Rust enum variant with data, like {"Other": 7}.
        Value::Object(m) if is_variant(m) => m
            .iter()
            .map(|(k, x)| format!("{k}({})", cell(x)))
            .collect::<String>(),
        other => other.to_string(),
    }
}

fn is_variant(m: &serde_json::Map<String, Value>) -> bool {
    m.len() == 1
        && m.keys()
            .all(|k| k.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// Unix milliseconds as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn utc_millis(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `a/b` from two numbers (`-` for a missing one).
pub fn ratio(a: &Value, b: &Value) -> String {
    format!("{}/{}", cell(a), cell(b))
}

/// `N vCPU, M MiB` for a `{vcpus, memory_mib}` object, `-` for null.
pub fn resources(v: &Value) -> String {
    if v.is_null() {
        return "-".into();
    }
    format!("{} vCPU, {} MiB", cell(&v["vcpus"]), cell(&v["memory_mib"]))
}

/// One object as `key  value` lines: nested objects flattened to dotted
/// keys, lists of objects printed after it as tables.
pub fn render_object(v: &Value) -> String {
    let mut pairs = Vec::new();
    let mut lists = Vec::new();
    flatten("", v, &mut pairs, &mut lists);
    let mut t = Table::new(&["", ""]);
    t.rows = pairs.into_iter().map(|(k, v)| vec![k, v]).collect();
    // The header row is empty: drop it.
    let mut out: String = t
        .render()
        .split_once('\n')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    for (key, items) in lists {
        let mut cols: Vec<String> = Vec::new();
        for it in &items {
            if let Value::Object(m) = it {
                for k in m.keys() {
                    if !cols.contains(k) {
                        cols.push(k.clone());
                    }
                }
            }
        }
        // What names a row goes first.
        cols.sort_by_key(|c| !matches!(c.as_str(), "name" | "vm" | "id"));
        let head: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
        let mut t = Table::new(&head.iter().map(String::as_str).collect::<Vec<_>>());
        for it in &items {
            t.row(cols.iter().map(|c| cell(&it[c.as_str()])).collect());
        }
        out.push_str(&format!("\n{key}:\n"));
        for line in t.render().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

type Lists = Vec<(String, Vec<Value>)>;

fn flatten(prefix: &str, v: &Value, pairs: &mut Vec<(String, String)>, lists: &mut Lists) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !(prefix.is_empty() && m.is_empty()) => {
            for (k, x) in m {
                match x {
                    Value::Object(o) if !o.is_empty() && !is_variant(o) => {
                        flatten(&key(k), x, pairs, lists)
                    }
                    Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
                        lists.push((key(k), a.clone()))
                    }
                    _ => pairs.push((key(k), cell(x))),
                }
            }
        }
        other => pairs.push((prefix.to_string(), cell(other))),
    }
}

pub fn print_object(v: &Value) {
    print!("{}", render_object(v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_on_the_widest_cell() {
        let mut t = Table::new(&["NAME", "STATE"]);
        t.row(vec!["host-1-vm1".into(), "Running".into()]);
        t.row(vec!["a".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "NAME        STATE\nhost-1-vm1  Running\na           -\n"
        );
    }

    #[test]
    fn cells_are_lenient() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&json!("Up")), "Up");
        assert_eq!(cell(&json!(["a", 2])), "a, 2");
        assert_eq!(cell(&json!({"Other": 7})), "Other(7)");
        assert_eq!(ratio(&json!(2), &Value::Null), "2/-");
        assert_eq!(
            resources(&json!({"vcpus": 2, "memory_mib": 512})),
            "2 vCPU, 512 MiB"
        );
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc_millis(0), "1970-01-01 00:00:00");
        assert_eq!(utc_millis(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_millis(1_795_251_326_766), "2026-11-21 08:55:26");
    }

    #[test]
    fn an_object_is_flattened_and_its_lists_become_tables() {
        let v = json!({"name": "web", "template": {"vcpus": 1, "memory_mib": 512},
            "nodes": [{"vm": "web-1", "host": "host-1"}, {"vm": "web-2", "host": "host-2", "addr": "10.0.0.2:80"}]});
        let out = render_object(&v);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["name", "web"]
        );
        // Values start in one column.
        let col = |l: &str| l.rfind(' ').unwrap();
        assert!(lines[1].starts_with("template.memory_mib  512"), "{out}");
        assert_eq!(col(lines[0]), col(lines[2]), "{out}");
        assert!(
            out.contains(
                "nodes:\n  VM     HOST    ADDR\n  web-1  host-1  -\n  web-2  host-2  10.0.0.2:80\n"
            ),
            "{out}"
        );
    }
}
