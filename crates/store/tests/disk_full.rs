//! A store that cannot grow: writes fail with an error, and every write that
//! was acknowledged is there after reopening.
//!
//! "Disk full" is simulated without mounting anything: the test re-runs
//! itself as a child under a file size limit (`ulimit -f`, with SIGXFSZ
//! ignored so the kernel returns EFBIG instead of killing the child). The
//! child puts records until a put fails and reports each acknowledgement.

use std::process::{Command, Stdio};

use vine_store::{names, Store, StoreError};

const CHILD_ENV: &str = "VINE_STORE_FILL_DIR";

/// The child half: runs only when re-executed by the parent test.
#[test]
fn fill_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir).unwrap();
    let vms = store.collection::<String>(names::VMS).unwrap();
    let payload = "x".repeat(4096);
    for i in 0..100_000 {
        let id = format!("vm{i:06}");
        match vms.put(&id, &payload) {
            Ok(()) => println!("ACK {id}"),
            Err(e) => {
                let kind = match e {
                    StoreError::NoSpace { .. } => "NoSpace",
                    StoreError::Write { .. } => "Write",
                    _ => "Other",
                };
                println!("ERR {kind} {e}");
                eprintln!("child error: {e:?}");
                // Later writes must keep failing, not half-succeed.
                match vms.put("after-error", &payload) {
                    Ok(()) => println!("ACK after-error"),
                    Err(_) => println!("ERR-AGAIN"),
                }
                return;
            }
        }
    }
    println!("NEVER-FILLED");
}

#[test]
fn writes_fail_cleanly_when_the_store_cannot_grow() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // 8192 blocks: 4 MiB (dash counts 512-byte blocks) or 8 MiB (bash, 1 KiB).
    let script = r#"trap '' XFSZ; ulimit -f 8192 && exec "$0" --exact fill_child --nocapture --test-threads 1"#;
    let child = Command::new("sh")
        .args(["-c", script])
        .arg(&exe)
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acked: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ACK "))
        .collect();
    let err = stdout.lines().find(|l| l.starts_with("ERR "));
    eprintln!(
        "child: status {:?}, {} acknowledged, error line: {err:?}",
        output.status,
        acked.len()
    );
    assert!(
        !stdout.contains("NEVER-FILLED"),
        "the size limit did not bite"
    );
    assert!(
        output.status.success(),
        "child died instead of returning an error:\n{stdout}"
    );
    let err = err.expect("a failing put");
    assert!(
        err.starts_with("ERR NoSpace no space left writing vms/"),
        "{err}"
    );
    assert!(
        !acked.contains(&"after-error"),
        "a write after the failure was acknowledged"
    );

    let store = Store::open(dir.path()).unwrap();
    let vms = store.collection::<String>(names::VMS).unwrap();
    for id in &acked {
        assert!(vms.get(id).unwrap().is_some(), "acknowledged {id} lost");
    }
}
