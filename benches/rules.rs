//! Rules evaluation of the default pack: evaluations (rule outcomes) per second for one
//! service (bare, and with the extractor's evidence attached), one host and one agency
//! aggregate over 1,000 services. The synthetic facts come from `rules::bench` (a deterministic
//! mix of levels, providers and missing labels).
//!
//! Run with `cargo bench --bench rules`. `tests/rules.rs` has the 200,000-service run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dvc_audit::facts::{HostFacts, HstsFacts, HttpFacts, KeyFacts, LeafFacts};
use dvc_audit::rules::bench::{
    synthetic_agency, synthetic_service, synthetic_service_with_evidence,
};
use dvc_audit::rules::{RuleSet, Scope};

fn rules() -> RuleSet {
    match RuleSet::bundled() {
        Ok(l) => l.rules,
        Err(e) => panic!("{}", e.0.render(false)),
    }
}

fn host() -> HostFacts {
    HostFacts {
        name: "dvc.bench.sandbox.test".into(),
        port: 443,
        reachable: true,
        cert: LeafFacts {
            sans: vec!["dvc.bench.sandbox.test".into()],
            days_left: 60,
            validity_days: 90,
            hostname_ok: true,
            trusted: true,
            publicly_trusted: true,
            trusted_by: vec!["web".into()],
            issued_by: vec!["web".into()],
            chain_complete: true,
            has_san: true,
            key: KeyFacts {
                alg: "ec".into(),
                bits: 256,
            },
            sig_alg: "ecdsa-with-SHA256".into(),
            ..LeafFacts::default()
        },
        http: HttpFacts {
            https_redirect: true,
            http_reachable: true,
            hsts: HstsFacts {
                present: true,
                max_age: 31_536_000,
                ..HstsFacts::default()
            },
            ..HttpFacts::default()
        },
        ..HostFacts::default()
    }
}

fn count(set: &RuleSet, scope: Scope) -> u64 {
    set.rules().iter().filter(|r| r.scope == scope).count() as u64
}

fn evaluate(c: &mut Criterion) {
    let set = rules();
    let agency = synthetic_agency();
    let scope = set.agency_scope(&agency);
    let services: Vec<_> = (0..1000).map(synthetic_service).collect();
    let hosts = vec![host()];

    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(
        count(&set, Scope::Service) * services.len() as u64,
    ));
    g.bench_function("service_x1000", |b| {
        b.iter(|| {
            for s in &services {
                black_box(scope.evaluate_service(s));
            }
        })
    });
    // The same services with the evidence the extractor attaches (no rule reads it).
    let with_evidence: Vec<_> = (0..1000).map(synthetic_service_with_evidence).collect();
    g.bench_function("service_x1000_evidence", |b| {
        b.iter(|| {
            for s in &with_evidence {
                black_box(scope.evaluate_service(s));
            }
        })
    });
    let h = host();
    g.throughput(Throughput::Elements(count(&set, Scope::Host)));
    g.bench_function("host", |b| b.iter(|| black_box(scope.evaluate_host(&h))));
    g.throughput(Throughput::Elements(count(&set, Scope::Agency)));
    g.bench_function("agency_over_1000_services", |b| {
        b.iter(|| black_box(scope.evaluate_agency(&services, &hosts)))
    });
    g.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
