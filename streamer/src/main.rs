//! Hearth's second Lambda: DynamoDB stream batches into the OpenSearch index, through the
//! same handler the server runs in local AWS mode. Failed records are reported
//! (`ReportBatchItemFailures`), so only they are retried.
use std::sync::Arc;

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hearth::observability::init_lambda_logging();
    let cli = <hearth::config::Cli as clap::Parser>::parse_from(["hearth-streamer"]);
    let handler = Arc::new(hearth::aws::stream_handler(&cli.serve).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let handler = handler.clone();
        async move { Ok::<_, Error>(hearth::aws::lambda::handle_event(&handler, event.payload).await) }
    }))
    .await
}
