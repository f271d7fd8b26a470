//! The benchmark's ceiling: the fastest answer axum gives on this machine. Every request,
//! whatever its method or path, gets the same FHIR Patient body (200, application/fhir+json);
//! a request body is read and dropped. `bench/run.sh` starts it next to Hearth and the peer.
//!
//! `cargo run --release --example ceiling -- [ADDR] [BODY.json]`
//! (default 127.0.0.1:8099 and a small built-in Patient; the benchmark passes the body Hearth
//! answers for the read scenario, so both send the same bytes).
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;

const PATIENT: &str = r#"{"resourceType":"Patient","id":"example","meta":{"versionId":"1","lastUpdated":"2024-01-01T00:00:00.000Z"},"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25"}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8099".into());
    let body = match args.next() {
        Some(path) => Bytes::from(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?),
        None => Bytes::from_static(PATIENT.as_bytes()),
    };
    let app = Router::new().fallback(move |_req: Bytes| {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/fhir+json")], body).into_response() }
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
