//! `vine bench agent`: `vine agent` child processes on libvirt test-driver
//! hosts, measured over loopback.
//!
//! 1. an agent on an empty host and one on a host with N running VMs:
//!    resident memory of each once it serves;
//! 2. EnumerateInstances of CIM_ComputerSystem (deep: the host and the N
//!    VMs) on the second, one connection: ops/s, p50, p99;
//! 3. DefineSystem → RequestStateChange(2) → GetInstance shows
//!    EnabledState 2, one VM at a time: p50, p99.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimValue};
use vine_cimxml::MethodTarget;
use vine_hypervisor::testhost::{write_host_file, TestHostSpec};
use vine_providers_virt::VIRT_NS;
use vine_wbem::client::{EnumArgs, WbemClient};

use crate::bench::{measure, Server, Stats};

/// Flags of `vine bench agent`.
#[derive(Debug, clap::Args)]
pub struct AgentBenchArgs {
    /// Seconds of EnumerateInstances
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Running VMs on the loaded host
    #[arg(long, default_value_t = 200)]
    vms: u32,
    /// VMs defined and started for the latency figure
    #[arg(long, default_value_t = 50)]
    defines: u32,
}

const PREFIX: &str = "KVM";

/// An agent serving a test host with `vms` running sample VMs.
async fn agent(tag: &str, vms: u32) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("vine-bench-agent-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("host.xml");
    // Room for every sample VM (1 vCPU, 512 MiB each) and the defined ones.
    let spec = TestHostSpec::new("bench", 256, 512 * 1024, dir.join("pool")).with_sample_vms(vms);
    write_host_file(&file, &spec).with_context(|| format!("writing {}", file.display()))?;
    let file = file.display().to_string();
    Server::spawn(&["agent", "--test-host", file.as_str()], dir).await
}

/// RSS once the agent has settled (its first monitor samples taken).
async fn settled_rss(s: &Server) -> Option<u64> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.rss_kib()
}

fn define_params(name: &str) -> Vec<CimParamValue> {
    let vssd = CimInstance::new(format!("{PREFIX}_VirtualSystemSettingData"))
        .with("VirtualSystemIdentifier", name)
        .with("ElementName", name);
    let proc = CimInstance::new(format!("{PREFIX}_ProcResourceAllocationSettingData"))
        .with("ResourceType", 3u16)
        .with("VirtualQuantity", 1u64);
    let mem = CimInstance::new(format!("{PREFIX}_MemResourceAllocationSettingData"))
        .with("ResourceType", 4u16)
        .with("VirtualQuantity", 256u64)
        .with("AllocationUnits", "byte*2^20");
    vec![
        CimParamValue::new("SystemSettings", vssd),
        CimParamValue::new(
            "ResourceSettings",
            CimValue::Array(vec![CimValue::from(proc), CimValue::from(mem)]),
        ),
    ]
}

fn rc(v: &Option<CimValue>) -> Option<u32> {
    match v {
        Some(CimValue::Uint32(n)) => Some(*n),
        _ => None,
    }
}

/// One DefineSystem → running, confirmed through GetInstance.
async fn define_and_start(c: &WbemClient, vsms: &CimInstanceName, name: &str) -> Result<()> {
    let vsms = vsms.clone();
    let r = c
        .invoke_method(
            MethodTarget::Instance(vsms),
            "DefineSystem",
            define_params(name),
        )
        .await?;
    if rc(&r.return_value) != Some(0) {
        bail!("DefineSystem {name} returned {:?}", r.return_value);
    }
    let system = r
        .out_params
        .iter()
        .find(|p| p.name.matches("ResultingSystem"))
        .and_then(|p| match &p.value {
            Some(CimValue::Reference(s)) => Some((**s).clone()),
            _ => None,
        })
        .context("DefineSystem gave no ResultingSystem")?;
    let r = c
        .invoke_method(
            MethodTarget::Instance(system.clone()),
            "RequestStateChange",
            vec![CimParamValue::new("RequestedState", 2u16)],
        )
        .await?;
    if rc(&r.return_value) != Some(0) {
        bail!(
            "RequestStateChange(2) of {name} returned {:?}",
            r.return_value
        );
    }
    let cs = c
        .get_instance(VIRT_NS, &system, &EnumArgs::default())
        .await?;
    match cs.get("EnabledState") {
        Some(CimValue::Uint16(2)) => Ok(()),
        other => bail!("{name} is not running after start: EnabledState {other:?}"),
    }
}

/// Runs `vine bench agent`.
pub async fn run(args: AgentBenchArgs) -> Result<()> {
    if args.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    println!(
        "vine bench agent: libvirt test driver, HTTP on loopback, agent in its own process, {} s per line",
        args.seconds
    );
    let empty = agent("0", 0).await?;
    let rss0 = settled_rss(&empty).await;
    drop(empty);
    println!(
        "{:<44} {:>7} KiB",
        "agent RSS, 0 VMs",
        rss0.map(|r| r.to_string()).unwrap_or_else(|| "?".into())
    );

    let loaded = agent("n", args.vms).await?;
    let rss_n = settled_rss(&loaded).await;
    println!(
        "{:<44} {:>7} KiB",
        format!("agent RSS, {} VMs", args.vms),
        rss_n.map(|r| r.to_string()).unwrap_or_else(|| "?".into())
    );
    let client = Arc::new(loaded.client()?);
    let got = client
        .enumerate_instances(VIRT_NS, "CIM_ComputerSystem", &EnumArgs::default())
        .await?
        .len();
    // The host plus every VM.
    if got != args.vms as usize + 1 {
        bail!(
            "expected {} computer systems, the agent returned {got}",
            args.vms + 1
        );
    }
    let mut s = measure(
        1,
        Duration::from_secs(args.seconds),
        vec![client.clone()],
        |c, _| async move {
            c.enumerate_instances(VIRT_NS, "CIM_ComputerSystem", &EnumArgs::default())
                .await?;
            Ok(())
        },
    )
    .await?;
    s.line(
        &format!("EnumerateInstances CIM_ComputerSystem, {} VMs", args.vms),
        loaded.rss_kib(),
    );

    let mut vsms = client
        .enumerate_instance_names(VIRT_NS, &format!("{PREFIX}_VirtualSystemManagementService"))
        .await?
        .into_iter()
        .next()
        .context("the agent has no management service")?;
    vsms.namespace = Some(VIRT_NS.into());
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(args.defines as usize);
    for i in 0..args.defines {
        let t = Instant::now();
        define_and_start(&client, &vsms, &format!("bench-new-{i}")).await?;
        latencies.push(t.elapsed());
    }
    Stats {
        ops: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    }
    .line(
        &format!("DefineSystem→running, {} VMs one by one", args.defines),
        loaded.rss_kib(),
    );
    Ok(())
}
