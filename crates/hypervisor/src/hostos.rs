//! The operating system of the machine the hypervisor runs on, read from
//! `/etc/os-release` and `/proc` (libvirt does not report it). Only a
//! local URI describes this machine; the parsers are pure and unit-tested.

use std::path::Path;

use crate::error::{HvError, HvResult};
use crate::types::HostOs;

/// Whether `uri` names a hypervisor on this machine: no host between
/// `//` and the path (`qemu:///system`, `test:///h.xml`,
/// `test+unix:///default?socket=…`), unlike `qemu+ssh://h/system`.
pub fn is_local_uri(uri: &str) -> bool {
    match uri.split_once("://") {
        Some((_, rest)) => rest.starts_with('/'),
        None => false,
    }
}

/// `PRETTY_NAME` (else `NAME`) of an os-release file, unquoted.
pub(crate) fn os_release_name(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            (!v.is_empty()).then(|| v.to_string())
        })
    };
    field("PRETTY_NAME").or_else(|| field("NAME"))
}

/// The `btime` line of `/proc/stat`: boot time in seconds since the epoch.
pub(crate) fn boot_time(proc_stat: &str) -> Option<i64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `Key:   123 kB` line of `/proc/meminfo`, in KiB.
pub(crate) fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The number of processes: the numeric entries of `/proc`.
fn process_count(proc_dir: &Path) -> Option<u32> {
    let entries = std::fs::read_dir(proc_dir).ok()?;
    let n = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .count();
    u32::try_from(n).ok()
}

/// This machine's operating system, for the hypervisor at `uri`;
/// [`HvError::Unsupported`] when `uri` names another machine.
pub(crate) fn local_os(uri: &str, driver: &str) -> HvResult<HostOs> {
    if !is_local_uri(uri) {
        return Err(HvError::Unsupported {
            driver: driver.to_string(),
            what: format!("reading the operating system of the remote host behind {uri}"),
        });
    }
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let kernel = read("/proc/sys/kernel/ostype")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let release = read("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let name = read("/etc/os-release")
        .or_else(|| read("/usr/lib/os-release"))
        .and_then(|t| os_release_name(&t))
        .unwrap_or_else(|| kernel.clone());
    let meminfo = read("/proc/meminfo").unwrap_or_default();
    Ok(HostOs {
        name,
        kernel,
        release,
        boot_time: read("/proc/stat").and_then(|s| boot_time(&s)),
        swap_total_kib: meminfo_kib(&meminfo, "SwapTotal"),
        swap_free_kib: meminfo_kib(&meminfo, "SwapFree"),
        processes: process_count(Path::new("/proc")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uris_without_a_host_are_local() {
        assert!(is_local_uri("qemu:///system"));
        assert!(is_local_uri("test:///tmp/a.xml"));
        assert!(is_local_uri("test+unix:///default?socket=/tmp/s"));
        assert!(!is_local_uri("qemu+ssh://h/system"));
        assert!(!is_local_uri("xen+tls://10.0.0.2/system"));
        assert!(!is_local_uri("nonsense"));
    }

    #[test]
    fn os_release_prefers_the_pretty_name() {
        let t = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_release_name(t).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os_release_name("NAME=Alpine\n").as_deref(), Some("Alpine"));
        assert_eq!(os_release_name("PRETTY_NAME=\"\"\nID=x\n"), None);
    }

    #[test]
    fn proc_files_parse() {
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
        let m = "MemTotal:       16384 kB\nSwapTotal:      2048 kB\n";
        assert_eq!(meminfo_kib(m, "SwapTotal"), Some(2048));
        assert_eq!(meminfo_kib(m, "Swap"), None);
    }
}
