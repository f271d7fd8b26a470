//! Search query compilation: the query string parsed against the registry
//! (`search::query::parse`) and turned into SQL over the `sp_*` tables
//! (`search::sqlite::filter`), for the searches of the HTTP benchmark (`bench/`).
//!
//! `cargo bench --bench query`
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hearth::fhir::definitions::Definitions;
use hearth::search::params::Registry;
use hearth::search::query::{self, SearchQuery};
use hearth::search::sqlite::filter::{filter, SqlBuf};

const QUERIES: &[(&str, &str, &str)] = &[
    ("token", "Observation", "code=http://loinc.org|29463-7&_count=50"),
    ("date range", "Encounter", "date=ge2019-01-01&date=lt2020-01-01&_count=50"),
    ("chain", "Encounter", "subject:Patient.family=Fonseca493&_count=50"),
    ("_include", "Observation", "code=http://loinc.org|29463-7&_include=Observation:patient&_count=50"),
    ("_summary=count", "Observation", "code=http://loinc.org|29463-7&_summary=count"),
    ("string+token+date", "Patient", "family=Smith&given=John&gender=male&birthdate=ge1970-01-01"),
];

fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// What the SQLite search does with a parsed query: one condition per filter.
fn compile(registry: &Registry, q: &SearchQuery) -> SqlBuf {
    let mut w = SqlBuf::default();
    w.text.push_str("c.tenant = ? AND c.deleted = 0");
    for f in &q.filters {
        w.text.push_str(" AND ");
        filter(&mut w, registry, "default", "c", &q.types, f, 0);
    }
    w
}

fn bench(c: &mut Criterion) {
    let registry = Registry::from_definitions(Definitions::r4()).expect("R4 search parameters");
    let mut g = c.benchmark_group("query");
    for (name, rtype, qs) in QUERIES {
        let params = pairs(qs);
        let parsed = query::parse(&registry, vec![rtype.to_string()], &params, true).expect("query parses");
        assert!(!compile(&registry, &parsed).text.is_empty());
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| query::parse(&registry, vec![rtype.to_string()], black_box(&params), true).unwrap())
        });
        g.bench_function(format!("parse+sql/{name}"), |b| {
            b.iter(|| {
                let q = query::parse(&registry, vec![rtype.to_string()], black_box(&params), true).unwrap();
                compile(&registry, &q)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
