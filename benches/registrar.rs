//! Registrar throughput: registrations, handle resolutions and keep-alive
//! acknowledgements through `Machine::handle`, each with its answer taken
//! out of the transmit queue.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::handlespace::Fixed;
use rserpool::registrar::{Registrar, RegistrarConfig};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Machine, Source, TransportEvent};
use rserpool::wire::{
    AsapMessage, PolicyParam, PoolElementParam, Protocol, TransportParam, UserTransport,
};
use rserpool::{AssocId, Instant, PeId, Policy, ServerId};

type Bench = Registrar<RedBlackTree, Fixed<1024, 16, 64, 4>, 1024, 1024, 65536, 8>;
const PES: u32 = 1000;

fn registration(id: u32) -> Vec<u8> {
    let addrs = [IpAddr::V4(Ipv4Addr::new(10, 1, (id >> 8) as u8, id as u8))];
    let m = AsapMessage::Registration {
        pool_handle: b"bench-pool",
        pool_element: PoolElementParam {
            pe_id: PeId::new(id).unwrap(),
            home_server: None,
            registration_life: 300_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                9000,
                TransportUse::DataOnly,
                &addrs,
            )),
            policy: PolicyParam::Known(Policy::LeastUsed { load: id % 100 }),
            asap_transport: None,
        },
    };
    let mut b = vec![0; m.buffer_len()];
    m.emit(&mut b).unwrap();
    b
}

fn fresh() -> Box<Bench> {
    let mut c = RegistrarConfig::rsplib(ServerId::new(1).unwrap());
    c.announce = false;
    let mut r: Box<Bench> = Box::new(Registrar::new(c));
    for id in 1..=PES {
        r.handle_transport_event(
            Instant::ZERO,
            TransportEvent::Up {
                assoc: AssocId(id),
                remote: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(10, 1, (id >> 8) as u8, id as u8)),
                    3863,
                ),
                protocol: Protocol::Asap,
                verified: true,
            },
        );
    }
    r
}

fn drain(r: &mut Bench, buf: &mut [u8]) {
    while let Some(t) = r.poll_transmit(buf).unwrap() {
        black_box(t);
    }
    while let Some(e) = r.poll_event() {
        black_box(e);
    }
}

fn filled(regs: &[Vec<u8>], buf: &mut [u8]) -> Box<Bench> {
    let mut r = fresh();
    for (i, m) in regs.iter().enumerate() {
        r.handle(
            Instant::ZERO,
            Source::Association(AssocId(i as u32 + 1)),
            Protocol::Asap,
            m,
        );
        drain(&mut r, buf);
    }
    assert_eq!(r.handlespace().len(), PES as usize);
    r
}

fn benches(c: &mut Criterion) {
    let regs: Vec<Vec<u8>> = (1..=PES).map(registration).collect();
    let mut buf = vec![0u8; rserpool::transmit::MAX_MESSAGE_SIZE];

    let mut g = c.benchmark_group("registrar");
    g.throughput(Throughput::Elements(u64::from(PES)));
    g.bench_function("register 1000 PEs", |b| {
        b.iter_batched(
            fresh,
            |mut r| {
                for (i, m) in regs.iter().enumerate() {
                    r.handle(
                        Instant::ZERO,
                        Source::Association(AssocId(i as u32 + 1)),
                        Protocol::Asap,
                        m,
                    );
                    drain(&mut r, &mut buf);
                }
                r
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    let hr = {
        let m = AsapMessage::HandleResolution {
            subscribe: false,
            pool_handle: b"bench-pool",
            items: None,
        };
        let mut b = vec![0; m.buffer_len()];
        m.emit(&mut b).unwrap();
        b
    };
    let mut r = filled(&regs, &mut buf);
    g.bench_function("resolve 3 of 1000 (LU)", |b| {
        b.iter(|| {
            r.handle(
                Instant::ZERO,
                Source::Association(AssocId(5000)),
                Protocol::Asap,
                &hr,
            );
            drain(&mut r, &mut buf);
        })
    });
    let ack = {
        let m = AsapMessage::EndpointKeepAliveAck {
            pool_handle: b"bench-pool",
            pe_id: PeId::new(500).unwrap(),
        };
        let mut b = vec![0; m.buffer_len()];
        m.emit(&mut b).unwrap();
        b
    };
    g.bench_function("keep-alive ack in a 1000 PE handlespace", |b| {
        b.iter(|| {
            r.handle(
                Instant::ZERO,
                Source::Association(AssocId(500)),
                Protocol::Asap,
                &ack,
            );
        })
    });
    g.finish();
}

criterion_group!(registrar, benches);
criterion_main!(registrar);
