//! `vine agent --class-prefix Xen` on a libvirt test-driver host: a
//! paravirtualized Xen guest is defined through DefineSystem with the `Xen_`
//! classes, shows as `Xen_ComputerSystem`, starts; after the agent stops
//! (and writes its host back), the domain XML it produced and the XML it
//! would give `xen:///system` both pass libvirt's own schema check
//! (virt-xml-validate, Debian libvirt-clients).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_cimxml::MethodTarget;
use vine_hypervisor::libvirt::xml;
use vine_hypervisor::{DriverKind, Hypervisor, LibvirtHypervisor, OsKind};
use vine_wbem::client::{ClientConfig, EnumArgs, TlsVerify, WbemClient};

const PASSWORD: &str = "xen-admin-pw";
const NS: &str = "root/virt";

/// The agent process, killed if the test fails before stopping it.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vine() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vine"));
    c.env("VINE_LOG", "warn");
    c
}

fn add_admin(state: &Path) {
    let mut child = vine()
        .args([
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("vine runs");
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "vine user add");
}

/// Starts the agent and returns it with its HTTP URL.
fn start(state: &Path, host_file: &Path) -> (Agent, String) {
    let mut child = vine()
        .args(["agent", "--class-prefix", "Xen", "--test-host"])
        .arg(host_file)
        .args([
            "--http",
            "127.0.0.1:0",
            "--https",
            "off",
            "--host-name",
            "xen-a",
        ])
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let agent = Agent(child);
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("vine agent exited before announcing its address");
        }
        if let Some(url) = line.trim().strip_prefix("wbem: ") {
            if url.starts_with("http://") {
                let url = url.to_string();
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
                return (agent, url);
            }
        }
    }
}

fn validate(name: &str, doc: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, doc).unwrap();
    let out = Command::new("virt-xml-validate")
        .arg(&file)
        .arg("domain")
        .output()
        .unwrap_or_else(|e| {
            panic!("virt-xml-validate cannot run ({e}); ./deploy/setup.sh installs libvirt-clients")
        });
    assert!(
        out.status.success(),
        "libvirt's schema rejects the {name} XML:\n{}{}\n{doc}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rasd(kind: &str) -> CimInstance {
    CimInstance::new(format!("Xen_{kind}ResourceAllocationSettingData"))
}

fn rc(r: &vine_cimxml::MethodResponse) -> u32 {
    match r.return_value {
        Some(CimValue::Uint32(n)) => n,
        ref other => panic!("return value {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paravirtualized_xen_guest_through_the_xen_classes() {
    let dir = tempfile::tempdir().unwrap();
    add_admin(dir.path());
    let host_file = dir.path().join("xen-a.xml");
    let (mut agent, url) = start(dir.path(), &host_file);
    let pool = dir.path().join("xen-a-images");
    let client = WbemClient::new(&ClientConfig {
        url,
        user: "admin".into(),
        password: PASSWORD.into(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(30),
    })
    .unwrap();

    let vsms = client
        .enumerate_instance_names(NS, "Xen_VirtualSystemManagementService")
        .await
        .unwrap()
        .pop()
        .expect("a Xen management service");
    let vsms = MethodTarget::Instance(vsms.with_namespace(NS));
    let vssd = CimInstance::new("Xen_VirtualSystemSettingData")
        .with("VirtualSystemIdentifier", "pv")
        .with("ElementName", "pv")
        .with("IsFullVirt", false)
        .with("Kernel", "/var/lib/xen/vmlinuz-pv")
        .with("Ramdisk", "/var/lib/xen/initrd-pv")
        .with("CommandLine", "root=/dev/xvda1 console=hvc0");
    let disk = pool.join("pv.img").display().to_string();
    let rasds = vec![
        rasd("Proc")
            .with("ResourceType", 3u16)
            .with("VirtualQuantity", 2u64),
        rasd("Mem")
            .with("ResourceType", 4u16)
            .with("VirtualQuantity", 512u64)
            .with("AllocationUnits", "byte*2^20"),
        rasd("Disk")
            .with("ResourceType", 17u16)
            .with("VirtualDevice", "xvda")
            .with("BusType", "xen")
            .with("Address", disk.as_str()),
        rasd("Net")
            .with("ResourceType", 10u16)
            .with("NetworkType", "network")
            .with("PoolID", "NetworkPool/default"),
    ];
    let params = |vssd: CimInstance, rasds: Vec<CimInstance>| {
        vec![
            CimParamValue::new("SystemSettings", vssd),
            CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(rasds.into_iter().map(CimValue::from).collect()),
            ),
        ]
    };
    let r = client
        .invoke_method(vsms.clone(), "DefineSystem", params(vssd, rasds.clone()))
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);

    // A PV guest needs a kernel or a bootloader: said so, nothing defined.
    let bare = CimInstance::new("Xen_VirtualSystemSettingData")
        .with("VirtualSystemIdentifier", "bare")
        .with("IsFullVirt", false);
    let err = client
        .invoke_method(
            vsms.clone(),
            "DefineSystem",
            params(bare, rasds[..2].to_vec()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::InvalidParameter), "{err}");
    assert!(err.to_string().contains("Kernel or Bootloader"), "{err}");

    // Xen classes all the way: the system, its settings, its devices.
    let systems = client
        .enumerate_instances(NS, "CIM_ComputerSystem", &EnumArgs::default())
        .await
        .unwrap();
    let pv = systems
        .iter()
        .find(|s| s.get_str("Name") == Some("pv"))
        .expect("pv is listed");
    assert!(pv.class_name.matches("Xen_ComputerSystem"), "{pv:?}");
    assert_eq!(pv.get("EnabledState"), Some(&CimValue::Uint16(3)));
    let vssd = client
        .get_instance(
            NS,
            &CimInstanceName::new("Xen_VirtualSystemSettingData")
                .with_key("InstanceID", "Xen:pv")
                .with_namespace(NS),
            &EnumArgs::default(),
        )
        .await
        .unwrap();
    assert_eq!(vssd.get("IsFullVirt"), Some(&CimValue::Boolean(false)));
    assert_eq!(vssd.get_str("Kernel"), Some("/var/lib/xen/vmlinuz-pv"));
    assert_eq!(
        vssd.get_str("CommandLine"),
        Some("root=/dev/xvda1 console=hvc0")
    );
    let sys = pv.path.clone().unwrap().with_namespace(NS);
    let r = client
        .invoke_method(
            MethodTarget::Instance(sys.clone()),
            "RequestStateChange",
            vec![CimParamValue::new("RequestedState", 2u16)],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let pv = client
        .get_instance(NS, &sys, &EnumArgs::default())
        .await
        .unwrap();
    assert_eq!(pv.get("EnabledState"), Some(&CimValue::Uint16(2)));

    // Stop the agent: it writes the host back; read the guest from there.
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(agent.0.id() as i32, libc::SIGTERM) };
    let status = agent.0.wait().unwrap();
    assert!(status.success(), "the agent stops cleanly: {status}");
    let uri = format!("test://{}", host_file.display());
    let hv = LibvirtHypervisor::open(&uri).unwrap();
    let spec = hv.domain_spec("pv").unwrap();
    match &spec.os {
        OsKind::XenPv {
            kernel, cmdline, ..
        } => {
            assert_eq!(kernel.as_deref(), Some("/var/lib/xen/vmlinuz-pv"));
            assert_eq!(cmdline.as_deref(), Some("root=/dev/xvda1 console=hvc0"));
        }
        other => panic!("pv came back as {other:?}"),
    }
    let defined = hv.domain_xml("pv").unwrap();
    assert!(defined.contains(">xen</type>"), "{defined}");
    validate("pv-test-driver", &defined);
    // What the agent gives a real Xen host for the same guest.
    let for_xen = xml::render(DriverKind::Xen, &spec, None);
    assert!(for_xen.contains("type='xen'") || for_xen.contains("type=\"xen\""));
    assert!(
        for_xen.contains("<kernel>/var/lib/xen/vmlinuz-pv</kernel>"),
        "{for_xen}"
    );
    validate("pv-xen", &for_xen);
}
