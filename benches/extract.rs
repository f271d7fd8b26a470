//! Search-value extraction: the index entries every write computes from the official
//! SearchParameter FHIRPath expressions (`search::extract::Extractor`).
//!
//! `cargo bench --bench extract`
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hearth::fhir::definitions::Definitions;
use hearth::fhir::json;
use hearth::search::extract::Extractor;
use hearth::search::params::Registry;

mod common;
use common::FIXTURES;

fn bench(c: &mut Criterion) {
    let registry = Arc::new(Registry::from_definitions(Definitions::r4()).expect("R4 search parameters"));
    c.bench_function("extract/Extractor::new (all types, once per start)", |b| {
        b.iter(|| Extractor::new(registry.clone()))
    });
    let extractor = Extractor::new(registry);
    let mut g = c.benchmark_group("extract");
    for (name, text) in FIXTURES {
        let value = json::parse(text.as_bytes()).expect("fixture parses");
        let n = extractor.extract(&value).len();
        assert!(n > 0, "{name}: no index entries");
        g.bench_function(format!("{name} ({n} entries)"), |b| b.iter(|| extractor.extract(black_box(&value))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
