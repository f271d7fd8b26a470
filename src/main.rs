use clap::Parser;
use hearth::config::{Cli, Command};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let log_sink = hearth::linelog::LineSink::new("hearth-log", std::io::stderr());
    let log = log_sink.writer();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HEARTH_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(log)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(c)) => hearth::server::serve(c).await,
        Some(Command::Reindex(c)) => hearth::server::reindex(c).await,
        Some(Command::Import(c)) => hearth::import::run(c).await,
        Some(Command::Token(c)) => hearth::auth::mint_dev_token(&c),
        None => hearth::server::serve(cli.serve).await,
    };
    // Every queued log line is written before the last words.
    drop(log_sink);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hearth: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
