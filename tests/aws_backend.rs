//! What only the AWS backend has: the stream indexer end to end (records read from the
//! emulated DynamoDB stream with aws-sdk-dynamodbstreams, handed to the streamer Lambda's
//! handler, then found by search), idempotent indexing, partial batch failures,
//! transactions beyond `TransactWriteItems`' 100 actions, oversized resources, presigned
//! Binary downloads, lock recovery and `hearth reindex`. The shared HTTP suites run on this
//! backend too (scripts/test.sh runs them again with HEARTH_TEST_BACKEND=aws).
#![cfg(feature = "aws")]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use common::aws::{aws_env, emulators};
use common::*;
use serde_json::{json, Value};

/// Sets the process environment the library calls need (same as the server's).
fn library_env(env: &[(String, String)]) -> hearth::config::ServeConfig {
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    std::env::set_var("HEARTH_AWS_LOCAL", "false");
    <hearth::config::Cli as clap::Parser>::parse_from(["hearth"]).serve
}

fn start(env: &[(String, String)], extra: &[(&str, &str)]) -> TestServer {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    TestServer::start_with_env(&all)
}

async fn dynamo() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&hearth::aws::sdk_config().await)
}

/// The table's stream records as a Lambda DynamoDB event.
async fn stream_event(table: &str) -> aws_lambda_events::dynamodb::Event {
    let sdk = hearth::aws::sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let arn = ddb.describe_table().table_name(table).send().await.unwrap().table().unwrap().latest_stream_arn().unwrap().to_string();
    let desc = streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let mut records = Vec::new();
    for shard in desc.stream_description().unwrap().shards() {
        let it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let mut iterator = it.shard_iterator().map(String::from);
        while let Some(i) = iterator.take() {
            let out = streams.get_records().shard_iterator(&i).send().await.unwrap();
            if out.records().is_empty() {
                break;
            }
            for r in out.records() {
                let d = r.dynamodb().unwrap();
                let image = |m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
                    Value::Object(m.map(|m| m.iter().map(|(k, v)| (k.clone(), ddb_json(v))).collect()).unwrap_or_default())
                };
                records.push(json!({
                    "eventID": r.event_id().unwrap_or("e"),
                    "eventName": r.event_name().map(|n| n.as_str().to_string()).unwrap_or_default(),
                    "eventSource": "aws:dynamodb",
                    "eventVersion": "1.1",
                    "awsRegion": "us-east-1",
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1_700_000_000,
                        "Keys": image(d.keys()),
                        "NewImage": image(d.new_image()),
                        "OldImage": image(d.old_image()),
                        "SequenceNumber": d.sequence_number().unwrap_or_default(),
                        "SizeBytes": 1,
                        "StreamViewType": "NEW_AND_OLD_IMAGES"
                    }
                }));
            }
            iterator = out.next_shard_iterator().map(String::from);
        }
    }
    serde_json::from_value(json!({ "Records": records })).expect("a Lambda DynamoDB event")
}

fn ddb_json(v: &aws_sdk_dynamodbstreams::types::AttributeValue) -> Value {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match v {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::B(b) => json!({"B": b64(b.as_ref())}),
        A::Bool(b) => json!({"BOOL": b}),
        A::Ss(v) => json!({"SS": v}),
        A::M(m) => json!({"M": m.iter().map(|(k, v)| (k.clone(), ddb_json(v))).collect::<serde_json::Map<_, _>>()}),
        A::L(l) => json!({"L": l.iter().map(ddb_json).collect::<Vec<_>>()}),
        _ => json!({"NULL": true}),
    }
}

async fn total(s: &TestServer, query: &str) -> u64 {
    let sep = if query.contains('?') { '&' } else { '?' };
    let r = s.get(&format!("{query}{sep}_summary=count")).await;
    r.expect(200, query);
    r.json()["total"].as_u64().expect("total")
}

async fn until_total(s: &TestServer, query: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = total(s, query).await;
        if n == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{query}: {n} matches, expected {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamer_indexes_what_the_server_wrote() {
    let env = aws_env();
    let config = library_env(&env);
    // Production shape: the server does not consume the stream; the streamer Lambda does.
    let ddb = dynamo().await;
    hearth::persistence::dynamodb::table::ensure(&ddb, &config.dynamodb_table).await.unwrap();
    let handler = hearth::aws::stream_handler(&config).await.expect("stream handler");
    let s = start(&env, &[("HEARTH_AWS_LOCAL", "false")]);
    let created = s.post_json("/Patient", &json!({"resourceType": "Patient", "identifier": [{"system": "urn:s", "value": "1"}], "name": [{"family": "Streamed"}]})).await;
    created.expect(201, "create");
    let id = created.json()["id"].as_str().unwrap().to_string();
    s.put_json(&format!("/Patient/{id}"), &json!({"resourceType": "Patient", "id": id, "name": [{"family": "Updated"}]})).await.expect(200, "update");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(total(&s, "/Patient?family=Updated").await, 0, "nothing is indexed before the streamer runs");

    let event = stream_event(&config.dynamodb_table).await;
    assert!(event.records.len() >= 4, "version and current items of two writes: {} records", event.records.len());
    let response = hearth::aws::lambda::handle_event(&handler, event).await;
    assert!(response.batch_item_failures.is_empty(), "no failures: {:?}", response.batch_item_failures.len());
    until_total(&s, "/Patient?family=Updated", 1).await;
    assert_eq!(total(&s, "/Patient?family=Streamed").await, 0, "the older version never overwrites the newer one");

    // Replaying the whole stream (at-least-once delivery) changes nothing.
    let replay = hearth::aws::lambda::handle_event(&handler, stream_event(&config.dynamodb_table).await).await;
    assert!(replay.batch_item_failures.is_empty());
    until_total(&s, "/Patient?family=Updated", 1).await;
    assert_eq!(total(&s, "/Patient?family=Streamed").await, 0);

    // A delete removes the document.
    s.delete(&format!("/Patient/{id}")).await.expect(204, "delete");
    hearth::aws::lambda::handle_event(&handler, stream_event(&config.dynamodb_table).await).await;
    until_total(&s, "/Patient?family=Updated", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamer_reports_partial_failures_and_skips_bad_records() {
    let env = aws_env();
    let mut config = library_env(&env);
    let ddb = dynamo().await;
    hearth::persistence::dynamodb::table::ensure(&ddb, &config.dynamodb_table).await.unwrap();
    let s = start(&env, &[("HEARTH_AWS_LOCAL", "false")]);
    s.post_json("/Patient", &json!({"resourceType": "Patient", "name": [{"family": "Failing"}]})).await.expect(201, "create");
    let mut event = stream_event(&config.dynamodb_table).await;
    // A record whose image is not a resource item is skipped, not retried forever.
    let mut bad = event.records[0].clone();
    bad.change.sequence_number = Some("bad-1".into());
    bad.change.new_image = serde_json::from_value(json!({"pk": {"S": "default#Patient#x"}, "sk": {"S": "current"}, "version": {"N": "1"}, "body": {"B": "bm90IGpzb24="}, "z": {"BOOL": true}})).unwrap();
    event.records.push(bad);
    // With the index unreachable, every resource write is reported for retry.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    config.opensearch_url = format!("http://127.0.0.1:{port}");
    let unreachable = hearth::aws::stream_handler(&config).await;
    if let Ok(h) = unreachable {
        let r = hearth::aws::lambda::handle_event(&h, event.clone()).await;
        let ids: Vec<String> = r.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        assert!(!ids.is_empty(), "failures are reported");
        assert!(!ids.contains(&"bad-1".to_string()), "an undecodable record is not retried");
    }
    config.opensearch_url = emulators().opensearch_url.clone();
    let handler = hearth::aws::stream_handler(&config).await.unwrap();
    let r = hearth::aws::lambda::handle_event(&handler, event).await;
    assert!(r.batch_item_failures.is_empty(), "the bad record is skipped, the good ones indexed");
    until_total(&s, "/Patient?family=Failing", 1).await;
}

fn patient_entry(i: usize) -> Value {
    json!({"fullUrl": format!("urn:uuid:00000000-0000-0000-0000-{i:012}"), "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:big", "value": i.to_string()}], "name": [{"family": "Big"}]}, "request": {"method": "POST", "url": "Patient"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_beyond_100_actions_are_atomic() {
    let s = TestServer::start_aws();
    // 60 creates (240 DynamoDB actions with their identifier guards) and a failing
    // conditional reference at the end.
    let mut entries: Vec<Value> = (0..60).map(patient_entry).collect();
    entries.push(json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient?identifier=urn:none|0"}}, "request": {"method": "POST", "url": "Observation"}}));
    let failing = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let r = s.post_json("", &failing).await;
    assert!(r.status >= 400 && r.status < 500, "failing transaction: {}", r.status);
    assert_eq!(total(&s, "/Patient").await, 0, "nothing stored");
    assert_eq!(s.system_history_count().await, 0, "no history");
    entries_ok(&s).await;
}

async fn entries_ok(s: &TestServer) {
    let mut entries: Vec<Value> = (0..60).map(patient_entry).collect();
    entries.push(json!({"fullUrl": "urn:uuid:10000000-0000-0000-0000-000000000001", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "urn:uuid:00000000-0000-0000-0000-000000000007"}}, "request": {"method": "POST", "url": "Observation"}}));
    let r = s.post_json("", &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})).await;
    r.expect(200, "large transaction");
    assert_eq!(total(s, "/Patient?family=Big").await, 60);
    let obs = s.get("/Observation").await.json();
    let subject = obs["entry"][0]["resource"]["subject"]["reference"].as_str().unwrap().to_string();
    s.get(&format!("/{subject}")).await.expect(200, "the rewritten reference resolves");
    // The identifier guards written by the staged path serve conditional creates.
    let again = common::json_body(s.req(reqwest::Method::POST, "/Patient"), &json!({"resourceType": "Patient"})).header("If-None-Exist", "identifier=urn:big|42");
    s.send(again).await.expect(200, "matched, not created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_resources_round_trip() {
    let s = TestServer::start_aws();
    // ~1.2 MB of text that does not compress below DynamoDB's 400 KB item limit.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let noise: String = (0..1_200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'a' + (x % 26) as u8) as char
        })
        .collect();
    let big = json!({"resourceType": "Patient", "id": "huge", "name": [{"family": "Huge", "given": [noise]}]});
    s.put_json("/Patient/huge", &big).await.expect(201, "store a 1.2 MB resource");
    let back = s.get("/Patient/huge").await.json();
    assert_eq!(back["name"], big["name"]);
    let medium = json!({"resourceType": "Patient", "id": "medium", "name": [{"family": "Medium", "given": ["x".repeat(600_000)]}]});
    s.put_json("/Patient/medium", &medium).await.expect(201, "store a compressible 600 KB resource");
    assert_eq!(s.get("/Patient/medium").await.json()["name"], medium["name"]);
    assert_eq!(total(&s, "/Patient?family=Huge").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_binaries_redirect_to_presigned_urls() {
    let env = aws_env();
    let s = start(&env, &[("HEARTH_PRESIGN_ABOVE_BYTES", "1000")]);
    let small = s.send(s.req(reqwest::Method::POST, "/Binary").header("content-type", "application/octet-stream").body(vec![7u8; 100])).await;
    small.expect(201, "small binary");
    let big_bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let big = s.send(s.req(reqwest::Method::POST, "/Binary").header("content-type", "application/octet-stream").body(big_bytes.clone())).await;
    big.expect(201, "big binary");
    let id = big.json()["id"].as_str().unwrap().to_string();
    let no_redirect = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirect.get(s.url(&format!("/Binary/{id}"))).header("accept", "application/octet-stream").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("X-Amz-Signature"), "a presigned URL: {location}");
    let fetched = no_redirect.get(&location).send().await.unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), big_bytes);
    let small_id = small.json()["id"].as_str().unwrap().to_string();
    let r = no_redirect.get(s.url(&format!("/Binary/{small_id}"))).header("accept", "application/octet-stream").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "small content is served inline");
    assert_eq!(r.bytes().await.unwrap().to_vec(), vec![7u8; 100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_locks_are_recovered() {
    let env = aws_env();
    let config = library_env(&env);
    let s = TestServer::start_with_env(&env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
    s.put_json("/Patient/a", &json!({"resourceType": "Patient", "id": "a", "active": true})).await.expect(201, "a");
    s.put_json("/Patient/b", &json!({"resourceType": "Patient", "id": "b", "active": true})).await.expect(201, "b");
    let ddb = dynamo().await;
    let table = &config.dynamodb_table;
    let put = |item: Vec<(&str, AttributeValue)>| ddb.put_item().table_name(table).set_item(Some(item.into_iter().map(|(k, v)| (k.to_string(), v)).collect())).send();
    let s_ = |v: &str| AttributeValue::S(v.to_string());
    let n_ = |v: i64| AttributeValue::N(v.to_string());
    let past = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 120) as i64;
    // A crashed transaction that never committed locked Patient/a...
    put(vec![("pk", s_("tx#dead1")), ("sk", s_("tx")), ("status", s_("pending"))]).await.unwrap();
    ddb.update_item().table_name(table).key("pk", s_("default#Patient#a")).key("sk", s_("current"))
        .update_expression("SET lk = :t, lk_exp = :e").expression_attribute_values(":t", s_("dead1")).expression_attribute_values(":e", n_(past)).send().await.unwrap();
    // ...and one that committed but crashed before applying its write to Patient/b.
    put(vec![("pk", s_("tx#dead2")), ("sk", s_("tx")), ("status", s_("committed"))]).await.unwrap();
    let staged = json!({"resourceType": "Patient", "id": "b", "active": false, "meta": {"versionId": "2", "lastUpdated": "2030-01-01T00:00:00Z"}}).to_string();
    put(vec![
        ("pk", s_("default#Patient#b")), ("sk", s_("v#0000000002")), ("version", n_(2)), ("ts", n_(1_900_000_000_000_000)), ("method", s_("PUT")),
        ("created", AttributeValue::Bool(false)), ("body", AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(staged.into_bytes()))), ("txid", s_("dead2")),
        ("tenant", s_("default")), ("tenant_type", s_("default#Patient")), ("last_updated", s_("1900000000000000#Patient#b#0000000002")),
    ]).await.unwrap();
    ddb.update_item().table_name(table).key("pk", s_("default#Patient#b")).key("sk", s_("current"))
        .update_expression("SET lk = :t, lk_exp = :e").expression_attribute_values(":t", s_("dead2")).expression_attribute_values(":e", n_(past)).send().await.unwrap();

    // Readers see the committed write already, and not the uncommitted one.
    assert_eq!(s.get("/Patient/b").await.json()["active"], json!(false));
    assert_eq!(s.get("/Patient/a").await.json()["active"], json!(true));
    // Writers take the expired locks over: the committed write is rolled forward first.
    let r = s.put_json("/Patient/b", &json!({"resourceType": "Patient", "id": "b", "active": true})).await;
    r.expect(200, "update b");
    assert_eq!(r.etag_version(), "3", "after the rolled-forward version 2");
    let r = s.put_json("/Patient/a", &json!({"resourceType": "Patient", "id": "a", "active": false})).await;
    r.expect(200, "update a");
    assert_eq!(r.etag_version(), "2");
    let status = ddb.get_item().table_name(table).key("pk", s_("tx#dead1")).key("sk", s_("tx")).send().await.unwrap();
    assert_eq!(status.item().unwrap()["status"].as_s().unwrap(), "aborted", "the dead transaction can never commit now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_index_from_dynamodb() {
    let env = aws_env();
    let config = library_env(&env);
    let s = TestServer::start_with_env(&env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
    for i in 0..5 {
        s.put_json(&format!("/Patient/r{i}"), &json!({"resourceType": "Patient", "id": format!("r{i}"), "name": [{"family": "Reindexed"}]})).await.expect(201, "put");
    }
    assert_eq!(total(&s, "/Patient?family=Reindexed").await, 5);
    // Lose the index entirely, then rebuild it with `hearth reindex`.
    let index = format!("{}/{}-default", emulators().opensearch_url, config.opensearch_index);
    reqwest::Client::new().delete(&index).send().await.unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("reindex")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HEARTH_AWS_LOCAL", "false")
        .output()
        .unwrap();
    assert!(out.status.success(), "reindex: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("reindexed 5 resources"), "{}", String::from_utf8_lossy(&out.stdout));
    until_total(&s, "/Patient?family=Reindexed", 5).await;
}
