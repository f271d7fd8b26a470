//! Local AWS mode: reads the table's stream (every shard, from its start) and hands the
//! records to the same handler the streamer Lambda runs.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_dynamodbstreams::Client;

use super::dynamo_json::item_from_streams;
use super::stream::{Change, StreamHandler};

pub fn spawn(client: Client, stream_arn: String, handler: Arc<StreamHandler>) {
    tokio::spawn(async move {
        // shard id -> next iterator (None once the shard is closed and drained)
        let mut shards: HashMap<String, Option<String>> = HashMap::new();
        let mut described: Option<std::time::Instant> = None;
        loop {
            // New shards appear rarely (a split, a closed shard's successor): look every few seconds.
            let open = shards.values().filter(|i| i.is_some()).count();
            if described.is_none_or(|t| t.elapsed() > Duration::from_secs(3)) || open == 0 {
                if let Err(e) = discover(&client, &stream_arn, &mut shards).await {
                    tracing::warn!(error = %e, "stream: describe failed");
                }
                described = Some(std::time::Instant::now());
            }
            let mut idle = true;
            let mut lost = Vec::new();
            for (shard, iterator) in shards.iter_mut() {
                let Some(it) = iterator.clone() else { continue };
                match client.get_records().shard_iterator(&it).limit(1000).send().await {
                    Ok(out) => {
                        let changes: Vec<Change> = out
                            .records()
                            .iter()
                            .map(|r| {
                                let d = r.dynamodb();
                                Change {
                                    id: d.and_then(|d| d.sequence_number()).unwrap_or_default().to_string(),
                                    new_image: d.and_then(|d| d.new_image()).map(item_from_streams),
                                    old_version: d.and_then(|d| d.old_image()).and_then(|o| o.get("version")).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()),
                                }
                            })
                            .collect();
                        if !changes.is_empty() {
                            idle = false;
                            let failed = handler.handle(changes).await;
                            if !failed.is_empty() {
                                // Keep the iterator: the same records are read again.
                                tracing::warn!(shard = %shard, failed = failed.len(), "stream: retrying records");
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                continue;
                            }
                        }
                        *iterator = out.next_shard_iterator().map(String::from);
                    }
                    Err(e) => {
                        tracing::warn!(shard = %shard, error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "stream: read failed");
                        // An expired iterator: rediscover the shard (from its start; indexing is idempotent).
                        lost.push(shard.clone());
                    }
                }
            }
            for shard in lost {
                shards.remove(&shard);
            }
            if idle {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    });
}

async fn discover(client: &Client, arn: &str, shards: &mut HashMap<String, Option<String>>) -> Result<(), String> {
    let out = client.describe_stream().stream_arn(arn).send().await.map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e).to_string())?;
    let Some(desc) = out.stream_description() else { return Ok(()) };
    for shard in desc.shards() {
        let Some(id) = shard.shard_id() else { continue };
        if shards.contains_key(id) {
            continue;
        }
        let it = client
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e).to_string())?;
        shards.insert(id.to_string(), it.shard_iterator().map(String::from));
    }
    Ok(())
}
