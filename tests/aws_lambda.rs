//! The FHIR Lambda binary (`hearth-lambda`) end to end: it is started the way Lambda starts
//! it (AWS_LAMBDA_RUNTIME_API pointing at a runtime API, here a small one served by the
//! test on loopback), receives API Gateway HTTP API (payload 2.0) events, and its
//! responses come back through the runtime API. Storage is the AWS backend on moto/osmem.
#![cfg(feature = "aws")]
mod common;

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

#[derive(Default)]
struct Runtime {
    events: Mutex<VecDeque<(String, Value)>>,
    responses: Mutex<Vec<(String, Value)>>,
    errors: Mutex<Vec<String>>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    loop {
        if let Some((id, event)) = rt.events.lock().unwrap().pop_front() {
            let mut h = HeaderMap::new();
            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            h.insert("lambda-runtime-deadline-ms", "4102444800000".parse().unwrap());
            h.insert("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:hearth".parse().unwrap());
            h.insert("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".parse().unwrap());
            return (StatusCode::OK, h, event.to_string());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn respond(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: String) -> StatusCode {
    rt.responses.lock().unwrap().push((id, serde_json::from_str(&body).unwrap_or(Value::String(body))));
    StatusCode::ACCEPTED
}

async fn error(State(rt): State<Arc<Runtime>>, body: String) -> StatusCode {
    rt.errors.lock().unwrap().push(body);
    StatusCode::ACCEPTED
}

fn http_event(method: &str, path: &str, body: Option<&Value>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "ANY /fhir/{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/fhir+json", "accept": "application/fhir+json", "host": "api.example.org"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.org", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "req", "routeKey": "ANY /fhir/{proxy+}", "stage": "$default", "time": "01/Jan/2030:00:00:00 +0000", "timeEpoch": 1893456000000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

struct Lambda(Child);

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn invoke(rt: &Arc<Runtime>, id: &str, event: Value) -> Value {
    rt.events.lock().unwrap().push_back((id.to_string(), event));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, r)) = rt.responses.lock().unwrap().iter().find(|(rid, _)| rid == id) {
            return r.clone();
        }
        let errors = rt.errors.lock().unwrap().clone();
        assert!(errors.is_empty(), "the function reported errors: {errors:?}");
        assert!(Instant::now() < deadline, "no response to {id} within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_events_run_through_the_same_router() {
    let rt = Arc::new(Runtime::default());
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(rt.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth-lambda"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HEARTH_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(common::aws::aws_env())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "hearth")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("HEARTH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let _lambda = Lambda(cmd.spawn().expect("start hearth-lambda"));

    let patient = json!({"resourceType": "Patient", "name": [{"family": "Lambda"}]});
    let created = invoke(&rt, "r1", http_event("POST", "/fhir/Patient", Some(&patient))).await;
    assert_eq!(created["statusCode"], json!(201), "{created}");
    let body: Value = serde_json::from_str(created["body"].as_str().expect("a body")).unwrap();
    let id = body["id"].as_str().expect("an id").to_string();
    let location = created["headers"]["location"].as_str().unwrap_or_default();
    assert!(location.contains(&format!("/fhir/Patient/{id}/_history/1")), "Location: {location}");

    let read = invoke(&rt, "r2", http_event("GET", &format!("/fhir/Patient/{id}"), None)).await;
    assert_eq!(read["statusCode"], json!(200));
    let back: Value = serde_json::from_str(read["body"].as_str().unwrap()).unwrap();
    assert_eq!(back["name"], patient["name"]);

    let search = invoke(&rt, "r3", http_event("GET", "/fhir/Patient", None)).await;
    assert_eq!(search["statusCode"], json!(200));
    let missing = invoke(&rt, "r4", http_event("GET", "/fhir/Patient/nope", None)).await;
    assert_eq!(missing["statusCode"], json!(404));
    let outcome: Value = serde_json::from_str(missing["body"].as_str().unwrap()).unwrap();
    assert_eq!(outcome["resourceType"], json!("OperationOutcome"));
}
