use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::io::IsTerminal;
    // Logs go to stderr, coloured only on a terminal: a service manager's log
    // or a file gets plain text. The default level keeps library chatter
    // (migrations, worker start-up) out of the few lines a first start prints.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEYHUB_LOG").unwrap_or_else(|_| "warn,keyhub=info".into()),
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
