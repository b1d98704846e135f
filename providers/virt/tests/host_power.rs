//! DSP1027 power state management of the host, over real CIM-XML against a
//! real libvirt test-driver host: the service, its capabilities and the
//! association are there; RequestPowerStateChange refuses without a
//! command, with guests running and while a power-off is under way, and
//! otherwise runs the command about a second after answering.

#[path = "agent_support/mod.rs"]
mod agent_support;

use agent_support::{repository, serve_http, Served, ServerGuard};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vine_cim::{CimDateTime, CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_cimxml::MethodTarget;
use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
use vine_hypervisor::{DomainState, Hypervisor, LibvirtHypervisor};
use vine_providers_virt::power::service_path;
use vine_providers_virt::{VirtContext, VIRT_NS};
use vine_wbem::client::{AssocArgs, ClientError, EnumArgs, WbemClient};
use vine_wbem::interop::InteropProvider;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};

const HOST: &str = "pw-host";

struct Agent {
    client: WbemClient,
    ctx: VirtContext,
    hv: Arc<LibvirtHypervisor>,
    _dir: tempfile::TempDir,
    _server: ServerGuard,
}

/// A test host `pw-host` with `pw-host-vm1` running and `pw-host-vm2`
/// paused, served by an agent with `command` as its power-off command.
async fn agent(command: Option<String>) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let spec = TestHostSpec::new(HOST, 4, 8 * 1024, dir.path().join("pool")).with_sample_vms(1);
    let paused = spec.sample_vm(&format!("{HOST}-vm2"), 2);
    let spec = spec.with_domain(paused, DomainState::Paused);
    let file = dir.path().join("host.xml");
    write_host_file(&file, &spec).unwrap();
    let hv = LibvirtHypervisor::open(&host_uri(&file)).unwrap();
    let mut ctx = VirtContext::new(hv.clone() as Arc<dyn Hypervisor>, "KVM", HOST);
    ctx.power_off_command = command;
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    let installed = vine_providers_virt::install(&mut registry, &mut profiles, ctx);
    let cimom = Cimom::new(
        repository("KVM"),
        registry,
        profiles,
        CimomConfig {
            host: HOST.into(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let Served { client, guard, .. } = serve_http(cimom).await;
    Agent {
        client,
        ctx: installed.ctx,
        hv,
        _dir: dir,
        _server: guard,
    }
}

impl Agent {
    async fn request(&self, params: Vec<CimParamValue>) -> Result<u32, ClientError> {
        let r = self
            .client
            .invoke_method(
                MethodTarget::Instance(service_path(&self.ctx)),
                "RequestPowerStateChange",
                params,
            )
            .await?;
        match r.return_value {
            Some(CimValue::Uint32(n)) => Ok(n),
            other => panic!("return value is not a uint32: {other:?}"),
        }
    }

    async fn power_off(&self, state: u16) -> Result<u32, ClientError> {
        self.request(vec![
            CimParamValue::new("PowerState", state),
            CimParamValue::new("ManagedElement", self.ctx.host_path()),
        ])
        .await
    }

    async fn association(&self) -> vine_cim::CimInstance {
        let mut all = self
            .client
            .enumerate_instances(
                VIRT_NS,
                "KVM_AssociatedPowerManagementService",
                &EnumArgs::default(),
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    async fn associator_names(&self, from: &CimInstanceName, assoc: &str) -> Vec<CimInstanceName> {
        self.client
            .associator_names(
                VIRT_NS,
                from,
                &AssocArgs {
                    assoc_class: Some(assoc.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("AssociatorNames {assoc} of {from}: {e}"))
    }
}

fn cim_error(r: Result<u32, ClientError>) -> (CimStatus, String) {
    match r {
        Err(ClientError::Cim(e)) => (e.status, e.description),
        other => panic!("expected a CIM error, got {other:?}"),
    }
}

fn u16s(v: Option<&CimValue>) -> Vec<u16> {
    match v {
        Some(CimValue::Array(a)) => a
            .iter()
            .map(|x| match x {
                CimValue::Uint16(n) => *n,
                other => panic!("not a uint16: {other:?}"),
            })
            .collect(),
        None => Vec::new(),
        other => panic!("not an array: {other:?}"),
    }
}

async fn wait_for_file(f: &Path, within: Duration) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(s) = std::fs::read_to_string(f) {
            if s.ends_with('\n') {
                return Some(s);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_command_the_host_cannot_be_powered_off() {
    let a = agent(None).await;
    let svc = service_path(&a.ctx);
    let services = a
        .client
        .enumerate_instance_names(VIRT_NS, "KVM_PowerManagementService")
        .await
        .unwrap();
    assert_eq!(services.len(), 1);
    assert!(services[0].same_object(&svc), "{:?}", services[0]);
    assert_eq!(svc.key_str("SystemName"), Some(HOST));
    assert_eq!(svc.key_str("Name"), Some("PowerManagementService"));

    let assoc = a.association().await;
    assert_eq!(assoc.get("PowerState"), Some(&CimValue::Uint16(2)));
    assert_eq!(assoc.get("RequestedPowerState"), Some(&CimValue::Uint16(0)));
    assert!(u16s(assoc.get("AvailableRequestedPowerStates")).is_empty());

    let (s, m) = cim_error(a.power_off(12).await);
    assert_eq!(s, CimStatus::NotSupported, "{m}");
    assert!(m.contains("--power-off-command"), "{m}");
    // On is a no-op, accepted.
    assert_eq!(
        a.request(vec![CimParamValue::new("PowerState", 2u16)])
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_powers_off_once_its_guests_are_gone() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("powered-off");
    let cmd = format!(
        "echo \"$VINE_HOST $VINE_POWER_STATE\" > '{}'",
        out.display()
    );
    let a = agent(Some(cmd)).await;
    let svc = service_path(&a.ctx);
    let host = a.ctx.host_path();

    // The model: hosted by the host, capabilities, the association from
    // both ends.
    let hosted = a.associator_names(&host, "KVM_HostedService").await;
    assert!(hosted.iter().any(|p| p.same_object(&svc)), "{hosted:?}");
    let caps = a.associator_names(&svc, "KVM_ElementCapabilities").await;
    assert_eq!(caps.len(), 1, "{caps:?}");
    let c = a
        .client
        .get_instance(VIRT_NS, &caps[0], &EnumArgs::default())
        .await
        .unwrap();
    assert_eq!(u16s(c.get("PowerStatesSupported")), vec![8, 12]);
    assert_eq!(u16s(c.get("PowerChangeCapabilities")), vec![3, 8]);
    let users = a
        .associator_names(&svc, "KVM_AssociatedPowerManagementService")
        .await;
    assert_eq!(users.len(), 1);
    assert!(users[0].same_object(&host), "{users:?}");
    let providers = a
        .associator_names(&host, "KVM_AssociatedPowerManagementService")
        .await;
    assert_eq!(providers.len(), 1);
    assert!(providers[0].same_object(&svc), "{providers:?}");
    let refs = a
        .client
        .reference_names(
            VIRT_NS,
            &host,
            &AssocArgs {
                result_class: Some("KVM_AssociatedPowerManagementService".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(
        u16s(a.association().await.get("AvailableRequestedPowerStates")),
        vec![8, 12]
    );

    // Bad requests.
    let (s, m) = cim_error(a.power_off(3).await);
    assert_eq!(s, CimStatus::InvalidParameter, "{m}");
    assert!(m.contains("PowerState 3") && m.contains("[8, 12]"), "{m}");
    let (s, m) = cim_error(a.request(vec![]).await);
    assert_eq!(s, CimStatus::InvalidParameter, "{m}");
    let (s, m) = cim_error(
        a.request(vec![
            CimParamValue::new("PowerState", 12u16),
            CimParamValue::new("Time", CimDateTime::now()),
        ])
        .await,
    );
    assert_eq!(s, CimStatus::NotSupported, "{m}");
    assert!(m.contains("leave Time null"), "{m}");
    let (s, m) = cim_error(
        a.request(vec![
            CimParamValue::new("PowerState", 12u16),
            CimParamValue::new("ManagedElement", a.ctx.system_path("pw-host-vm1")),
        ])
        .await,
    );
    assert_eq!(s, CimStatus::InvalidParameter, "{m}");

    // Guests run (one running, one paused): refused, nothing runs.
    let (s, m) = cim_error(a.power_off(12).await);
    assert_eq!(s, CimStatus::Failed, "{m}");
    assert_eq!(
        m,
        "2 guests run on this host (pw-host-vm1, pw-host-vm2): move or stop them first"
    );
    assert_eq!(
        a.association().await.get("RequestedPowerState"),
        Some(&CimValue::Uint16(0))
    );

    a.hv.destroy("pw-host-vm1").unwrap();
    let (s, m) = cim_error(a.power_off(12).await);
    assert_eq!(s, CimStatus::Failed, "{m}");
    assert!(
        m.contains("1 guest runs") && m.contains("pw-host-vm2"),
        "{m}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!out.exists(), "a refused request ran the command");

    // No guest left: accepted at once, the command a second later.
    a.hv.destroy("pw-host-vm2").unwrap();
    let asked = Instant::now();
    assert_eq!(a.power_off(12).await.unwrap(), 0);
    assert!(
        !out.exists(),
        "the command ran before the answer was on its way"
    );
    assert_eq!(
        a.association().await.get("RequestedPowerState"),
        Some(&CimValue::Uint16(12))
    );
    // A second request while the first is under way.
    let (s, m) = cim_error(a.power_off(8).await);
    assert_eq!(s, CimStatus::Failed, "{m}");
    assert!(m.contains("already under way"), "{m}");

    let said = wait_for_file(&out, Duration::from_secs(10))
        .await
        .expect("the power-off command did not run within 10 s");
    assert_eq!(said, format!("{HOST} 12\n"));
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "ran after {:?}",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_command_may_be_tried_again() {
    let out_dir = tempfile::tempdir().unwrap();
    let count = out_dir.path().join("tries");
    // Fails every time, leaving a mark per try.
    let cmd = format!("echo try >> '{}'; exit 3", count.display());
    let a = agent(Some(cmd)).await;
    a.hv.destroy("pw-host-vm1").unwrap();
    a.hv.destroy("pw-host-vm2").unwrap();
    assert_eq!(a.power_off(8).await.unwrap(), 0);
    let start = Instant::now();
    loop {
        // Once the command has failed, the host may be asked again.
        match a.power_off(8).await {
            Ok(0) => break,
            Err(ClientError::Cim(e)) if e.description.contains("already under way") => {}
            other => panic!("unexpected answer: {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still under way after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&count).unwrap(),
        "try\n",
        "the first command ran once before the second request was accepted"
    );
}
