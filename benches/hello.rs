//! The legacy-TLS probe's hand-written wire code: building a ClientHello and parsing a
//! server's first flight (ServerHello, Certificate, DHE ServerKeyExchange, ServerHelloDone).
//!
//! Run with `cargo bench --bench hello`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dvc_audit::probe::hello::{SuiteClass, client_hello, parse_server_flight, suite_ids};

const CT_HANDSHAKE: u8 = 22;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_SERVER_HELLO_DONE: u8 = 14;

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len();
    let mut v = vec![kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    v.extend_from_slice(body);
    v
}

fn records(hs: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in hs.chunks(chunk) {
        out.extend_from_slice(&[CT_HANDSHAKE, 3, 3]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// A TLS 1.2 DHE flight with a two-certificate chain (~1.5 KB each) and a 2048-bit prime,
/// split over records of 1,400 bytes as a server would.
fn flight() -> Vec<u8> {
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[7u8; 32]);
    hello.push(0);
    hello.extend_from_slice(&0x009eu16.to_be_bytes());
    hello.push(0);
    let mut hs = handshake(HS_SERVER_HELLO, &hello);
    let mut certs = Vec::new();
    for _ in 0..2 {
        let cert = vec![0x30u8; 1500];
        certs.extend_from_slice(&[0, (cert.len() >> 8) as u8, cert.len() as u8]);
        certs.extend_from_slice(&cert);
    }
    let mut body = vec![0, (certs.len() >> 8) as u8, certs.len() as u8];
    body.extend_from_slice(&certs);
    hs.extend(handshake(HS_CERTIFICATE, &body));
    let mut ske = Vec::new();
    ske.extend_from_slice(&256u16.to_be_bytes());
    ske.extend_from_slice(&[0xffu8; 256]);
    ske.extend_from_slice(&[0, 1, 2, 0, 1, 5]);
    hs.extend(handshake(HS_SERVER_KEY_EXCHANGE, &ske));
    hs.extend(handshake(HS_SERVER_HELLO_DONE, &[]));
    records(&hs, 1400)
}

fn hello(c: &mut Criterion) {
    let bytes = flight();
    let suites = suite_ids(&[
        SuiteClass::Modern,
        SuiteClass::Dhe,
        SuiteClass::TripleDes,
        SuiteClass::Rc4,
    ]);
    let mut g = c.benchmark_group("hello");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_server_flight", |b| {
        b.iter(|| black_box(parse_server_flight(black_box(&bytes))))
    });
    g.bench_function("client_hello", |b| {
        b.iter(|| {
            black_box(client_hello(
                0x0301,
                &suites,
                black_box("dvc.bench.sandbox.test"),
                [9u8; 32],
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, hello);
criterion_main!(benches);
