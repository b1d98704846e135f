//! Migration to another vine agent through its CIM interface, for hosts
//! this process cannot reach through libvirt: test-driver hosts of other
//! processes (each keeps its host in its own memory), or any host whose
//! agent is known by its WBEM URL (`vine agent --peer b=http://b:15988`).
//!
//! The move is offline, in steps that never leave the VM running twice
//! nor defined nowhere:
//! 1. check: the peer serves the same class prefix, has no VM of that
//!    name, and its primordial processor and memory pools can take it;
//! 2. define the VM on the peer (DefineSystem with the VM's own VSSD and
//!    RASDs, UUID and MAC addresses kept; disks must be on storage both
//!    hosts share, inside the peer's storage pools);
//! 3. stop it here (if it runs), then start it there (and pause it if it
//!    was paused); a failure here undoes step 2 and restarts it here;
//! 4. undefine it here.

use std::time::Duration;

use vine_cim::{CimError, CimInstance, CimInstanceName, CimParamValue, CimResult, CimValue};
use vine_cimxml::MethodTarget;
use vine_hypervisor::{DomainSpec, DomainState};
use vine_wbem::client::{ClientConfig, ClientError, EnumArgs, TlsVerify, WbemClient};

use crate::context::VirtContext;
use crate::rasd;
use crate::view::DomainView;
use crate::VIRT_NS;

/// How long one call to a peer may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The user and password this agent logs in to its peers with.
#[derive(Clone, Debug)]
pub struct PeerLogin {
    pub user: String,
    pub password: String,
    /// CA certificate(s) for `https://` peers; `None` accepts any
    /// certificate (first contact, tests).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Whether a destination names a vine agent (a WBEM URL) rather than a
/// libvirt URI.
pub fn is_agent_url(dest: &str) -> bool {
    let d = dest.trim();
    d.starts_with("http://") || d.starts_with("https://")
}

fn peer_err(url: &str, what: &str, e: ClientError) -> CimError {
    match e {
        ClientError::Cim(c) => CimError::new(c.status, format!("{url}: {what}: {}", c.description)),
        other => CimError::failed(format!("{url}: {what}: {other}")),
    }
}

/// A connection to a peer agent.
pub struct PeerAgent {
    pub url: String,
    client: WbemClient,
    prefix: String,
}

impl PeerAgent {
    pub fn connect(ctx: &VirtContext, url: &str) -> CimResult<PeerAgent> {
        let login = ctx.peer_login.as_ref().ok_or_else(|| {
            CimError::invalid_parameter(format!(
                "{url} is a vine agent, but this agent has no peer login: start it with \
                 --peer-user and --peer-password-file"
            ))
        })?;
        let client = WbemClient::new(&ClientConfig {
            url: url.to_string(),
            user: login.user.clone(),
            password: login.password.clone(),
            tls: match &login.ca_file {
                Some(f) => TlsVerify::CaFile(f.clone()),
                None => TlsVerify::Insecure,
            },
            timeout: CALL_TIMEOUT,
        })
        .map_err(|e| CimError::invalid_parameter(format!("peer {url}: {e}")))?;
        Ok(PeerAgent {
            url: url.to_string(),
            client,
            prefix: ctx.prefix.clone(),
        })
    }

    fn class(&self, base: &str) -> String {
        format!("{}_{base}", self.prefix)
    }

    /// The peer's path of VM `dom`.
    pub fn system_path(&self, dom: &str) -> CimInstanceName {
        let cls = self.class("ComputerSystem");
        CimInstanceName::new(cls.as_str())
            .with_key("CreationClassName", cls.as_str())
            .with_key("Name", dom)
            .with_namespace(VIRT_NS)
    }

    /// The peer's one instance path of class `base`.
    async fn only(&self, base: &str) -> CimResult<CimInstanceName> {
        let class = self.class(base);
        let mut names = self
            .client
            .enumerate_instance_names(VIRT_NS, &class)
            .await
            .map_err(|e| match e.cim_status() {
                Some(vine_cim::CimStatus::InvalidClass) => CimError::failed(format!(
                    "{}: the peer has no class {class}: it serves another class prefix",
                    self.url
                )),
                _ => peer_err(&self.url, &format!("listing {class}"), e),
            })?;
        let mut n = names
            .pop()
            .ok_or_else(|| CimError::failed(format!("{}: the peer has no {class}", self.url)))?;
        if n.namespace.is_none() {
            n.namespace = Some(VIRT_NS.to_string());
        }
        Ok(n)
    }

    /// The peer's host name (`<P>_HostSystem.Name`).
    pub async fn host_name(&self) -> CimResult<String> {
        let host = self.only("HostSystem").await?;
        Ok(host.key_str("Name").unwrap_or_default().to_string())
    }

    /// Capacity − Reserved of the peer's primordial pool `id` of `base`.
    async fn free_in(&self, base: &str, id: &str) -> CimResult<u64> {
        let pools = self
            .client
            .enumerate_instances(VIRT_NS, &self.class(base), &EnumArgs::default())
            .await
            .map_err(|e| peer_err(&self.url, &format!("reading {base}"), e))?;
        let pool = pools
            .iter()
            .find(|p| p.get_str("InstanceID") == Some(id))
            .ok_or_else(|| CimError::failed(format!("{}: the peer has no {id}", self.url)))?;
        let n = |p: &str| match pool.get(p) {
            Some(v) => v.as_i128().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            None => 0,
        };
        Ok(n("Capacity").saturating_sub(n("Reserved")))
    }

    /// Why the peer cannot take `spec` (named `dom`), or `Ok`.
    pub async fn check(&self, spec: &DomainSpec) -> CimResult<()> {
        self.host_name().await?;
        match self
            .client
            .get_instance(VIRT_NS, &self.system_path(&spec.name), &EnumArgs::default())
            .await
        {
            Ok(_) => {
                return Err(CimError::failed(format!(
                    "a VM named {} already exists on {}; rename or remove one of them",
                    spec.name, self.url
                )))
            }
            Err(e) if e.cim_status() == Some(vine_cim::CimStatus::NotFound) => {}
            Err(e) => return Err(peer_err(&self.url, "looking for the VM", e)),
        }
        let cpus = self
            .free_in("ProcessorPool", crate::paths::PROCESSOR_POOL_ID)
            .await?;
        if u64::from(spec.vcpus) > cpus {
            return Err(CimError::failed(format!(
                "{} needs {} vCPUs but {} has {cpus} unreserved",
                spec.name, spec.vcpus, self.url
            )));
        }
        let kib = self
            .free_in("MemoryPool", crate::paths::MEMORY_POOL_ID)
            .await?;
        if spec.memory_kib > kib {
            return Err(CimError::failed(format!(
                "{} needs {} KiB of memory but {} has {kib} KiB unreserved",
                spec.name, spec.memory_kib, self.url
            )));
        }
        Ok(())
    }

    async fn invoke(
        &self,
        target: CimInstanceName,
        method: &str,
        params: Vec<CimParamValue>,
    ) -> CimResult<vine_cimxml::MethodResponse> {
        self.client
            .invoke_method(MethodTarget::Instance(target), method, params)
            .await
            .map_err(|e| peer_err(&self.url, method, e))
    }

    /// DefineSystem on the peer with `vssd` and `rasds`.
    async fn define(&self, vssd: CimInstance, rasds: Vec<CimInstance>) -> CimResult<()> {
        let vsms = self.only("VirtualSystemManagementService").await?;
        let r = self
            .invoke(
                vsms,
                "DefineSystem",
                vec![
                    CimParamValue::new("SystemSettings", vssd),
                    CimParamValue::new(
                        "ResourceSettings",
                        CimValue::Array(rasds.into_iter().map(CimValue::from).collect()),
                    ),
                ],
            )
            .await?;
        expect_zero(&self.url, "DefineSystem", &r)
    }

    /// RequestStateChange on the peer's VM `dom`.
    async fn request_state(&self, dom: &str, state: u16) -> CimResult<()> {
        let r = self
            .invoke(
                self.system_path(dom),
                "RequestStateChange",
                vec![CimParamValue::new("RequestedState", state)],
            )
            .await?;
        expect_zero(&self.url, &format!("RequestStateChange({state})"), &r)
    }

    /// DestroySystem on the peer's VM `dom` (undoing a define).
    async fn destroy(&self, dom: &str) -> CimResult<()> {
        let vsms = self.only("VirtualSystemManagementService").await?;
        let r = self
            .invoke(
                vsms,
                "DestroySystem",
                vec![CimParamValue::new(
                    "AffectedSystem",
                    CimValue::Reference(Box::new(self.system_path(dom))),
                )],
            )
            .await?;
        expect_zero(&self.url, "DestroySystem", &r)
    }
}

fn expect_zero(url: &str, what: &str, r: &vine_cimxml::MethodResponse) -> CimResult<()> {
    match &r.return_value {
        Some(v) if v.as_i128() == Some(0) => Ok(()),
        other => Err(CimError::failed(format!(
            "{url}: {what} returned {}",
            other
                .as_ref()
                .and_then(|v| v.as_i128())
                .map_or_else(|| "no value".to_string(), |n| n.to_string())
        ))),
    }
}

/// The VSSD and RASDs that define `spec` on a peer: the VM's own, with
/// pool choices dropped (the peer's child pools are its own).
pub fn definition(
    ctx: &VirtContext,
    v: &DomainView,
    spec: &DomainSpec,
) -> (CimInstance, Vec<CimInstance>) {
    let mut vssd = rasd::vssd_instance(ctx, spec, &v.info.uuid);
    vssd.path = None;
    let rasds = rasd::rasd_instances(ctx, spec, None)
        .into_iter()
        .map(|mut r| {
            r.path = None;
            let pool = r.get_str("PoolID").unwrap_or_default();
            if pool.starts_with("ProcessorPool/") || pool.starts_with("MemoryPool/") {
                r.properties.retain(|p| !p.name.matches("PoolID"));
            }
            r
        })
        .collect();
    (vssd, rasds)
}

/// Moves VM `v` (to be defined as `spec`) to `peer` as the module doc
/// says; `progress` reports each step.
pub async fn migrate(
    ctx: &VirtContext,
    peer: &PeerAgent,
    v: &DomainView,
    spec: &DomainSpec,
    progress: &(dyn Fn(u16, &str) + Send + Sync),
) -> CimResult<()> {
    let dom = spec.name.clone();
    let state = v.info.state;
    peer.check(spec).await?;
    progress(20, &format!("defining {dom} on {}", peer.url));
    let (vssd, rasds) = definition(ctx, v, spec);
    peer.define(vssd, rasds).await?;

    if state.is_active() {
        progress(40, &format!("stopping {dom} here"));
        let d = dom.clone();
        if let Err(e) = ctx.call(move |hv| hv.destroy(&d)).await {
            let undo = peer.destroy(&dom).await;
            return Err(CimError::failed(format!(
                "cannot stop {dom} here: {}; it keeps running here{}",
                e.description,
                undone(&undo, &peer.url)
            )));
        }
    }
    progress(60, &format!("starting {dom} on {}", peer.url));
    let started = match state {
        DomainState::Paused => match peer.request_state(&dom, 2).await {
            Ok(()) => peer.request_state(&dom, 9).await,
            Err(e) => Err(e),
        },
        s if s.is_active() => peer.request_state(&dom, 2).await,
        _ => Ok(()),
    };
    if let Err(e) = started {
        let undo = peer.destroy(&dom).await;
        let back = if state.is_active() {
            let d = dom.clone();
            ctx.call(move |hv| {
                hv.start(&d)?;
                if state == DomainState::Paused {
                    hv.suspend(&d)?;
                }
                Ok(())
            })
            .await
        } else {
            Ok(())
        };
        return Err(CimError::failed(format!(
            "{dom} could not be started on {}: {}; {}{}",
            peer.url,
            e.description,
            match back {
                Ok(()) => format!("it is back here ({})", state.as_str()),
                Err(b) => format!("restarting it here failed too: {}", b.description),
            },
            undone(&undo, &peer.url)
        )));
    }
    progress(90, &format!("removing {dom} from this host"));
    let d = dom.clone();
    ctx.call(move |hv| hv.undefine(&d)).await.map_err(|e| {
        CimError::failed(format!(
            "{dom} now runs on {} but its stopped definition stays here: {}; \
             remove it with DestroySystem",
            peer.url, e.description
        ))
    })
}

fn undone(undo: &CimResult<()>, url: &str) -> String {
    match undo {
        Ok(()) => String::new(),
        Err(e) => format!(
            "; removing the copy on {url} failed: {} — remove it there with DestroySystem",
            e.description
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_named_by_wbem_urls() {
        assert!(is_agent_url("http://127.0.0.1:15988"));
        assert!(is_agent_url(" https://b:15989/cimom"));
        assert!(!is_agent_url("test:///tmp/b.xml"));
        assert!(!is_agent_url("qemu+ssh://b/system"));
        assert!(!is_agent_url("b"));
    }
}
