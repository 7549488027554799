//! A pool user in a tokio program: lists a pool's PEs, sends a message on
//! a session, fails over while the answer is late, prints the answer.
//! `cargo run --example tokio_pool_user -- 127.0.0.1:3863 echo hello`
use std::time::Duration;

use rserpool::runtime::{loopback, NodeConfig, PoolUserNode};
use rserpool::PoolHandle;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    let registrar = arg(0, "127.0.0.1:3863").parse()?;
    let pool = PoolHandle::new(arg(1, "echo").as_bytes())?;
    let node = NodeConfig::new("0.0.0.0:0".parse()?);
    let pu = PoolUserNode::start(
        loopback::user(&[registrar], 1),
        node,
        Duration::from_secs(1),
    )?;
    for pe in pu.resolve(&pool).await? {
        println!("{:?}: {:?} {:?}", pe.pe, pe.protocol, pe.addresses);
    }
    let mut session = pu.connect(&pool).await?;
    session.send(0, arg(2, "hello").as_bytes()).await?;
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(1), session.recv()).await {
            Ok(Some((_, answer))) => {
                println!("{:?}: {}", session.pe(), String::from_utf8_lossy(&answer));
                break;
            }
            Ok(None) => return Err("the session ended".into()),
            Err(_) => session.failover().await?, // late: on to the next PE
        }
    }
    session.close().await;
    pu.stop().await;
    Ok(())
}
