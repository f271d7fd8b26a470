//! Paging through a search result while another task writes: every resource that existed
//! before the first page and was not deleted appears exactly once, none appears twice, and
//! nothing appears that never matched.
mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const PRE: usize = 500;
const PAGE: usize = 20;
const CODE: &str = "http://example.org/paging|p";

fn obs(id: Option<&str>, n: usize, value: f64) -> Value {
    // effective dates are distinct and never change on update
    let day = n % 28 + 1;
    let month = (n / 28) % 12 + 1;
    let year = 2000 + n / (28 * 12);
    let mut v = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://example.org/paging", "code": "p"}]},
        "subject": {"reference": "Patient/pp"},
        "effectiveDateTime": format!("{year:04}-{month:02}-{day:02}T{:02}:00:00Z", n % 24),
        "valueQuantity": {"value": value, "unit": "1", "system": "http://unitsofmeasure.org", "code": "1"}
    });
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    v
}

struct Writes {
    created: Mutex<BTreeSet<String>>,
    deleted: Mutex<BTreeSet<String>>,
    ops: AtomicUsize,
    stop: AtomicBool,
    errors: Mutex<Vec<String>>,
}

/// Creates, updates and deletes matching Observations until told to stop.
async fn writer(s: Arc<TestServer>, w: Arc<Writes>) {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut i = 0usize;
    let mut deletable: Vec<String> = (PRE - 50..PRE).map(|n| format!("pre-{n}")).collect();
    while !w.stop.load(Ordering::SeqCst) {
        i += 1;
        let r = match i % 3 {
            0 => {
                let n = PRE + 1000 + i;
                let r = s.post_json("/Observation", &obs(None, n, i as f64)).await;
                if r.status == 201 {
                    let id = r.json()["id"].as_str().unwrap_or_default().to_string();
                    w.created.lock().unwrap().insert(format!("Observation/{id}"));
                }
                (r.status, 201, "create")
            }
            1 => {
                let n = (next() % (PRE as u64 - 50)) as usize;
                let id = format!("pre-{n}");
                let r = s.put_json(&format!("/Observation/{id}"), &obs(Some(&id), n, 1000.0 + i as f64)).await;
                (r.status, 200, "update")
            }
            _ => match deletable.pop() {
                Some(id) => {
                    // recorded before the delete: from now on it may or may not appear
                    w.deleted.lock().unwrap().insert(format!("Observation/{id}"));
                    let r = s.delete(&format!("/Observation/{id}")).await;
                    (if r.status == 204 { 200 } else { r.status }, 200, "delete")
                }
                None => (200, 200, "none"),
            },
        };
        if r.0 != r.1 {
            w.errors.lock().unwrap().push(format!("{}: status {}", r.2, r.0));
        }
        w.ops.fetch_add(1, Ordering::SeqCst);
    }
}

async fn page_while_writing(query: &str) {
    let s = Arc::new(TestServer::start_with_args(&["--sqlite-sync", "normal"]));
    s.put_json("/Patient/pp", &json!({"resourceType": "Patient", "id": "pp"})).await.expect(201, "PUT patient");
    let mut pre = BTreeSet::new();
    for chunk in (0..PRE).collect::<Vec<_>>().chunks(8) {
        let mut tasks = Vec::new();
        for &n in chunk {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("pre-{n}");
                s.put_json(&format!("/Observation/{id}"), &obs(Some(&id), n, n as f64)).await.expect(201, "PUT pre");
                format!("Observation/{id}")
            }));
        }
        for t in tasks {
            pre.insert(t.await.expect("put task"));
        }
    }
    let w = Arc::new(Writes {
        created: Mutex::new(BTreeSet::new()),
        deleted: Mutex::new(BTreeSet::new()),
        ops: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        errors: Mutex::new(Vec::new()),
    });
    let started = Instant::now();
    let mut url = Some(s.url(&format!("/Observation?code={}&{query}&_count={PAGE}", qenc(CODE))));
    let writer_task = tokio::spawn(writer(s.clone(), w.clone()));
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut order = Vec::new();
    let mut pages = 0;
    while let Some(u) = url.take() {
        pages += 1;
        assert!(pages < 500, "paging does not end");
        let r = s.get(&u).await;
        r.expect(200, &format!("GET {u}"));
        let b = r.json();
        for e in b["entry"].as_array().into_iter().flatten().filter(|e| e["search"]["mode"] == "match") {
            let id = format!("Observation/{}", e["resource"]["id"].as_str().expect("id"));
            *seen.entry(id.clone()).or_default() += 1;
            order.push(id);
        }
        url = next_link(&b);
        // let the writer make a few changes between pages
        let before = w.ops.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.ops.load(Ordering::SeqCst) < before + 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    w.stop.store(true, Ordering::SeqCst);
    writer_task.await.expect("writer");
    let errors = w.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "writer errors: {errors:?}");
    let created = w.created.lock().unwrap().clone();
    let deleted = w.deleted.lock().unwrap().clone();
    let ops = w.ops.load(Ordering::SeqCst);
    eprintln!(
        "{query}: {pages} pages, {} entries, {ops} writes ({} creates, {} deletes) in {:.1}s",
        order.len(),
        created.len(),
        deleted.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(ops >= pages, "the writer made only {ops} changes over {pages} pages");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(id, n)| format!("{id} x{n}")).collect();
    let missing: Vec<_> = pre.iter().filter(|id| !deleted.contains(*id) && !seen.contains_key(*id)).collect();
    let phantom: Vec<_> = seen.keys().filter(|id| !pre.contains(*id) && !created.contains(*id)).collect();
    assert!(
        twice.is_empty() && missing.is_empty() && phantom.is_empty(),
        "{query}: {} repeated (e.g. {:?}), {} skipped (e.g. {:?}), {} never created (e.g. {:?})",
        twice.len(),
        &twice[..twice.len().min(5)],
        missing.len(),
        &missing[..missing.len().min(5)],
        phantom.len(),
        &phantom[..phantom.len().min(5)]
    );
}

/// Default order (no `_sort`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_default_order_while_writing() {
    page_while_writing("_total=accurate").await;
}

/// Sorted on a value updates do not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_sorted_by_date_while_writing() {
    page_while_writing("_sort=date").await;
}

/// Sorted on `_lastUpdated`, which every update changes: an updated resource moves in the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_sorted_by_last_updated_while_writing() {
    page_while_writing("_sort=_lastUpdated").await;
}

/// Sorted descending on a value that changes on update (valueQuantity).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_sorted_by_changing_value_while_writing() {
    page_while_writing("_sort=-value-quantity").await;
}
