use vine_cim::{
    CimDateTime, CimError, CimInstance, CimInstanceName, CimProperty, CimStatus, CimType,
};

use super::*;

fn wql(text: &str) -> Query {
    match parse(QueryLanguage::Wql, text) {
        Ok(q) => q,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn error(text: &str) -> (usize, String) {
    match parse(QueryLanguage::Cql, text) {
        Err(QueryError::Syntax { column, message }) => (column, message),
        other => panic!("{text}: expected a syntax error, got {other:?}"),
    }
}

fn prop(name: &str) -> Operand {
    Operand::Property(name.into())
}

fn lit(l: Literal) -> Operand {
    Operand::Literal(l)
}

/// The class tree the ISA tests use: KVM_ComputerSystem derives from
/// CIM_ComputerSystem, which derives from CIM_System.
fn isa(class: &str, ancestor: &str) -> bool {
    let chain = ["KVM_ComputerSystem", "CIM_ComputerSystem", "CIM_System"];
    let pos = |c: &str| chain.iter().position(|x| x.eq_ignore_ascii_case(c));
    matches!((pos(class), pos(ancestor)), (Some(c), Some(a)) if c <= a)
}

fn vm() -> CimInstance {
    CimInstance::new("KVM_ComputerSystem")
        .with("Name", "vm-01")
        .with("EnabledState", 2u16)
        .with("NumberOfBlocks", 4_000_000_000u64)
        .with("Load", 0.1f32)
        .with("OperationalStatus", vec![2u16, 32768])
        .with("Dedicated", Vec::<u16>::new())
        .with("Enabled", true)
        .with(
            "InstallDate",
            "20260101120000.000000+060"
                .parse::<CimDateTime>()
                .expect("valid datetime"),
        )
        .with(
            "Host",
            CimInstanceName::new("KVM_HostSystem").with_key("Name", "h1"),
        )
}

fn vm_with_null() -> CimInstance {
    let mut i = vm();
    i.set_property(CimProperty::null("Caption", CimType::String, false));
    i
}

fn truth(cond: &str) -> Truth {
    wql(&format!("SELECT * FROM CIM_ComputerSystem WHERE {cond}")).evaluate(&vm_with_null(), &isa)
}

fn selects(cond: &str) -> bool {
    truth(cond) == Truth::True
}

#[test]
fn languages_by_name() {
    assert_eq!("wql".parse(), Ok(QueryLanguage::Wql));
    assert_eq!("DMTF:CQL".parse(), Ok(QueryLanguage::Cql));
    assert_eq!("cql".parse(), Ok(QueryLanguage::Cql));
    let err = "SQL".parse::<QueryLanguage>().expect_err("unsupported");
    assert_eq!(
        CimError::from(err).status,
        CimStatus::QueryLanguageNotSupported
    );
}

#[test]
fn select_star_and_lists() {
    let q = wql("select * from CIM_System");
    assert_eq!(q.class_name, "CIM_System");
    assert_eq!(q.select, Selection::All);
    assert_eq!(q.filter, None);
    assert_eq!(q.alias, None);

    let q = wql("SELECT Name, s.EnabledState FROM CIM_System AS s");
    assert_eq!(
        q.select,
        Selection::Props(vec!["Name".into(), "EnabledState".into()])
    );
    assert_eq!(q.alias, Some("s".into()));
    assert_eq!(
        wql("SELECT CIM_System.* FROM CIM_System").select,
        Selection::All
    );
    assert_eq!(wql("SELECT s.* FROM CIM_System s").alias, Some("s".into()));
}

#[test]
fn every_condition_form() {
    let q = wql(
        "SELECT * FROM CIM_System WHERE Name = 'a' AND (x <> -5 OR y >= 1.5) \
         AND NOT z IS NULL AND w IS NOT NULL AND n NOT LIKE 'v%' AND b = TRUE \
         AND ISA CIM_System AND CIM_System ISA 'KVM_X' AND Host ISA KVM_HostSystem",
    );
    let Some(Expr::And(items)) = q.filter else {
        panic!("AND at the top")
    };
    assert_eq!(items.len(), 9);
    assert_eq!(
        items[0],
        Expr::Compare {
            left: prop("Name"),
            op: CmpOp::Eq,
            right: lit(Literal::String("a".into()))
        }
    );
    assert!(matches!(&items[1], Expr::Or(v) if v.len() == 2));
    assert!(
        matches!(&items[2], Expr::Not(inner) if matches!(**inner, Expr::IsNull { negated: false, .. }))
    );
    assert!(matches!(&items[3], Expr::IsNull { negated: true, .. }));
    assert!(
        matches!(&items[4], Expr::Like { negated: true, pattern, .. } if pattern.source() == "v%")
    );
    assert!(matches!(
        &items[5],
        Expr::Compare {
            right: Operand::Literal(Literal::Boolean(true)),
            ..
        }
    ));
    for (i, target) in [
        (6, IsaTarget::Instance),
        (7, IsaTarget::Instance),
        (8, IsaTarget::Property("Host".into())),
    ] {
        assert!(
            matches!(&items[i], Expr::Isa { target: t, .. } if *t == target),
            "{i}"
        );
    }
}

#[test]
fn keywords_and_names_ignore_case() {
    let q = wql("sElEcT nAmE FrOm cim_system wHeRe NAME like 'x' or __class isa Cim_System");
    assert_eq!(q.select, Selection::Props(vec!["Name".into()]));
    assert!(matches!(q.filter, Some(Expr::Or(_))));
}

#[test]
fn and_binds_tighter_than_or() {
    let q = wql("SELECT * FROM C WHERE a = 1 OR b = 2 AND c = 3");
    let Some(Expr::Or(items)) = q.filter else {
        panic!("OR at the top")
    };
    assert!(matches!(items[1], Expr::And(_)));
}

#[test]
fn literals_and_operators() {
    let q = wql(
        r#"SELECT * FROM C WHERE a != "x\"y" AND b < 0x10 AND c <= -2.5e1 AND d > NULL AND e = FALSE"#,
    );
    let Some(Expr::And(items)) = q.filter else {
        panic!("AND")
    };
    let rights: Vec<(CmpOp, Operand)> = items
        .into_iter()
        .map(|e| match e {
            Expr::Compare { op, right, .. } => (op, right),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        rights,
        vec![
            (CmpOp::Ne, lit(Literal::String("x\"y".into()))),
            (CmpOp::Lt, lit(Literal::Integer(16))),
            (CmpOp::Le, lit(Literal::Real(-25.0))),
            (CmpOp::Gt, lit(Literal::Null)),
            (CmpOp::Eq, lit(Literal::Boolean(false))),
        ]
    );
}

#[test]
fn errors_point_at_the_column() {
    assert_eq!(error("SELECT * WHERE x = 1").0, 10);
    assert!(error("SELECT * WHERE x = 1").1.starts_with("expected FROM"));
    let (col, msg) = error("SELECT Name FROM");
    assert_eq!(col, 17);
    assert!(msg.contains("end of query"), "{msg}");
    assert_eq!(error("SELECT * FROM C WHERE").0, 22);
    assert_eq!(error("SELECT * FROM C WHERE a = ").0, 27);
    assert_eq!(error("SELECT * FROM C WHERE a == 1").0, 26);
    assert_eq!(error("SELECT * FROM C WHERE (a = 1").0, 29);
    assert_eq!(error("SELECT * FROM C WHERE a = 1 b").0, 29);
    assert_eq!(error("SELECT * FROM C WHERE a LIKE 5").0, 30);
    assert_eq!(error("SELECT * FROM C WHERE a LIKE '[x'").0, 30);
    assert_eq!(error("SELECT * FROM C WHERE a IS 5").0, 28);
    assert_eq!(error("SELECT * FROM C WHERE a = 'x").0, 27);
    assert_eq!(error("SELECT * FROM C WHERE a @ 1").0, 25);
    assert_eq!(error("SELECT * FROM C WHERE D.a = 1").0, 23);
    assert_eq!(error("SELECT *, a FROM C").0, 9);
    assert_eq!(error("SELECT a, * FROM C").0, 11);
    assert_eq!(error("SELECT x.* , a FROM C x").0, 8);
    assert_eq!(error("SELECT * FROM C WHERE a ISA 'not a class'").0, 29);
    assert!(error("SELECT * FROM C WHERE Like = 1")
        .1
        .contains("reserved"));
    assert!(error("SELECT * FROM Select").1.contains("reserved"));
    assert_eq!(error("").0, 1);
    let e = CimError::from(parse(QueryLanguage::Wql, "SELECT").expect_err("bad"));
    assert_eq!(e.status, CimStatus::InvalidQuery);
    assert!(e.description.contains("at column 7"), "{}", e.description);
}

#[test]
fn hostile_input_is_bounded() {
    let deep = format!(
        "SELECT * FROM C WHERE {}a = 1{}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(matches!(
        parse(QueryLanguage::Wql, &deep),
        Err(QueryError::TooDeep { .. })
    ));
    let nots = format!("SELECT * FROM C WHERE {}a = 1", "NOT ".repeat(3000));
    assert!(matches!(
        parse(QueryLanguage::Wql, &nots),
        Err(QueryError::TooDeep { .. })
    ));
    let ok = format!(
        "SELECT * FROM C WHERE {}a = 1{}",
        "(".repeat(60),
        ")".repeat(60)
    );
    assert!(parse(QueryLanguage::Wql, &ok).is_ok());
    let long = format!("SELECT * FROM C WHERE a = '{}'", "x".repeat(MAX_QUERY_LEN));
    assert!(matches!(
        parse(QueryLanguage::Wql, &long),
        Err(QueryError::TooLong { .. })
    ));
    // A long flat chain is one n-ary node, not a deep tree.
    let flat = format!("SELECT * FROM C WHERE a = 1{}", " OR a = 1".repeat(1500));
    let q = wql(&flat);
    assert!(matches!(&q.filter, Some(Expr::Or(v)) if v.len() == 1501));
    assert_eq!(q.to_string(), flat);
}

#[test]
fn comparisons_with_null_are_unknown() {
    use Truth::*;
    assert_eq!(truth("Caption = 'x'"), Unknown);
    assert_eq!(truth("Caption <> 'x'"), Unknown);
    assert_eq!(truth("Missing = 1"), Unknown);
    assert_eq!(truth("Name = NULL"), Unknown);
    assert_eq!(truth("NOT Caption = 'x'"), Unknown);
    assert_eq!(truth("Caption IS NULL"), True);
    assert_eq!(truth("Missing IS NULL"), True);
    assert_eq!(truth("Name IS NULL"), False);
    assert_eq!(truth("Name IS NOT NULL"), True);
    assert_eq!(
        truth("Dedicated IS NULL"),
        False,
        "an empty array is not NULL"
    );
    assert_eq!(truth("Caption LIKE '%'"), Unknown);
    assert_eq!(truth("Caption NOT LIKE '%'"), Unknown);
}

#[test]
fn truth_tables_of_and_or_not() {
    use Truth::*;
    let atoms = [
        ("EnabledState = 2", True),
        ("EnabledState = 3", False),
        ("Caption = 'x'", Unknown),
    ];
    for (a, ta) in atoms {
        assert_eq!(
            truth(&format!("NOT {a}")),
            match ta {
                True => False,
                False => True,
                Unknown => Unknown,
            }
        );
        for (b, tb) in atoms {
            let and = match (ta, tb) {
                (False, _) | (_, False) => False,
                (Unknown, _) | (_, Unknown) => Unknown,
                _ => True,
            };
            let or = match (ta, tb) {
                (True, _) | (_, True) => True,
                (Unknown, _) | (_, Unknown) => Unknown,
                _ => False,
            };
            assert_eq!(truth(&format!("{a} AND {b}")), and, "{a} AND {b}");
            assert_eq!(truth(&format!("{a} OR {b}")), or, "{a} OR {b}");
        }
    }
}

#[test]
fn numbers_compare_across_widths_and_reals() {
    assert!(selects("EnabledState = 2"));
    assert!(selects("EnabledState = 2.0"));
    assert!(selects("EnabledState < 3"));
    assert!(selects("EnabledState > -1"));
    assert!(selects("EnabledState >= 2 AND EnabledState <= 2"));
    assert!(!selects("EnabledState <> 2"));
    assert!(selects("NumberOfBlocks > 2147483647"));
    assert!(selects("NumberOfBlocks = 4000000000"));
    assert!(selects("NumberOfBlocks < 18446744073709551615"));
    assert!(
        selects("Load = 0.1"),
        "real32 against a real literal at real32 precision"
    );
    assert!(selects("Load > 0 AND Load < 1"));
    assert!(
        selects("EnabledState = '2'"),
        "a string literal reads as the property's type"
    );
    assert!(selects("EnabledState < '2.5'"));
    assert_eq!(truth("EnabledState = 'two'"), Truth::Unknown);
    assert_eq!(truth("EnabledState = TRUE"), Truth::Unknown);
    assert!(selects("2 = EnabledState"), "literal on the left");
}

#[test]
fn strings_compare_with_case() {
    assert!(selects("Name = 'vm-01'"));
    assert!(!selects("Name = 'VM-01'"));
    assert!(selects("Name < 'vm-02'"));
    assert!(selects("Name > 'VM-99'"), "lowercase sorts after uppercase");
    assert!(selects("__CLASS = 'KVM_ComputerSystem'"));
}

#[test]
fn booleans_datetimes_references() {
    assert!(selects("Enabled = TRUE"));
    assert!(selects("Enabled <> FALSE"));
    assert_eq!(truth("Enabled > FALSE"), Truth::Unknown);
    // 12:00 at UTC+1 is 11:00 UTC.
    assert!(selects("InstallDate = '20260101110000.000000+000'"));
    assert!(selects("InstallDate < '20260101113000.000000+000'"));
    assert!(selects("InstallDate > '20251231235959.999999+000'"));
    assert_eq!(truth("InstallDate > 'yesterday'"), Truth::Unknown);
    assert_eq!(
        truth("InstallDate > '00000001000000.000000:000'"),
        Truth::Unknown
    );
    assert!(selects(r#"Host = 'KVM_HostSystem.Name="h1"'"#));
    assert!(selects(r#"Host <> 'KVM_HostSystem.Name="h2"'"#));
}

#[test]
fn arrays_match_any_element() {
    assert!(selects("OperationalStatus = 2"));
    assert!(selects("OperationalStatus = 32768"));
    assert!(!selects("OperationalStatus = 3"));
    assert!(selects("OperationalStatus <> 2"), "32768 differs from 2");
    assert!(!selects("Dedicated = 2"));
    assert!(!selects("Dedicated <> 2"));
    let q = wql("SELECT * FROM C WHERE Tags LIKE 'prod%'");
    let tagged = CimInstance::new("C").with("Tags", vec!["test", "production"]);
    assert!(q.matches(&tagged, &isa));
}

#[test]
fn like_filters() {
    assert!(selects("Name LIKE 'vm-%'"));
    assert!(selects("Name LIKE 'vm-0_'"));
    assert!(selects("Name NOT LIKE 'host%'"));
    assert!(!selects("Name LIKE 'VM%'"));
    assert_eq!(truth("EnabledState LIKE '2'"), Truth::Unknown);
}

#[test]
fn isa_uses_the_closure() {
    assert!(selects("ISA CIM_System"));
    assert!(selects("CIM_ComputerSystem ISA CIM_ComputerSystem"));
    assert!(selects("CIM_ComputerSystem ISA 'KVM_ComputerSystem'"));
    assert!(selects("__CLASS ISA CIM_System"));
    assert!(!selects("ISA CIM_LogicalDevice"));
    assert!(selects("Host ISA KVM_HostSystem"));
    assert!(!selects("Host ISA CIM_System"));
    assert_eq!(truth("Caption ISA CIM_System"), Truth::Unknown);
    let q = wql("SELECT * FROM CIM_System AS s WHERE s ISA CIM_ComputerSystem");
    assert!(q.matches(&vm(), &isa));
    assert!(!q.matches(&CimInstance::new("CIM_System"), &isa));
    // The closure is not consulted for the class itself.
    let never = |_: &str, _: &str| false;
    assert!(q.matches(&CimInstance::new("cim_computersystem"), &never));
}

#[test]
fn no_where_selects_everything() {
    assert!(wql("SELECT * FROM C").matches(&CimInstance::new("C"), &isa));
}

#[test]
fn projection_keeps_selected_properties_and_the_path() {
    let mut inst = vm();
    inst.path = Some(CimInstanceName::new("KVM_ComputerSystem").with_key("Name", "vm-01"));
    let q = wql("SELECT name, ENABLEDSTATE, Nope FROM KVM_ComputerSystem");
    let p = q.project(inst.clone());
    let names: Vec<&str> = p.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["Name", "EnabledState"]);
    assert_eq!(p.path, inst.path);
    assert_eq!(wql("SELECT * FROM C").project(inst.clone()), inst);
}

#[test]
fn referenced_properties_are_listed_once() {
    let q = wql(
        "SELECT Name, Caption FROM CIM_System AS s WHERE s.name = 'x' OR \
         (Status IS NULL AND Host ISA CIM_System AND __CLASS = 'C' AND s ISA CIM_System \
         AND 1 = Load AND NOT Tags LIKE 'a')",
    );
    let names: Vec<String> = q
        .referenced_properties()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        vec!["Name", "Caption", "Status", "Host", "Load", "Tags"]
    );
}

#[test]
fn printing_reads_back() {
    for text in [
        "SELECT * FROM CIM_System",
        "SELECT Name, EnabledState FROM CIM_System AS s WHERE s ISA KVM_ComputerSystem",
        "SELECT * FROM C WHERE a = 1 AND (b = 2 OR c = 3)",
        "SELECT * FROM C WHERE (a = 1 AND b = 2) AND c = 3",
        "SELECT * FROM C WHERE NOT (a = 1 OR b = 2) AND NOT NOT c IS NOT NULL",
        "SELECT * FROM C WHERE a LIKE 'it\\'s [%]' OR b NOT LIKE '\\\\'",
        "SELECT * FROM C WHERE a = -1.5e-7 AND b <> 18446744073709551615 AND c = FALSE",
        "SELECT * FROM C AS x WHERE x.x ISA D",
    ] {
        let q = wql(text);
        let printed = q.to_string();
        assert_eq!(wql(&printed), q, "{text} -> {printed}");
    }
    assert_eq!(
        wql("select * from C c where c.a != \"q\" and isa D").to_string(),
        "SELECT * FROM C AS c WHERE a <> 'q' AND c ISA D"
    );
}

#[test]
fn unknown_properties_are_invalid_queries() {
    let mut class = CimClass::new("CIM_System");
    class.properties = vec![
        CimProperty::null("Name", CimType::String, false),
        CimProperty::null("Host", CimType::Reference, false),
    ];
    assert_eq!(
        wql("SELECT name FROM CIM_System WHERE Host ISA X").check_against(&class),
        Ok(())
    );
    let err = wql("SELECT Name FROM CIM_System WHERE Speed > 1 AND __CLASS = 'x'")
        .check_against(&class)
        .expect_err("Speed is unknown");
    assert!(matches!(&err, QueryError::NoSuchProperty { property, .. } if *property == "speed"));
    assert_eq!(CimError::from(err).status, CimStatus::InvalidQuery);
}
