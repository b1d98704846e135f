//! Test hosts in temporary directories.

#![allow(dead_code)]

use std::sync::Arc;

use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
use vine_hypervisor::LibvirtHypervisor;

/// A test-driver host backed by a file in its own temporary directory.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub spec: TestHostSpec,
    pub uri: String,
    pub hv: Arc<LibvirtHypervisor>,
}

impl Host {
    pub fn pool_path(&self, file: &str) -> String {
        self.spec.pool_dir.join(file).display().to_string()
    }
}

/// A host named `name` with 8 CPUs, 16 GiB and `vms` running sample VMs.
pub fn host(name: &str, vms: u32) -> Host {
    host_with(name, vms, |s| s)
}

pub fn host_with(name: &str, vms: u32, f: impl FnOnce(TestHostSpec) -> TestHostSpec) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let spec =
        f(TestHostSpec::new(name, 8, 16 * 1024, dir.path().join("pool")).with_sample_vms(vms));
    let file = dir.path().join(format!("{name}.xml"));
    write_host_file(&file, &spec).unwrap();
    let uri = host_uri(&file);
    let hv = LibvirtHypervisor::open(&uri).unwrap();
    Host { dir, spec, uri, hv }
}
