//! Creates the resources table when it is missing (local AWS mode; in production Terraform
//! creates it with the same keys, indexes and stream).
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;

use super::sdk_error;
use crate::error::Result;

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| sdk_error("build", e))
}

fn attr(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().map_err(|e| sdk_error("build", e))
}

fn gsi(name: &str, hash: &str) -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key("last_updated", KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(|e| sdk_error("build", e))
}

/// Creates `table` unless it exists; returns the ARN of its stream.
pub async fn ensure(client: &Client, table: &str) -> Result<Option<String>> {
    if let Ok(d) = client.describe_table().table_name(table).send().await {
        return Ok(d.table().and_then(|t| t.latest_stream_arn()).map(String::from));
    }
    let out = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("tenant_type")?)
        .attribute_definitions(attr("tenant")?)
        .attribute_definitions(attr("last_updated")?)
        .global_secondary_indexes(gsi("by_type", "tenant_type")?)
        .global_secondary_indexes(gsi("by_tenant", "tenant")?)
        .stream_specification(StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewAndOldImages).build().map_err(|e| sdk_error("build", e))?)
        .send()
        .await
        .map_err(|e| sdk_error("create table", e))?;
    Ok(out.table_description().and_then(|t| t.latest_stream_arn()).map(String::from))
}
