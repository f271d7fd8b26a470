//! The FHIR Lambda: the same axum router as `hearth serve`, behind API Gateway through
//! `lambda_http`. Configuration comes from `HEARTH_*` environment variables.
use clap::Parser;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hearth::observability::init_lambda_logging();
    let cli = hearth::config::Cli::parse_from(["hearth-lambda"]);
    let (app, _store) = hearth::server::build(cli.serve).await?;
    lambda_http::run(app).await
}
