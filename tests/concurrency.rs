//! Concurrent writers on one resource: optimistic locking with If-Match loses no update,
//! plain updates serialise into strictly increasing versions.
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::Barrier;

const WRITERS: usize = 32;

async fn seed(s: &TestServer, id: &str) {
    let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": "Seed", "given": ["initial"]}]});
    s.put_json(&format!("/Patient/{id}"), &body).await.expect(201, "seed");
}

fn given(v: &Value) -> Vec<String> {
    v["name"][0]["given"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

/// Instance history as (version, resource) pairs, oldest first.
async fn versions(s: &TestServer, id: &str) -> Vec<(u64, Value)> {
    let entries = s.history_entries(&format!("/Patient/{id}/_history?_count=10")).await;
    let mut out: Vec<(u64, Value)> = entries
        .iter()
        .map(|e| {
            let v: u64 = e["resource"]["meta"]["versionId"]
                .as_str()
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("history entry without numeric versionId: {e}"));
            (v, e["resource"].clone())
        })
        .collect();
    out.reverse();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_writers_lose_no_update() {
    let s = Arc::new(TestServer::start());
    let id = "race";
    seed(&s, id).await;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let marker = format!("writer-{w}");
            let mut attempts = 0u32;
            loop {
                attempts += 1;
                assert!(attempts < 2000, "{marker}: no success after {attempts} attempts");
                let r = s.get(&format!("/Patient/{id}")).await;
                r.expect(200, "read before write");
                let ver = r.etag_version();
                let mut body = r.json();
                assert_eq!(body["meta"]["versionId"], json!(ver), "ETag and meta.versionId disagree");
                body["name"][0]["given"].as_array_mut().expect("given").push(json!(marker));
                let put = s
                    .send(
                        json_body(s.req(Method::PUT, &format!("/Patient/{id}")), &body)
                            .header("if-match", format!("W/\"{ver}\"")),
                    )
                    .await;
                match put.status {
                    200 => {
                        let new_ver: u64 = put.etag_version().parse().expect("numeric version");
                        assert_eq!(new_ver, ver.parse::<u64>().unwrap() + 1, "{marker}: version must advance by one");
                        return (marker, new_ver, attempts);
                    }
                    412 => {
                        put.expect_outcome("412 body");
                        continue;
                    }
                    other => panic!("{marker}: unexpected status {other}: {}", put.text()),
                }
            }
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        won.push(t.await.expect("writer task"));
    }
    let final_r = s.get(&format!("/Patient/{id}")).await;
    final_r.expect(200, "final read");
    assert_eq!(final_r.etag_version(), (WRITERS + 1).to_string(), "final version");
    let final_given = given(&final_r.json());
    for (marker, _, _) in &won {
        assert_eq!(final_given.iter().filter(|g| *g == marker).count(), 1, "{marker} must appear exactly once in {final_given:?}");
    }
    let won_versions: BTreeSet<u64> = won.iter().map(|w| w.1).collect();
    assert_eq!(won_versions, (2..=(WRITERS as u64 + 1)).collect(), "each success got its own version");

    let hist = versions(&s, id).await;
    let nums: Vec<u64> = hist.iter().map(|h| h.0).collect();
    assert_eq!(nums, (1..=(WRITERS as u64 + 1)).collect::<Vec<_>>(), "history versions contiguous");
    // each version adds exactly one marker to the previous one
    for pair in hist.windows(2) {
        let (a, b) = (given(&pair[0].1), given(&pair[1].1));
        assert_eq!(b.len(), a.len() + 1, "version {} must add one marker to version {}", pair[1].0, pair[0].0);
        assert_eq!(&b[..a.len()], &a[..], "version {} must extend version {}", pair[1].0, pair[0].0);
        let (m, _, _) = won.iter().find(|w| w.1 == pair[1].0).expect("a winner per version");
        assert_eq!(&b[a.len()], m, "version {} carries the marker of the writer that got it", pair[1].0);
    }
    let retries: u32 = won.iter().map(|w| w.2 - 1).sum();
    println!("{WRITERS} If-Match writers done with {retries} retries (412s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plain_concurrent_puts_serialise() {
    let s = Arc::new(TestServer::start());
    let id = "plain";
    seed(&s, id).await;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": "Plain", "given": [format!("w{w}")]}]});
            barrier.wait().await;
            let r = s.put_json(&format!("/Patient/{id}"), &body).await;
            r.expect(200, &format!("plain PUT w{w}"));
            let ver: u64 = r.etag_version().parse().expect("numeric version");
            let echoed = given(&r.json());
            assert_eq!(echoed, [format!("w{w}")], "response must be this writer's version");
            (w, ver)
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("writer task"));
    }
    let vers: BTreeSet<u64> = got.iter().map(|g| g.1).collect();
    assert_eq!(vers.len(), WRITERS, "every PUT got a distinct version: {got:?}");
    assert_eq!(vers, (2..=(WRITERS as u64 + 1)).collect(), "versions 2..=33");
    let hist = versions(&s, id).await;
    assert_eq!(hist.len(), WRITERS + 1, "history has every version");
    let nums: Vec<u64> = hist.iter().map(|h| h.0).collect();
    assert_eq!(nums, (1..=(WRITERS as u64 + 1)).collect::<Vec<_>>());
    // each version holds the body of the writer that got that version (no lost write)
    for (w, ver) in &got {
        let (_, res) = hist.iter().find(|h| h.0 == *ver).unwrap();
        assert_eq!(given(res), [format!("w{w}")], "version {ver}");
    }
    // newest versions' lastUpdated never go backwards
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = hist
        .iter()
        .map(|h| chrono::DateTime::parse_from_rfc3339(h.1["meta"]["lastUpdated"].as_str().unwrap()).unwrap())
        .collect();
    for pair in times.windows(2) {
        assert!(pair[0] <= pair[1], "lastUpdated goes backwards across versions: {times:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_expected_version_exactly_one_wins() {
    let s = Arc::new(TestServer::start());
    let id = "one-wins";
    seed(&s, id).await;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": "Same", "given": [format!("w{w}")]}]});
            barrier.wait().await;
            let r = s
                .send(json_body(s.req(Method::PUT, &format!("/Patient/{id}")), &body).header("if-match", "W/\"1\""))
                .await;
            if r.status == 412 {
                r.expect_outcome("412");
            }
            (w, r.status)
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("writer task"));
    }
    let ok: Vec<usize> = got.iter().filter(|g| g.1 == 200).map(|g| g.0).collect();
    let conflicts = got.iter().filter(|g| g.1 == 412).count();
    assert_eq!(ok.len(), 1, "exactly one writer must win: {got:?}");
    assert_eq!(conflicts, WRITERS - 1, "all others get 412: {got:?}");
    let r = s.get(&format!("/Patient/{id}")).await;
    assert_eq!(r.etag_version(), "2");
    assert_eq!(given(&r.json()), [format!("w{}", ok[0])], "the winner's body is stored");
    assert_eq!(versions(&s, id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_distinct_ids() {
    let s = Arc::new(TestServer::start());
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"resourceType": "Patient", "name": [{"family": format!("c{w}")}]});
            barrier.wait().await;
            let r = s.post_json("/Patient", &body).await;
            r.expect(201, "concurrent create");
            let v = r.json();
            assert_eq!(v["meta"]["versionId"], "1");
            (w, v["id"].as_str().unwrap().to_string())
        }));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        let (w, id) = t.await.expect("task");
        assert!(ids.insert(id.clone()), "id {id} assigned twice");
        let r = s.get(&format!("/Patient/{id}")).await;
        r.expect(200, "read created");
        assert_eq!(r.json()["name"][0]["family"], json!(format!("c{w}")));
    }
    assert_eq!(s.system_history_count().await, WRITERS);
}
