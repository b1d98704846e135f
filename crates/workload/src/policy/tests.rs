use super::*;

fn problems(text: &str) -> Vec<Problem> {
    match validate::validate(text) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}

#[test]
fn default_policy_parses() {
    let p = Policy::builtin_default();
    assert_eq!(p.name, "default");
    assert!(p.cpu.upper > p.cpu.lower);
    assert!(matches!(
        p.prediction.predictor,
        PredictorChoice::Auto { .. }
    ));
}

#[test]
fn shipped_samples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policies");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("deploy/policies exists") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 3, "expected at least three sample policies, found {n}");
}

#[test]
fn upper_below_lower_is_reported_at_its_line() {
    let text = "name = \"x\"\n\n[thresholds.cpu]\nupper = 0.3\nlower = 0.6\n";
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].line, p[0].column), (4, 9));
    assert!(p[0]
        .message
        .contains("upper (0.3) must be above lower (0.6)"));
    assert!(p[0].help.as_deref().unwrap_or("").contains("upper = 0.60"));
}

#[test]
fn unknown_predictor_lists_the_known_ones() {
    let p = problems("name = \"x\"\n[prediction]\npredictor = \"crystal-ball\"\n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 3);
    assert!(p[0].message.contains("crystal-ball"));
    assert!(p[0].help.as_deref().unwrap_or("").contains("loess"));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = r#"name = "x"
[thresholds.cpu]
upper = 1.5
[observation]
k = 4
n = 3
[allocation]
reservation = 0.8
limit = 0.5
[schedule]
active_hours = ["20:00-08:00"]
"#;
    let p = problems(text);
    let lines: Vec<usize> = p.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![3, 5, 8, 11], "{p:?}");
}

#[test]
fn typos_and_syntax_errors_have_positions() {
    let p = problems("name = \"x\"\n[migration]\nmax_concurent = 3\n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 3);
    assert!(p[0].message.contains("unknown field"));
    let p = problems("name = \"x\"\n[thresholds.cpu\n");
    assert_eq!(p[0].line, 2);
}

#[test]
fn contradictory_placement_is_rejected() {
    let text = "name = \"x\"\n[placement]\naffinity = [[\"a\", \"b\"]]\nanti_affinity = [[\"a\", \"b\", \"c\"]]\n";
    let p = problems(text);
    assert_eq!(p.len(), 1);
    assert!(p[0].message.contains("affinity"));
}

#[test]
fn rendered_report_names_file_line_and_column() {
    let err = parse_str(
        "name = \"x\"\n[thresholds.cpu]\nupper = 0.2\nlower = 0.4\n",
        "p.toml",
    )
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("p.toml:3:9: thresholds.cpu: upper"), "{text}");
    assert!(text.contains("help:"), "{text}");
}

#[test]
fn scope_that_matches_nothing_is_found_against_an_inventory() {
    let p = parse_str(
        "name = \"x\"\n[scope]\nkind = \"pool\"\nname = \"gpu\"\n",
        "t",
    )
    .expect("valid");
    let snap = crate::synth::snapshot(3, 3, 0, 0.0);
    let found = p.check_against(&snap);
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("matches none of the 3 hosts"));
}

#[test]
fn schema_is_json_and_covers_every_table() {
    let v: serde_json::Value = serde_json::from_str(policy_schema()).expect("schema is JSON");
    let props = v["properties"].as_object().expect("properties");
    for key in [
        "name",
        "description",
        "scope",
        "thresholds",
        "observation",
        "prediction",
        "migration",
        "placement",
        "power",
        "scaling",
        "allocation",
        "schedule",
    ] {
        assert!(props.contains_key(key), "schema lacks {key}");
    }
    // Every key of the default policy's tables is in the schema.
    let doc: toml::Table = toml::from_str(DEFAULT_POLICY_TOML).expect("toml");
    for (table, value) in &doc {
        if let Some(t) = value.as_table() {
            let sp = &props[table.as_str()]["properties"];
            for k in t.keys() {
                assert!(sp.get(k).is_some(), "schema lacks {table}.{k}");
            }
        }
    }
}

#[test]
fn active_hours_gate_the_policy() {
    let p = parse_str(
        "name = \"x\"\n[schedule]\nactive_hours = [\"08:00-18:00\"]\n",
        "t",
    )
    .expect("valid");
    assert!(p.active_at(9.0 * 3600.0));
    assert!(!p.active_at(20.0 * 3600.0));
}

#[test]
fn a_toml_error_without_a_message_still_says_what_is_wrong() {
    // Found by fuzz/ (policy_file): a control character in a comment made
    // toml report an error with an empty message.
    let p = problems("# a comment with \u{2} in it\nname = \"x\"\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].message, "control character U+0002 is not allowed in TOML",
        "{p:?}"
    );
    assert_eq!((p[0].line, p[0].column), (1, 18), "{p:?}");
}

#[test]
fn cpu_shares_outside_what_hypervisors_take_are_reported() {
    for (shares, says) in [("1", "is below 2"), ("5000000000", "is above 262144")] {
        let text = format!("name = \"x\"\n[allocation]\nshares = {shares}\n");
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, 3, "{p:?}");
        assert!(p[0].message.contains(says), "{p:?}");
    }
    let ok = validate::validate("name = \"x\"\n[allocation]\nshares = 262144\n").unwrap();
    assert_eq!(ok.allocation.shares, 262_144);
}
