//! The virtual server's address really balances: HAProxy (installed by
//! deploy/setup.sh) in front of plain HTTP responders that answer with
//! their own name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use vine_coordinator::cluster::{
    Backend, BackendState, Frontend, Haproxy, HaproxyConfig, HealthCheck, LoadBalancer,
};

/// A node: answers every request with its name.
async fn responder(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

/// The node that answered one request through the front end.
async fn get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.expect("front end accepts");
    s.write_all(b"GET / HTTP/1.1\r\nHost: vs\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn spread(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut hits = HashMap::new();
    for _ in 0..n {
        *hits.entry(get(addr).await).or_insert(0) += 1;
    }
    hits
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn frontend(bind: SocketAddr, nodes: &[(&str, SocketAddr)]) -> Frontend {
    Frontend {
        name: "web".into(),
        bind,
        backends: nodes
            .iter()
            .map(|(n, a)| Backend {
                name: (*n).into(),
                addr: *a,
                weight: 1,
            })
            .collect(),
        health: Some(HealthCheck {
            path: "/".into(),
            interval_ms: 200,
            fall: 2,
            rise: 1,
        }),
    }
}

async fn wait_state(lb: &Haproxy, node: &str, want: BackendState) {
    for _ in 0..100 {
        let s = lb.status().await.unwrap();
        if s.iter().any(|x| x.backend == node && x.state == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{node} never became {want:?}: {:?}", lb.status().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_every_node_and_follow_scaling_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let lb = Haproxy::new(HaproxyConfig {
        binary: None,
        dir: dir.path().to_path_buf(),
    })
    .await
    .expect("haproxy is installed by deploy/setup.sh");
    let (a1, _t1) = responder("node-1").await;
    let (a2, t2) = responder("node-2").await;
    let (a3, _t3) = responder("node-3").await;
    let vs = free_port();

    lb.apply(&[frontend(vs, &[("node-1", a1), ("node-2", a2)])])
        .await
        .unwrap();
    for n in ["node-1", "node-2"] {
        wait_state(&lb, n, BackendState::Up).await;
    }
    let hits = spread(vs, 20).await;
    assert_eq!(hits.get("node-1"), Some(&10), "{hits:?}");
    assert_eq!(hits.get("node-2"), Some(&10), "{hits:?}");

    // Scale out: a third node joins behind the same address.
    lb.apply(&[frontend(
        vs,
        &[("node-1", a1), ("node-2", a2), ("node-3", a3)],
    )])
    .await
    .unwrap();
    wait_state(&lb, "node-3", BackendState::Up).await;
    let hits = spread(vs, 30).await;
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.values().all(|&n| n == 10), "{hits:?}");

    // A node dies: health checks take it out, clients never see it.
    t2.abort();
    let _ = t2.await;
    wait_state(&lb, "node-2", BackendState::Down).await;
    let hits = spread(vs, 20).await;
    assert_eq!(hits.get("node-2"), None, "{hits:?}");
    assert_eq!(hits.values().sum::<usize>(), 20);

    // A front end on a port someone else holds: the reload fails, and the
    // running configuration keeps serving.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut other = frontend(squatter.local_addr().unwrap(), &[("node-1", a1)]);
    other.name = "api".into();
    let err = lb
        .apply(&[frontend(vs, &[("node-1", a1), ("node-3", a3)]), other])
        .await
        .expect_err("binding a taken port must fail");
    assert!(!err.to_string().is_empty());
    assert!(["node-1", "node-3"].contains(&get(vs).await.as_str()));

    // No virtual servers left: the balancer stops and the address closes.
    lb.apply(&[]).await.unwrap();
    assert!(TcpStream::connect(vs).await.is_err());
}

#[tokio::test]
async fn a_killed_manager_leaves_no_balancer_holding_ports() {
    let dir = tempfile::tempdir().unwrap();
    let vs = free_port();
    let (a1, _t1) = responder("node-1").await;
    {
        let lb = Haproxy::new(HaproxyConfig {
            binary: None,
            dir: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        lb.apply(&[frontend(vs, &[("node-1", a1)])]).await.unwrap();
        assert_eq!(get(vs).await, "node-1");
        // Simulate a crash: the Haproxy value is forgotten without stop().
        std::mem::forget(lb);
    }
    // The next manager on the same state dir takes over the port.
    let lb = Haproxy::new(HaproxyConfig {
        binary: None,
        dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    lb.apply(&[frontend(vs, &[("node-1", a1)])]).await.unwrap();
    assert_eq!(get(vs).await, "node-1");
    lb.stop().await.unwrap();
}
