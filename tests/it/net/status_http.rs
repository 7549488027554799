//! The registrar's status over HTTP: Prometheus metrics that move with
//! the traffic, a JSON snapshot that matches the handlespace, and the
//! status page in a real headless browser (Debian's `chromium`), whose
//! screenshot is kept in `target/test-artifacts/status-page.png`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::support::net::{element, pool, registrar, user, wait_for};

use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::http::HttpServer;
use rserpool::runtime::NodeConfig;

fn any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// GETs `path` from `at`: the status code and the body.
fn get(at: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The body of a chunked response.
fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// The value of metric `name` (with `labels`, all of them) in `text`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape.samples.iter().find_map(|s| {
        let matches = s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
        match (matches, &s.value) {
            (true, prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v)) => {
                Some(*v)
            }
            (true, prometheus_parse::Value::Untyped(v)) => Some(*v),
            _ => None,
        }
    })
}

fn http(r: &RegistrarNode) -> HttpServer {
    HttpServer::start(any(), r.status_handle()).unwrap()
}

/// `/metrics` is Prometheus text whose gauges and counters follow the
/// registrar: a PE registering, pool users resolving.
#[test]
fn metrics_parse_as_prometheus_text_and_move_with_the_traffic() {
    let r = registrar(1, None, NodeConfig::new(any()));
    let h = http(&r);
    let (code, before) = get(h.local_addr(), "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        metric(&before, "rserpool_registrar_pool_elements", &[]),
        Some(0.0)
    );
    assert_eq!(
        metric(&before, "rserpool_registrar_registrations_total", &[]),
        Some(0.0)
    );
    assert!(
        before.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );

    let pe = element(&[r.local_addr()], 70, NodeConfig::new(any()));
    let u = user(&[r.local_addr()], NodeConfig::new(any()));
    for i in 0..3u8 {
        u.request(&pool(), &[i], Duration::from_secs(5)).unwrap();
    }
    // The metrics are a snapshot at most a second old.
    let mut after = String::new();
    assert!(wait_for(Duration::from_secs(3), || {
        after = get(h.local_addr(), "/metrics").1;
        metric(&after, "rserpool_registrar_resolutions_total", &[]).unwrap_or(0.0) >= 1.0
    }));
    assert_eq!(
        metric(&after, "rserpool_registrar_pool_elements", &[]),
        Some(1.0)
    );
    assert_eq!(
        metric(&after, "rserpool_registrar_owned_pool_elements", &[]),
        Some(1.0)
    );
    assert_eq!(
        metric(&after, "rserpool_registrar_registrations_total", &[]),
        Some(1.0)
    );
    assert!(
        metric(
            &after,
            "rserpool_registrar_associations",
            &[("transport", "udp")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(
        metric(
            &after,
            "rserpool_registrar_removed_total",
            &[("reason", "deregistered")]
        ),
        Some(0.0)
    );
    pe.shutdown(Duration::from_secs(3)).unwrap();
    assert!(wait_for(Duration::from_secs(3), || {
        let m = get(h.local_addr(), "/metrics").1;
        metric(
            &m,
            "rserpool_registrar_removed_total",
            &[("reason", "deregistered")],
        ) == Some(1.0)
    }));
}

/// `/status.json` lists what the handlespace holds, page by page, and
/// refuses malformed queries.
#[test]
fn status_json_matches_the_handlespace_page_by_page() {
    let r = registrar(1, None, NodeConfig::new(any()));
    let h = http(&r);
    let pes: Vec<_> = (0..3)
        .map(|i| element(&[r.local_addr()], 71 + i, NodeConfig::new(any())))
        .collect();
    assert!(wait_for(Duration::from_secs(5), || r
        .status()
        .is_some_and(|s| s.element_count == 3)));
    let held: Vec<u32> = r
        .status()
        .unwrap()
        .elements
        .iter()
        .map(|e| e.1.get())
        .collect();
    let page = |q: &str| {
        let (code, body) = get(h.local_addr(), &format!("/status.json{q}"));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap() as u32)
            .collect()
    };
    let first = page("?limit=2");
    assert_eq!(first["element_count"], 3);
    assert_eq!(first["pool_count"], 1);
    assert_eq!(first["pools"][0]["handle"], "echo");
    assert_eq!(first["elements"][0]["pool"], "echo");
    assert_eq!(ids(&first), held[..2]);
    let next = first["next"].as_array().unwrap();
    let (pool, after) = (next[0].as_str().unwrap(), next[1].as_u64().unwrap());
    let second = page(&format!("?pool={pool}&after={after}&limit=2"));
    assert_eq!(ids(&second), held[2..]);
    assert!(second["next"].is_null());
    let owned = &second["elements"][0];
    assert_eq!(owned["owned"], true);
    assert_eq!(owned["home"], first["server_id"]);
    for bad in ["?limit=x", "?pool=echo", "?pool=echo&after=0"] {
        assert_eq!(
            get(h.local_addr(), &format!("/status.json{bad}")).0,
            400,
            "{bad}"
        );
    }
    drop(pes);
}

/// The status page in a real browser: it loads, and its tables show a
/// registered PE and an ENRP peer; the screenshot is kept.
#[test]
fn the_status_page_shows_a_pe_and_an_enrp_peer_in_a_browser() {
    let a = registrar(1, Some(&[]), NodeConfig::new(any()));
    let b = registrar(2, Some(&[a.enrp_addr().unwrap()]), NodeConfig::new(any()));
    let pe = element(&[a.local_addr()], 75, NodeConfig::new(any()));
    assert!(wait_for(Duration::from_secs(10), || {
        a.status()
            .is_some_and(|s| s.element_count == 1 && s.peers.len() == 1)
    }));
    let h = http(&a);
    let url = format!("http://{}/", h.local_addr());
    let chromium = |extra: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(["--virtual-time-budget=5000", "--window-size=1280,900"])
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (scripts/test --deps installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let dom = String::from_utf8(chromium(&["--dump-dom"]).stdout).unwrap();
    let pe_id = format!("0x{:08x}", pe.pe_id().get());
    assert!(
        dom.contains(&format!("<td class=\"pe\">{pe_id}</td>")),
        "{dom}"
    );
    assert!(dom.contains("<td class=\"peer\">0x00000002</td>"), "{dom}");
    assert!(dom.contains("<td class=\"alive\">alive</td>"), "{dom}");
    assert!(
        dom.contains("Registrar <code id=\"server\">0x00000001</code>"),
        "{dom}"
    );

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    drop(b);
}
