//! Wire codec throughput: decode and encode of an ASAP REGISTRATION, an ASAP
//! HANDLE_RESOLUTION_RESPONSE with 3 PEs and an ENRP HANDLE_TABLE_RESPONSE
//! with 100 PEs.
//!
//! "Decode" parses the message and then reads every field: every PE of the
//! lazy lists, its transports, addresses and policy, so nothing is left
//! unparsed. "Encode" emits a built repr into a caller buffer. Before
//! timing, each message is decoded once under a counting allocator, which
//! must see no allocation.
//!
//! ```text
//! cargo bench --bench wire
//! ```

use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::policy::Policy;
use rserpool::wire::{
    AsapMessage, EnrpBody, EnrpMessage, List, Message, PolicyParam, PoolElementParam, PoolEntry,
    Protocol, TransportParam, UserTransport,
};
use rserpool::{PeId, ServerId};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

static ADDRS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
];

fn element(i: u32) -> PoolElementParam<'static> {
    PoolElementParam {
        pe_id: PeId::new(0x1000_0000 + i).unwrap(),
        home_server: ServerId::new(0x5EED_0001).ok(),
        registration_life: 30_000,
        user_transport: UserTransport::Transport(TransportParam::new(
            TransportProtocol::Sctp,
            7000 + i as u16,
            TransportUse::DataOnly,
            &ADDRS,
        )),
        policy: PolicyParam::Known(Policy::LeastUsedDegradation {
            load: i * 1000,
            degradation: 0x0100_0000,
        }),
        asap_transport: Some(TransportParam::new(
            TransportProtocol::Sctp,
            3863,
            TransportUse::DataAndControl,
            &ADDRS,
        )),
    }
}

fn fold(sum: &mut u64, v: u64) {
    *sum = sum.rotate_left(5) ^ v;
}

fn touch_transport(t: &TransportParam<'_>, sum: &mut u64) {
    fold(sum, u64::from(t.port));
    fold(sum, u64::from(t.transport_use.value()));
    fold(sum, u64::from(t.protocol.parameter_type()));
    for a in t.addresses.iter() {
        fold(
            sum,
            match a {
                IpAddr::V4(v4) => u64::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6) as u64,
            },
        );
    }
}

fn touch_element(e: &PoolElementParam<'_>, sum: &mut u64) {
    fold(sum, u64::from(e.pe_id.get()));
    fold(sum, u64::from(e.home_server.map_or(0, |s| s.get())));
    fold(sum, e.registration_life as u64);
    if let UserTransport::Transport(t) = &e.user_transport {
        touch_transport(t, sum);
    }
    let (params, n) = match e.policy {
        PolicyParam::Known(p) => p.parameters(),
        PolicyParam::Unknown { .. } => ([0; 4], 0),
    };
    fold(sum, u64::from(e.policy.policy_type()));
    for v in &params[..n] {
        fold(sum, u64::from(*v));
    }
    if let Some(t) = &e.asap_transport {
        touch_transport(t, sum);
    }
}

/// Parses `bytes` and reads every field of the three benchmarked messages.
fn decode(protocol: Protocol, bytes: &[u8]) -> u64 {
    let mut sum = 0;
    match Message::parse(protocol, bytes).expect("valid message") {
        Message::Asap(AsapMessage::Registration {
            pool_handle,
            pool_element,
        }) => {
            fold(&mut sum, pool_handle.len() as u64);
            touch_element(&pool_element, &mut sum);
        }
        Message::Asap(AsapMessage::HandleResolutionResponse {
            pool_handle,
            policy,
            elements,
            ..
        }) => {
            fold(&mut sum, pool_handle.len() as u64);
            fold(&mut sum, u64::from(policy.map_or(0, |p| p.policy_type())));
            for e in elements.iter() {
                touch_element(&e, &mut sum);
            }
        }
        Message::Enrp(EnrpMessage {
            sender,
            body: EnrpBody::HandleTableResponse { entries, .. },
            ..
        }) => {
            fold(&mut sum, u64::from(sender.get()));
            for entry in entries.iter() {
                fold(&mut sum, entry.pool_handle.len() as u64);
                for e in entry.elements.iter() {
                    touch_element(&e, &mut sum);
                }
            }
        }
        other => panic!("unexpected message {other}"),
    }
    sum
}

fn bench(c: &mut Criterion, name: &str, msg: Message<'_>, pes: usize) {
    let mut buf = vec![0u8; msg.buffer_len()];
    let len = msg.emit(&mut buf).expect("encodes");
    buf.truncate(len);
    let protocol = msg.protocol();
    // The decode walk sees every PE.
    let count = match Message::parse(protocol, &buf).expect("parses") {
        Message::Asap(AsapMessage::Registration { .. }) => 1,
        Message::Asap(AsapMessage::HandleResolutionResponse { elements, .. }) => elements.len(),
        Message::Enrp(EnrpMessage {
            body: EnrpBody::HandleTableResponse { entries, .. },
            ..
        }) => entries.iter().map(|e| e.elements.len()).sum(),
        _ => 0,
    };
    assert_eq!(count, pes, "{name}");
    // Decoding (parse and the walk over every field) allocates nothing.
    let region = Region::new(GLOBAL);
    black_box(decode(protocol, black_box(&buf)));
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "{name}: decode allocated"
    );

    let mut g = c.benchmark_group(format!("wire/{name}"));
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("decode", |b| b.iter(|| decode(protocol, black_box(&buf))));
    let mut out = vec![0u8; len];
    g.bench_function("encode", |b| {
        b.iter(|| black_box(&msg).emit(black_box(&mut out)).expect("encodes"))
    });
    g.finish();
}

fn wire(c: &mut Criterion) {
    let handle: &[u8] = b"EchoPool";
    bench(
        c,
        "asap_registration",
        Message::Asap(AsapMessage::Registration {
            pool_handle: handle,
            pool_element: element(1),
        }),
        1,
    );
    let three: Vec<PoolElementParam<'static>> = (1..=3).map(element).collect();
    bench(
        c,
        "asap_handle_resolution_response_3pe",
        Message::Asap(AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: handle,
            policy: Some(PolicyParam::Known(Policy::LeastUsedDegradation {
                load: 0,
                degradation: 0x0100_0000,
            })),
            elements: List::from_slice(&three),
            error: None,
        }),
        3,
    );
    let hundred: Vec<PoolElementParam<'static>> = (1..=100).map(element).collect();
    let entries = [PoolEntry::new(handle, &hundred)];
    bench(
        c,
        "enrp_handle_table_response_100pe",
        Message::Enrp(EnrpMessage {
            sender: ServerId::new(0x5EED_0001).unwrap(),
            receiver: ServerId::new(0x5EED_0002).ok(),
            body: EnrpBody::HandleTableResponse {
                more_to_send: false,
                rejected: false,
                entries: List::from_slice(&entries),
            },
        }),
        100,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = wire
}
criterion_main!(benches);
