//! JSON parse + structural validation: what every create, update and transaction entry pays
//! before it reaches the store (see `interactions::check_resource`).
//!
//! `cargo bench --bench validate`
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use hearth::fhir::definitions::Definitions;
use hearth::fhir::{json, validate};

mod common;
use common::FIXTURES;

fn bench(c: &mut Criterion) {
    let defs = Definitions::r4();
    for (name, text) in FIXTURES {
        let bytes = text.as_bytes();
        let value = json::parse(bytes).expect("fixture parses");
        let errors: Vec<_> = validate::validate_resource(defs, &value).into_iter().filter(|i| i.is_error()).collect();
        assert!(errors.is_empty(), "{name} fixture is invalid: {errors:?}");

        let mut g = c.benchmark_group(format!("validate/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        // serde_json alone: the floor under `json::parse` (which also rejects duplicate keys).
        g.bench_function("serde_json::from_slice", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(bytes)).unwrap())
        });
        g.bench_function("json::parse", |b| b.iter(|| json::parse(black_box(bytes)).unwrap()));
        g.bench_function("validate_resource", |b| b.iter(|| validate::validate_resource(defs, black_box(&value))));
        g.bench_function("parse+validate", |b| {
            b.iter(|| {
                let v = json::parse(black_box(bytes)).unwrap();
                validate::validate_resource(defs, &v)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
