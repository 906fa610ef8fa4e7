//! The command line: `keyhub serve` (default), `keyhub migrate`,
//! `keyhub admin create --email E --workspace NAME` (password on stdin).
use clap::{Parser, Subcommand};
use tokio::io::AsyncReadExt;

use crate::domain::{DisplayName, Email, Password, WorkspaceName};
use crate::{Application, Settings};

#[derive(Parser)]
#[command(name = "keyhub", version, about = "Self-hosted data portal with API-key management")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the portal (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administration without a browser.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin and a workspace; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        workspace: String,
        /// Display name; defaults to the part of the email before the @.
        #[arg(long)]
        name: Option<String>,
    },
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let db = crate::store::connect(&settings).await?;
            crate::store::migrate(&db).await?;
            println!("Migrations applied.");
            Ok(())
        }
        Command::Admin { command: AdminCommand::Create { email, workspace, name } } => {
            admin_create(settings, &email, &workspace, name.as_deref()).await
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    let url = match &settings.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}:{}", settings.bind.ip(), app.port()),
    };
    let db = app.db().clone();
    if settings.public_url.is_none() && !settings.bind.ip().is_loopback() {
        tracing::warn!(
            "KEYHUB_PUBLIC_URL is not set while keyhub listens on {}: invitation and reset links use the address \
             each request was sent to. Set KEYHUB_PUBLIC_URL to the URL people use.",
            settings.bind
        );
    }
    let data = match crate::data_dir::sqlite_path(&settings.database_url()) {
        Some(file) => format!("SQLite database {}", file.display()),
        None => format!("database {}", crate::config::redact_url(&settings.database_url())),
    };
    println!("keyhub is running at {url}/");
    println!("Data: {data} (secrets in {})", settings.data_dir.display());
    if !crate::store::users::any_exists(&db).await? {
        println!("First start: open {url}/setup and enter the setup code {}", app.setup_code());
    }
    app.run().await?;
    Ok(())
}

async fn admin_create(settings: Settings, email: &str, workspace: &str, name: Option<&str>) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let workspace = WorkspaceName::parse(workspace).map_err(|m| anyhow::anyhow!("--workspace: {m}"))?;
    let default_name = email.as_str().split('@').next().unwrap_or("admin").to_owned();
    let name = DisplayName::parse(name.unwrap_or(&default_name)).map_err(|m| anyhow::anyhow!("--name: {m}"))?;
    let mut input = String::new();
    tokio::io::stdin().read_to_string(&mut input).await?;
    let password = Password::parse(input.trim_end_matches(['\r', '\n']))
        .map_err(|m| anyhow::anyhow!("password on standard input: {m}"))?;

    let db = crate::store::connect(&settings).await?;
    crate::store::migrate(&db).await?;
    let hash = crate::auth::password::hash(&password).await?;
    if !crate::store::users::any_exists(&db).await? {
        crate::store::setup::complete(&db, &email, &name, hash, &workspace).await?;
        println!("Created admin {email} and workspace {}.", workspace.as_str());
        return Ok(());
    }
    let user = match crate::store::users::find_by_email(&db, &email).await? {
        Some(u) => {
            if !crate::auth::password::verify(password.expose(), Some(&u.password_hash)).await? {
                anyhow::bail!("{email} already exists and the password given does not match theirs");
            }
            u
        }
        None => crate::store::users::create(&db, &email, &name, hash).await?,
    };
    match crate::store::workspaces::create_owned(&db, &workspace, user.id).await? {
        Some(_) => {
            println!("{email} is admin of the new workspace {}.", workspace.as_str());
            Ok(())
        }
        None => {
            anyhow::bail!("a workspace named {} already exists", workspace.as_str())
        }
    }
}
