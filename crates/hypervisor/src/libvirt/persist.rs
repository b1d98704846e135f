//! Test-driver hosts live in memory; this writes one back to a host file
//! so an agent restarted on the same file finds the domains it had.

use std::path::Path;

use virt::sys;

use super::{domains, xml_parse, xmltree, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::testhost::{self, Volume, NAME_MARK};
use crate::types::DriverKind;
use crate::Hypervisor;

/// The host name of a test URI: the name written in its host file, else
/// the file's stem.
pub(crate) fn test_host_name(uri: &str) -> String {
    // `test:///abs/h.xml`, or through a daemon `test+unix:///default?socket=…`.
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let path = rest.split('?').next().unwrap_or(rest);
    if path == "/default" {
        return "test-default".into();
    }
    let from_file = std::fs::read_to_string(path).ok().and_then(|text| {
        let start = text.find(NAME_MARK)? + NAME_MARK.len();
        let end = text[start..].find("-->")? + start;
        Some(text[start..end].trim().to_string())
    });
    from_file.unwrap_or_else(|| {
        Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "test".into())
    })
}

fn io_err(path: &Path, e: std::io::Error) -> HvError {
    HvError::Libvirt {
        code: 0,
        message: format!("cannot write test host file {}: {e}", path.display()),
    }
}

impl LibvirtHypervisor {
    /// Writes this test host (CPUs, memory, networks, its first storage
    /// pool with volumes, every domain's definition and run state) to
    /// `path` in the test driver's format. Snapshots are not kept.
    pub fn save_test_host(&self, path: &Path) -> HvResult<()> {
        if self.kind() != DriverKind::Test {
            return Err(HvError::Unsupported {
                driver: self.kind().as_str().into(),
                what: "saving the host to a file (test driver only)".into(),
            });
        }
        let conn = self.conn()?;
        let err = |e| self.host_err(e, "save the test host");
        let node = conn.node_info().map_err(err)?;

        let mut networks = Vec::new();
        for n in conn.list_all_networks(0).map_err(err)? {
            networks.push(n.xml_desc(0).map_err(err)?);
        }

        let mut pool: Option<(String, String, u64, Vec<Volume>)> = None;
        if let Some(p) = conn.list_all_storage_pools(0).map_err(err)?.first() {
            let root =
                xmltree::parse(&p.xml_desc(0).map_err(err)?).map_err(|e| HvError::Libvirt {
                    code: 0,
                    message: format!("unreadable storage pool: {e}"),
                })?;
            let mut vols = Vec::new();
            for v in p.list_all_volumes(0).map_err(err)? {
                let Ok(vx) = xmltree::parse(&v.xml_desc(0).map_err(err)?) else {
                    continue;
                };
                let size = |n: &str| {
                    vx.child(n)
                        .and_then(|c| xml_parse::bytes(c).ok())
                        .unwrap_or(0)
                };
                vols.push(Volume {
                    name: vx.text_at("name").unwrap_or_default().to_string(),
                    capacity: size("capacity"),
                    allocation: size("allocation"),
                    format: vx
                        .path("target/format")
                        .and_then(|f| f.attr("type"))
                        .map(str::to_string),
                });
            }
            pool = Some((
                root.text_at("name").unwrap_or("default").to_string(),
                root.text_at("target/path").unwrap_or_default().to_string(),
                root.child("capacity")
                    .and_then(|c| xml_parse::bytes(c).ok())
                    .unwrap_or(1 << 40),
                vols,
            ));
        }

        let mut doms = Vec::new();
        for d in conn.list_all_domains(0).map_err(err)? {
            let name = d.name().map_err(err)?;
            let st = domains::state(&d).map_err(|e| self.dom_err(e, "save", &name))?;
            let persistent = d
                .is_persistent()
                .map_err(|e| self.dom_err(e, "save", &name))?;
            // The definition is what comes back after a restart; a
            // transient domain only has its running form.
            let flags = if persistent {
                sys::VIR_DOMAIN_XML_INACTIVE
            } else {
                0
            };
            let xml = d
                .xml_desc(flags)
                .map_err(|e| self.dom_err(e, "save", &name))?;
            let mut extra = format!(
                "  <test:runstate>{}</test:runstate>",
                testhost::runstate(st)
            );
            if !persistent {
                extra.push_str("<test:transient/>");
            }
            doms.push(testhost::with_test_elements(&xml, &extra));
        }

        let name = self.host_info()?.hostname;
        let xml = testhost::node_xml(
            &name,
            node.cpus,
            node.memory,
            node.mhz,
            &networks,
            pool.as_ref()
                .map(|(n, p, c, v)| (n.as_str(), p.as_str(), *c, v.as_slice())),
            &doms,
        );
        testhost::write_atomically(path, &xml).map_err(|e| io_err(path, e))?;
        tracing::debug!(uri = self.uri(), path = %path.display(), "test host saved");
        Ok(())
    }
}
