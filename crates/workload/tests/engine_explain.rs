//! The engine on the recorded state shipped in deploy/policies: an
//! overloaded host is relieved, hosts with missing samples or silent agents
//! are held and left alone, and the plan runs through the dry-run sender.

use std::path::Path;

use vine_workload::model::{load_snapshot, CommandKind};
use vine_workload::policy::{load_file, Policy};
use vine_workload::stages::sender::{DryRunSink, Outcome, Sender};
use vine_workload::Engine;

fn state() -> vine_workload::Snapshot {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policies/sample-state.json");
    load_snapshot(&p).expect("sample state parses")
}

#[test]
fn default_policy_relieves_the_hotspot_and_holds_bad_hosts() {
    let snap = state();
    let plan = Engine::new(Policy::builtin_default()).plan(&snap);
    assert_eq!(plan.held, vec!["h3".to_string(), "h4".to_string()]);
    assert_eq!(plan.hot, vec!["h1".to_string()]);
    let migrations: Vec<_> = plan
        .commands
        .iter()
        .filter_map(|c| match &c.kind {
            CommandKind::Migrate { vm, from, to } => Some((vm.clone(), from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    assert!(!migrations.is_empty());
    for (_, from, to) in &migrations {
        assert_eq!(from, "h1");
        assert!(to != "h3" && to != "h4", "moved onto a held host");
    }
    let mut sink = DryRunSink::default();
    let out = Sender::new(2).run(&plan.commands, &mut sink);
    assert!(out.iter().all(|&o| o == Outcome::Done));
}

#[test]
fn virtual_server_policy_touches_only_its_service() {
    let p = load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policies/web-tier.toml"),
    )
    .expect("valid");
    let mut snap = state();
    for vm in &mut snap.vms {
        if vm.name.starts_with("web-") {
            vm.service = Some("web".into());
        }
    }
    let plan = Engine::new(p).plan(&snap);
    for c in &plan.commands {
        match &c.kind {
            CommandKind::Resize { vm, .. } | CommandKind::Migrate { vm, .. } => {
                assert!(vm.starts_with("web-"), "{vm} is not in scope")
            }
            _ => {}
        }
    }
    assert!(plan
        .commands
        .iter()
        .any(|c| matches!(c.kind, CommandKind::Resize { .. })));
}
