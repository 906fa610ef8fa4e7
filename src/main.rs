use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEYHUB_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = keyhub::cli::Cli::parse();
    let settings = match keyhub::Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keyhub: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match keyhub::cli::run(cli, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyhub: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
