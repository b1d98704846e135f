//! The stored workload policies over real CIM-XML: applied through the
//! coordinator (as REST does), read as VINE_PolicyRule (active version,
//! thresholds, scope), their versions through VINE_PolicyRuleVersionOf,
//! and what they apply to through VINE_PolicyRuleAppliesToElement — a
//! label-scoped policy follows the hosts' labels.

mod support;

use std::collections::BTreeMap;

use vine_cim::{CimParamValue, CimStatus, CimValue};
use vine_providers_manager::paths;
use vine_providers_manager::policies::{rule_path, version_path};
use vine_providers_manager::VINE_NS;

use support::*;

const DC: &str = "dc-policy";

fn text(name: &str, scope: &str, upper: f64) -> String {
    format!(
        "name = \"{name}\"\ndescription = \"{name} test\"\n[scope]\n{scope}\n\
         [thresholds.cpu]\nupper = {upper}\nlower = 0.1\n\
         [migration]\nmax_concurrent = 2\nmax_per_hour = 6\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_policies_are_policy_rules_with_versions_and_scope() {
    let a = agent("host-a", 1).await;
    let b = agent("host-b", 1).await;
    let m = manager(DC, vec![a, b], false).await;
    let store = &m.coordinator.services.policies;

    // Nothing stored: no rules.
    assert!(m.enumerate("VINE_PolicyRule").await.is_empty());

    store
        .apply(
            &text("dc-wide", "kind = \"datacenter\"", 0.9),
            "dc.toml",
            Some("admin"),
        )
        .unwrap();
    store
        .apply(
            &text("dc-wide", "kind = \"datacenter\"", 0.7),
            "dc.toml",
            Some("admin"),
        )
        .unwrap();
    store
        .apply(
            &text("rack-a", "kind = \"hosts\"\nlabels = [\"rack=a\"]", 0.8),
            "rack.toml",
            None,
        )
        .unwrap();

    let rules = m.enumerate("VINE_PolicyRule").await;
    assert_eq!(rules.len(), 2, "{rules:#?}");
    let dc_wide = rules
        .iter()
        .find(|r| r.get_str("PolicyRuleName") == Some("dc-wide"))
        .unwrap();
    assert_eq!(uint(dc_wide, "Version"), 2, "the active version");
    assert_eq!(uint(dc_wide, "Versions"), 2);
    assert_eq!(uint(dc_wide, "Enabled"), 1);
    assert_eq!(
        dc_wide.get("CPUUpperThreshold"),
        Some(&CimValue::Real64(0.7))
    );
    assert_eq!(uint(dc_wide, "MaxConcurrentMigrations"), 2);
    assert_eq!(uint(dc_wide, "MaxMigrationsPerHour"), 6);
    assert_eq!(dc_wide.get_str("ScopeKind"), Some("datacenter"));
    assert_eq!(dc_wide.get_str("SystemName"), Some(DC));
    assert_eq!(dc_wide.get_str("AppliedBy"), Some("admin"));

    // GetInstance by the four keys; an unknown name is NOT_FOUND.
    let got = m.get(&rule_path(DC, "rack-a")).await.unwrap();
    assert_eq!(got.get_str("ScopeKind"), Some("hosts"));
    assert_eq!(
        got.get("ScopeLabels"),
        Some(&CimValue::Array(vec![CimValue::String("rack=a".into())]))
    );
    let e = m.get(&rule_path(DC, "nope")).await.unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");

    // Versions: both, the newest current.
    let versions = m
        .associator_names(&rule_path(DC, "dc-wide"), "VINE_PolicyRuleVersionOf")
        .await;
    assert_eq!(versions.len(), 2, "{versions:#?}");
    let v1 = m.get(&version_path("dc-wide", 1)).await.unwrap();
    assert!(v1.get_str("PolicyText").unwrap().contains("upper = 0.9"));
    let links = m.enumerate("VINE_PolicyRuleVersionOf").await;
    let current: Vec<u64> = links
        .iter()
        .filter(|l| uint(l, "IsCurrent") == 1)
        .filter_map(|l| match l.get("SettingData") {
            Some(CimValue::Reference(p)) => p
                .key_str("InstanceID")
                .map(|id| id.rsplit('/').next().unwrap().parse().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(
        current.len(),
        2,
        "one current version per policy: {links:#?}"
    );
    assert!(current.contains(&2));

    // Scope: the data centre; the rack-a hosts (none until labelled).
    let applies = m
        .associator_names(&rule_path(DC, "dc-wide"), "VINE_PolicyRuleAppliesToElement")
        .await;
    assert_eq!(applies, vec![paths::datacenter(DC)]);
    let rack = rule_path(DC, "rack-a");
    assert!(m
        .associator_names(&rack, "VINE_PolicyRuleAppliesToElement")
        .await
        .is_empty());
    m.coordinator
        .inventory()
        .set_labels(
            "host-b",
            BTreeMap::from([("rack".to_string(), "a".to_string())]),
        )
        .unwrap();
    let applies = m
        .associator_names(&rack, "VINE_PolicyRuleAppliesToElement")
        .await;
    assert_eq!(applies, vec![paths::host("host-b")]);
    // And back from the host to the rule.
    let rules_of_b = m
        .associator_names(&paths::host("host-b"), "VINE_PolicyRuleAppliesToElement")
        .await;
    assert_eq!(rules_of_b.len(), 1);
    assert!(rules_of_b[0].same_object(&rack));

    // The class is in the repository with its DMTF ancestry.
    let class = m
        .client
        .get_class(VINE_NS, "VINE_PolicyRule", false)
        .await
        .unwrap();
    assert_eq!(
        class.superclass.as_ref().map(|s| s.as_str()),
        Some("CIM_PolicyRule")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_applied_and_rolled_back_through_the_rule_methods() {
    let a = agent("host-a", 1).await;
    let m = manager(DC, vec![a], false).await;
    let class = vine_cim::CimClassName {
        class_name: "VINE_PolicyRule".into(),
        namespace: Some(VINE_NS.into()),
        host: None,
    };
    let apply_on_class = |text: String| {
        let client = &m.client;
        let class = class.clone();
        async move {
            client
                .invoke_method(
                    vine_cimxml::MethodTarget::Class(class),
                    "ApplyVersion",
                    vec![CimParamValue::new("PolicyText", text)],
                )
                .await
        }
    };

    // On the class: a new policy.
    let r = apply_on_class(text("web", "kind = \"datacenter\"", 0.9))
        .await
        .unwrap();
    assert_eq!(rc(&r), 0, "{r:?}");
    assert!(out_ref(&r, "Version").same_object(&version_path("web", 1)));
    let rule = out_ref(&r, "PolicyRule");
    assert!(rule.same_object(&rule_path(DC, "web")));
    assert_eq!(
        m.coordinator
            .services
            .policies
            .active("web")
            .unwrap()
            .applied_by
            .as_deref(),
        Some(USER),
        "applied as the CIM user"
    );

    // On the instance: its next version.
    let r = m
        .call(
            &rule,
            "ApplyVersion",
            vec![CimParamValue::new(
                "PolicyText",
                text("web", "kind = \"datacenter\"", 0.7),
            )],
        )
        .await
        .unwrap();
    assert!(out_ref(&r, "Version").same_object(&version_path("web", 2)));

    // A file with problems changes nothing and says where they are.
    let bad = text("web", "kind = \"datacenter\"", 0.7).replacen("lower = 0.1", "lower = 0.99", 1);
    let e = m
        .call(
            &rule,
            "ApplyVersion",
            vec![CimParamValue::new("PolicyText", bad)],
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::InvalidParameter, "{e}");
    assert!(e.to_string().contains("PolicyText:"), "line:col given: {e}");
    // A file naming another policy is refused on this rule.
    let e = m
        .call(
            &rule,
            "ApplyVersion",
            vec![CimParamValue::new(
                "PolicyText",
                text("other", "kind = \"datacenter\"", 0.7),
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::InvalidParameter, "{e}");
    assert_eq!(
        m.coordinator
            .services
            .policies
            .history("web")
            .unwrap()
            .len(),
        2
    );
    assert!(m.coordinator.services.policies.active("other").is_err());

    // Rollback to 1: version 3 with version 1's text, now active.
    let r = m
        .call(&rule, "Rollback", vec![CimParamValue::new("Version", 1u32)])
        .await
        .unwrap();
    assert!(out_ref(&r, "NewVersion").same_object(&version_path("web", 3)));
    let now = m.get(&rule).await.unwrap();
    assert_eq!(uint(&now, "Version"), 3);
    assert_eq!(now.get("CPUUpperThreshold"), Some(&CimValue::Real64(0.9)));
    assert_eq!(now.get_str("Note"), Some("rollback to version 1"));
    let e = m
        .call(&rule, "Rollback", vec![CimParamValue::new("Version", 9u32)])
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");

    // A rule that is not stored is not found.
    let e = m
        .call(
            &rule_path(DC, "nope"),
            "Rollback",
            vec![CimParamValue::new("Version", 1u32)],
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");
}
