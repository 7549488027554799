//! A registrar's status over HTTP (feature `http`): `/metrics` in the
//! Prometheus (OpenMetrics) text format, `/status.json` (a
//! [`RegistrarSnapshot`], paged) and `/`, a self-contained page that shows
//! the pools and their PEs, the ENRP peers and the counters, and refreshes
//! itself.
//!
//! The server runs on the same tokio runtime as the node, as tasks of its
//! own, and reaches the registrar only through a [`StatusHandle`]: each
//! snapshot is taken in the registrar's task and walks one page of PEs
//! (at most [`MAX_PAGE`]), never the whole
//! handlespace. Snapshots are taken at a bounded rate: an unpaged one (the
//! metrics, the page's first view) is reused for [`CACHE_FOR`], and
//! snapshots are taken one at a time, at least [`MIN_GAP`] apart, so that
//! however many clients ask, the registrar's task spends a bounded share of
//! its time on them.
//!
//! ```no_run
//! # fn run() -> std::io::Result<()> {
//! use rserpool::id::ServerId;
//! use rserpool::runtime::blocking::RegistrarNode;
//! use rserpool::runtime::http::HttpServer;
//! use rserpool::runtime::{loopback, NodeConfig};
//!
//! let registrar = RegistrarNode::start(
//!     loopback::registrar(ServerId::new(1).expect("not zero")),
//!     NodeConfig::new("127.0.0.1:3863".parse().expect("an address")),
//! )?;
//! let http = HttpServer::start(
//!     "127.0.0.1:8080".parse().expect("an address"),
//!     registrar.status_handle(),
//! )?;
//! println!("status page: http://{}/", http.local_addr());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::string::String;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{oneshot, Mutex};

use super::snapshot::{parse_handle, RegistrarSnapshot, MAX_PAGE};
use super::StatusHandle;
use crate::id::PeId;

/// How long an unpaged snapshot is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// The least time between two snapshots taken for HTTP clients.
pub const MIN_GAP: Duration = Duration::from_millis(20);

/// How many PEs `/status.json` lists when the request does not say.
pub const DEFAULT_PAGE: usize = 100;

/// The status page (HTML, CSS and script in one file).
const PAGE: &str = include_str!("status.html");

struct Shared {
    node: StatusHandle,
    /// The latest unpaged snapshot, and when it was taken.
    cached: Mutex<Option<(Instant, Arc<RegistrarSnapshot>)>>,
    /// When the latest snapshot was taken (one at a time).
    last: Mutex<Option<Instant>>,
}

impl Shared {
    /// A fresh snapshot, taken one at a time and [`MIN_GAP`] apart.
    async fn take(
        &self,
        after: Option<(crate::id::PoolHandle, PeId)>,
        limit: usize,
    ) -> Option<RegistrarSnapshot> {
        let mut last = self.last.lock().await;
        if let Some(t) = *last {
            let wait = MIN_GAP.saturating_sub(t.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let s = self.node.snapshot(after, limit).await;
        *last = Some(Instant::now());
        s
    }

    /// The unpaged snapshot: [`DEFAULT_PAGE`] PEs from the first.
    async fn first_page(&self) -> Option<Arc<RegistrarSnapshot>> {
        let mut cached = self.cached.lock().await;
        if let Some((at, s)) = cached.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return Some(s.clone());
            }
        }
        let s = Arc::new(self.take(None, DEFAULT_PAGE).await?);
        *cached = Some((Instant::now(), s.clone()));
        Some(s)
    }
}

/// A running status server; dropping it stops it.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `node`'s status on `addr` (port 0: an ephemeral port), on
    /// the caller's tokio runtime, else on the
    /// [shared one](super::shared_runtime). Returns once the socket is
    /// bound.
    pub fn start(addr: SocketAddr, node: StatusHandle) -> io::Result<Self> {
        let handle = super::runtime_handle();
        let _entered = handle.enter();
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shared = Arc::new(Shared {
            node,
            cached: Mutex::new(None),
            last: Mutex::new(None),
        });
        let app = Router::new()
            .route("/", get(page))
            .route("/status.json", get(status))
            .route("/metrics", get(metrics))
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = handle.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(HttpServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it and waits until it has (open connections finish their
    /// request).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

fn stopped() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the registrar has stopped\n",
    )
        .into_response()
}

/// `/status.json?pool=HANDLE&after=ID&limit=N`: the PEs after PE `ID` of
/// pool `HANDLE` (as the snapshot writes handles), at most `N`.
async fn status(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_PAGE,
        Some(Ok(l)) => l.min(MAX_PAGE),
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "bad limit\n").into_response(),
    };
    let after = match (q.get("pool"), q.get("after")) {
        (None, None) => None,
        (Some(pool), Some(id)) => {
            let pool = parse_handle(pool);
            let id = id.parse::<u32>().ok().and_then(|i| PeId::new(i).ok());
            match (pool, id) {
                (Some(p), Some(i)) => Some((p, i)),
                _ => return (StatusCode::BAD_REQUEST, "bad pool or after\n").into_response(),
            }
        }
        _ => return (StatusCode::BAD_REQUEST, "pool and after go together\n").into_response(),
    };
    let snapshot = if after.is_none() && limit == DEFAULT_PAGE {
        shared.first_page().await.map(|s| (*s).clone())
    } else {
        shared.take(after, limit).await
    };
    match snapshot {
        Some(s) => axum::Json(s).into_response(),
        None => stopped(),
    }
}

/// Counters of one name, by label set.
type Counters = Family<Vec<(String, String)>, Counter>;

/// The snapshot in the Prometheus text format.
pub fn encode_metrics(s: &RegistrarSnapshot) -> Result<String, core::fmt::Error> {
    let mut registry = Registry::with_prefix("rserpool_registrar");
    let gauges: [(&str, &str, usize); 4] = [
        ("pools", "Pools in the handlespace", s.pool_count),
        ("pool_elements", "PEs in the handlespace", s.element_count),
        (
            "owned_pool_elements",
            "PEs this registrar is the home of",
            s.owned,
        ),
        ("peers", "ENRP peers known", s.peers.len()),
    ];
    for (name, help, value) in gauges {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, g);
    }
    let peers = Family::<Vec<(String, String)>, Gauge>::default();
    for p in &s.peers {
        peers
            .get_or_create(&std::vec![("state".into(), p.state.into())])
            .inc();
    }
    registry.register("peers_by_state", "ENRP peers, by state", peers);
    let assocs = Family::<Vec<(String, String)>, Gauge>::default();
    for (transport, n) in [
        ("udp", s.udp_associations),
        ("tcp", s.tcp_connections),
        ("sctp", s.sctp_associations),
    ] {
        assocs
            .get_or_create(&std::vec![("transport".into(), transport.into())])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register("associations", "Associations, by transport", assocs);
    // A counter with labels is a family (one series per label set); one
    // without is a plain counter.
    let mut families: BTreeMap<&str, (&str, Counters)> = BTreeMap::new();
    for c in &s.counters {
        if c.labels.is_empty() {
            let counter = Counter::<u64>::default();
            counter.inc_by(c.value);
            registry.register(c.name, c.help, counter);
            continue;
        }
        let (_, family) = families
            .entry(c.name)
            .or_insert_with(|| (c.help, Family::default()));
        let labels: Vec<(String, String)> = c
            .labels
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect();
        family.get_or_create(&labels).inc_by(c.value);
    }
    for (name, (help, family)) in families {
        registry.register(name, help, family);
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let Some(s) = shared.first_page().await else {
        return stopped();
    };
    match encode_metrics(&s) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode\n").into_response(),
    }
}
