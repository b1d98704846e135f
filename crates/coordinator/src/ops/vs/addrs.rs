//! Where a virtual server's node serves. The Virtual Node Interface says
//! nothing about guest addresses (libvirt knows a guest's address only
//! through a DHCP lease or a guest agent, and neither is in the DMTF
//! profiles the agents implement), so the address comes from what the VM
//! publishes: [`AddrFile`], a small text file in the manager's state
//! directory that a guest hook, a DHCP hook, an operator or a test writes.
//!
//! The file has one line per node, `<vm> <address>` or
//! `<host>/<vm> <address>`; `#` starts a comment. The address is
//! `ip:port`, or a bare `ip` served on the virtual server's node port (80
//! when it has none). The file is read on every lookup, so a change is
//! seen at the next health round without a restart.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

/// The port a node serves on when neither it nor its virtual server says.
const DEFAULT_NODE_PORT: u16 = 80;

/// Finds the address a node serves on.
#[async_trait]
pub trait NodeAddrs: Send + Sync {
    /// The address of VM `vm` on `host`, or `None` while it has published
    /// none. `port` is the virtual server's node port, for addresses
    /// published without one.
    async fn resolve(&self, host: &str, vm: &str, port: Option<u16>) -> Option<SocketAddr>;
}

/// Knows no address: nodes run but cannot be put behind the front end.
pub struct NoAddrs;

#[async_trait]
impl NodeAddrs for NoAddrs {
    async fn resolve(&self, _host: &str, _vm: &str, _port: Option<u16>) -> Option<SocketAddr> {
        None
    }
}

/// Addresses published in a text file (format in the module docs).
pub struct AddrFile {
    path: PathBuf,
}

impl AddrFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AddrFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that `vm` serves on `addr` (replacing an earlier line for
    /// it). The file is replaced whole (write, then rename), so a reader
    /// never sees half of it. For tests and tools; concurrent publishers
    /// must take turns.
    pub fn publish(&self, vm: &str, addr: &str) -> std::io::Result<()> {
        if vm.is_empty() || vm.contains(char::is_whitespace) || addr.contains(char::is_whitespace) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "node names and addresses have no spaces",
            ));
        }
        let old = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut text: String = old
            .lines()
            .filter(|l| l.split_whitespace().next() != Some(vm))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&format!("{vm} {addr}\n"));
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = self.path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[async_trait]
impl NodeAddrs for AddrFile {
    async fn resolve(&self, host: &str, vm: &str, port: Option<u16>) -> Option<SocketAddr> {
        let text = tokio::fs::read_to_string(&self.path).await.ok()?;
        lookup(&text, host, vm, port)
    }
}

/// The address file text `text` gives node `vm` on `host`: its
/// `<host>/<vm>` line, else its `<vm>` line; `None` when neither gives a
/// usable address.
pub fn lookup(text: &str, host: &str, vm: &str, port: Option<u16>) -> Option<SocketAddr> {
    let table = parse(text);
    let found = table
        .get(&format!("{host}/{vm}"))
        .or_else(|| table.get(vm))?;
    to_addr(found, port)
}

/// The file's lines as key → address text (later lines win).
fn parse(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

fn to_addr(text: &str, port: Option<u16>) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip: IpAddr = text.parse().ok()?;
    Some(SocketAddr::new(ip, port.unwrap_or(DEFAULT_NODE_PORT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_qualified_lines_win_and_bare_ips_take_the_node_port() {
        let dir = tempfile::tempdir().unwrap();
        let f = AddrFile::new(dir.path().join("node-addrs"));
        assert_eq!(f.resolve("a", "web-1", None).await, None, "no file yet");
        std::fs::write(
            f.path(),
            "# published by guests\nweb-1 10.0.0.5\nb/web-1 10.0.0.9:8080\nweb-2 bogus\n\n",
        )
        .unwrap();
        assert_eq!(
            f.resolve("a", "web-1", Some(8000)).await,
            Some("10.0.0.5:8000".parse().unwrap())
        );
        assert_eq!(
            f.resolve("a", "web-1", None).await,
            Some("10.0.0.5:80".parse().unwrap())
        );
        assert_eq!(
            f.resolve("b", "web-1", Some(8000)).await,
            Some("10.0.0.9:8080".parse().unwrap())
        );
        assert_eq!(f.resolve("a", "web-2", None).await, None, "unparsable");
    }

    #[tokio::test]
    async fn publish_replaces_the_vms_line_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let f = AddrFile::new(dir.path().join("node-addrs"));
        f.publish("web-1", "127.0.0.1:1").unwrap();
        f.publish("web-2", "127.0.0.1:2").unwrap();
        f.publish("web-1", "127.0.0.1:3").unwrap();
        assert_eq!(
            f.resolve("h", "web-1", None).await,
            Some("127.0.0.1:3".parse().unwrap())
        );
        assert_eq!(
            f.resolve("h", "web-2", None).await,
            Some("127.0.0.1:2".parse().unwrap())
        );
        assert!(f.publish("web 3", "x").is_err());
    }
}
