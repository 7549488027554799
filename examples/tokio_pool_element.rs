//! A pool element on tokio: registers with a registrar, answers every
//! message in upper case, deregisters on Ctrl-C or SIGTERM.
//!
//! `cargo run --example tokio_pool_element -- [REGISTRAR [POOL]]`
use std::io::Error;

use rserpool::runtime::{loopback, Message, NodeConfig, PoolElementNode, Session};
use rserpool::PoolHandle;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let registrar = args.next().unwrap_or_else(|| "127.0.0.1:3863".into());
    let registrar = registrar.parse().map_err(Error::other)?;
    let pool = args.next().unwrap_or_else(|| "upper".into());
    let pool = PoolHandle::new(pool.as_bytes()).map_err(Error::other)?;
    let config = loopback::element(pool, &[registrar], std::process::id().into());
    let node = NodeConfig::new(([127, 0, 0, 1], 0).into());
    let mut pe = PoolElementNode::serve(config, node, |s: Session, m: Message| async move {
        let _ = s.send(m.ppid, &m.bytes.to_ascii_uppercase()).await;
    })?;
    println!("pool element {} on {}", pe.pe_id().get(), pe.local_addr());
    let mut term = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            Some(event) = pe.next_event() => println!("{event:?}"),
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    match pe.shutdown().await {
        Ok(()) => println!("deregistered"),
        Err(e) => println!("not deregistered: {e}"),
    }
    Ok(())
}
