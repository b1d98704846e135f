//! Waking hosts the manager powered off: Wake-on-LAN magic packets, or an
//! administrator's command (a BMC: `ipmitool … chassis power on`).
//!
//! Powering off goes through the host's own agent (see
//! [`crate::vni::power`]); a host that is off has no agent, so waking it
//! is the manager's.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// How the manager wakes hosts, and how long it waits for them.
#[derive(Clone, Debug)]
pub struct PowerConfig {
    /// Where magic packets go (`--wol-address`): the broadcast address of
    /// the hosts' network, UDP port 9 by convention.
    pub wol_target: SocketAddr,
    /// Run instead of Wake-on-LAN when set (`--power-on-command`), by
    /// `sh -c`, with VINE_HOST and VINE_MAC in its environment.
    pub on_command: Option<String>,
    /// How long a host may take to go silent after accepting a power-off,
    /// or to answer after being woken (`--power-timeout`).
    pub timeout: Duration,
    /// How often a waking host is asked whether it is up (and, for
    /// Wake-on-LAN, how often the packet is sent again: packets are lost).
    pub poll: Duration,
}

impl Default for PowerConfig {
    fn default() -> Self {
        PowerConfig {
            wol_target: SocketAddr::from(([255, 255, 255, 255], 9)),
            on_command: None,
            timeout: Duration::from_secs(600),
            poll: Duration::from_secs(2),
        }
    }
}

/// A MAC address from `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (any
/// case), or what is wrong with it.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad =
        || format!("`{s}` is not a MAC address: write six hex pairs such as 52:54:00:12:34:56");
    let sep = if s.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (slot, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *slot = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac == [0; 6] || mac == [0xff; 6] {
        return Err(format!("`{s}` cannot be a host's MAC address"));
    }
    Ok(mac)
}

/// `mac` as stored: lowercase, colon-separated.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The Wake-on-LAN magic packet for `mac`: six 0xFF bytes, then the MAC
/// sixteen times.
pub fn magic_packet(mac: &[u8; 6]) -> [u8; 102] {
    let mut p = [0xffu8; 102];
    for chunk in p[6..].chunks_exact_mut(6) {
        chunk.copy_from_slice(mac);
    }
    p
}

/// Sends `mac`'s magic packet to `target` (broadcast allowed).
pub fn send_magic_packet(target: SocketAddr, mac: &[u8; 6]) -> std::io::Result<()> {
    let bind: SocketAddr = if target.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(bind)?;
    socket.set_broadcast(true)?;
    socket.send_to(&magic_packet(mac), target)?;
    Ok(())
}

/// Runs the power-on command for `host` (and its MAC, when known); its
/// failure is the command's stderr.
pub async fn run_on_command(cmd: &str, host: &str, mac: Option<&str>) -> Result<(), String> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("VINE_HOST", host)
        .env("VINE_MAC", mac.unwrap_or(""))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run the power-on command: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "the power-on command ({cmd}) failed ({}): {}",
            out.status,
            err.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_in_both_spellings_and_bad_ones_say_how_to_write_them() {
        let m = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
        assert_eq!(parse_mac("52:54:00:ab:cd:ef"), Ok(m));
        assert_eq!(parse_mac("52-54-00-AB-CD-EF"), Ok(m));
        assert_eq!(format_mac(&m), "52:54:00:ab:cd:ef");
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:01",
            "52:54:00:ab:cd:eg",
            "5:254:00:ab:cd:ef",
            "52:54-00:ab:cd:ef",
        ] {
            let e = parse_mac(bad).unwrap_err();
            assert!(e.contains("six hex pairs"), "{bad}: {e}");
        }
        assert!(parse_mac("00:00:00:00:00:00").is_err());
        assert!(parse_mac("ff:ff:ff:ff:ff:ff").is_err());
    }

    #[test]
    fn a_magic_packet_is_sync_bytes_then_the_mac_sixteen_times() {
        let m = [1, 2, 3, 4, 5, 6];
        let p = magic_packet(&m);
        assert_eq!(&p[..6], &[0xff; 6]);
        for i in 0..16 {
            assert_eq!(&p[6 + 6 * i..12 + 6 * i], &m);
        }
    }

    #[test]
    fn a_magic_packet_reaches_a_udp_listener() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let m = [0x52, 0x54, 0, 1, 2, 3];
        send_magic_packet(rx.local_addr().unwrap(), &m).unwrap();
        let mut buf = [0u8; 200];
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &magic_packet(&m)[..]);
    }

    #[tokio::test]
    async fn the_power_on_command_gets_host_and_mac_and_its_failure_is_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("woke");
        let cmd = format!("echo \"$VINE_HOST $VINE_MAC\" > {}", f.display());
        run_on_command(&cmd, "h1", Some("52:54:00:00:00:01"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "h1 52:54:00:00:00:01\n"
        );
        let e = run_on_command("echo no bmc >&2; exit 3", "h1", None)
            .await
            .unwrap_err();
        assert!(e.contains("no bmc") && e.contains('3'), "{e}");
    }
}
