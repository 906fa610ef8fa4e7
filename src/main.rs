use clap::Parser;

/// glibc's malloc gives each thread that allocates its own arena and, after
/// a large block is freed, raises its mmap threshold so later large blocks
/// stay in the heap. Under a burst (a login flood: argon2's 19 MiB blocks,
/// the database threads' churn) that left the process at 2–3× its working
/// memory for good. Arenas per core and a fixed 1 MiB threshold keep peak RSS
/// close to what is in use (measured in bench/run.sh).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: mallopt only changes allocator tunables; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, i32::try_from(cores).unwrap_or(8));
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("keyhub: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
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
