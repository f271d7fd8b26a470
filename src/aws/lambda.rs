//! The streamer Lambda's event handling: a DynamoDB stream event in, the partial batch
//! failures out (`ReportBatchItemFailures`: `{"batchItemFailures": [{"itemIdentifier": …}]}`).
use aws_lambda_events::dynamodb::Event;
use serde::Serialize;

use super::dynamo_json::item_from_json;
use super::stream::{Change, StreamHandler};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

pub async fn handle_event(handler: &StreamHandler, event: Event) -> BatchResponse {
    let changes = event
        .records
        .into_iter()
        .map(|r| {
            let id = r.change.sequence_number.clone().unwrap_or(r.event_id);
            let image = serde_json::to_value(&r.change.new_image).ok().and_then(|v| item_from_json(&v)).filter(|i| !i.is_empty());
            let old = serde_json::to_value(&r.change.old_image).ok().and_then(|v| item_from_json(&v));
            let old_version = old.as_ref().and_then(|o| o.get("version")).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
            Change { id, new_image: image, old_version }
        })
        .collect();
    let failed = handler.handle(changes).await;
    BatchResponse { batch_item_failures: failed.into_iter().map(|item_identifier| BatchItemFailure { item_identifier }).collect() }
}
