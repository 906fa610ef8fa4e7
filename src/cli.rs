//! The command line: `keyhub serve` (default), `keyhub migrate`,
//! `keyhub admin create --email E --workspace NAME` (password on stdin),
//! `keyhub keys create --email E --label L --permission P…` (password on stdin).
use clap::{Parser, Subcommand};
use tokio::io::AsyncReadExt;

use crate::domain::{DisplayName, Email, Password, WorkspaceName};
use crate::refusal::Refusal;
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
    /// Seeds an empty data dir for `bench/run.sh` (keys, a collection) and
    /// prints shell assignments naming what it made.
    #[command(hide = true)]
    BenchSeed {
        #[arg(long, default_value_t = 100_000)]
        hub_keys: usize,
        #[arg(long, default_value_t = 100_000)]
        personal_keys: usize,
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
    },
    /// Administration without a browser.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Your personal API keys without a browser.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a personal key and print it (once). The account's password is
    /// read from standard input, as `admin create` does.
    Create {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// What uses the key, e.g. "nightly export".
        #[arg(long)]
        label: String,
        /// A permission the key carries (repeat for more), e.g. data.read.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        /// The workspace's slug (as in /hub/{slug}/…); needed when the
        /// account belongs to several workspaces.
        #[arg(long)]
        workspace: Option<String>,
        /// 30, 90 or 365 (days), a date YYYY-MM-DD, or "never".
        #[arg(long, default_value = "90")]
        expires: String,
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
    /// Print a one-time password-reset link for a user (valid 24 hours).
    ResetPassword {
        #[arg(long)]
        email: String,
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
        Command::Admin { command: AdminCommand::ResetPassword { email } } => reset_password(settings, &email).await,
        Command::Keys { command: KeysCommand::Create { email, label, permissions, workspace, expires } } => {
            keys_create(settings, &email, &label, &permissions, workspace.as_deref(), &expires).await
        }
        Command::BenchSeed { hub_keys, personal_keys, rows } => {
            let seeded =
                crate::bench_seed::run(settings, crate::bench_seed::Counts { hub_keys, personal_keys, rows }).await?;
            seeded.print()?;
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    let url = base_url(&settings, app.port());
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

/// The URL people use: `KEYHUB_PUBLIC_URL`, else the bind address.
fn base_url(settings: &Settings, port: u16) -> String {
    match &settings.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}:{port}", settings.bind.ip()),
    }
}

/// `keyhub admin reset-password --email E`: for an operator whose users (or
/// who) forgot a password and cannot reach an admin. Audited like the page.
async fn reset_password(settings: Settings, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let db = crate::store::connect(&settings).await?;
    crate::store::migrate(&db).await?;
    let user = crate::store::users::find_by_email(&db, &email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no keyhub account has the email {email}"))?;
    let memberships = crate::store::members::all_effective(&db).await?;
    let workspace_id = memberships
        .iter()
        .find(|(_, user_id, _, _)| *user_id == user.id)
        .map(|(ws, _, _, _)| *ws)
        .ok_or_else(|| anyhow::anyhow!("{email} belongs to no workspace; invite them again instead"))?;
    let token = crate::domain::tokens::random_token(40);
    crate::store::password_resets::create(&db, workspace_id, user.id, crate::domain::tokens::digest(&token), None)
        .await?;
    crate::store::audit::record_for_user(&db, user.id, |ws| crate::store::audit::Event {
        workspace_id: ws,
        actor_user_id: None,
        actor_name: Some("keyhub admin reset-password (command line)".into()),
        action: "user.password_reset_link_created",
        target: Some(crate::store::audit::Target::user(user.id, email.as_str())),
        detail: "One-time link valid for 24 hours, made on the command line.".into(),
        ip: None,
    })
    .await?;
    println!("{}/reset/{token}", base_url(&settings, settings.bind.port()));
    eprintln!("Send this link to {email}; it works once, for 24 hours.");
    Ok(())
}

/// `keyhub keys create`: a first key for a script or for curl, without a
/// browser. The same rules as the keys page: the account's password, a
/// subset of what it holds now in the workspace, a label unique among its keys.
async fn keys_create(
    settings: Settings,
    email: &str,
    label: &str,
    permissions: &[String],
    workspace: Option<&str>,
    expires: &str,
) -> anyhow::Result<()> {
    use crate::domain::keys::{Expiry, KeyLabel};
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let label = KeyLabel::parse(label).map_err(|m| anyhow::anyhow!("--label: {m}"))?;
    let wanted = crate::domain::PermissionSet::parse_names(permissions.iter().map(String::as_str))
        .map_err(|m| anyhow::anyhow!("--permission: {m}"))?;
    let expiry = Expiry::parse(expires, None, chrono::Utc::now())
        .map_err(|m| anyhow::anyhow!("--expires: {m} (30, 90 or 365 days, a date YYYY-MM-DD, or never)"))?;
    let mut input = String::new();
    tokio::io::stdin().read_to_string(&mut input).await?;
    let password = input.trim_end_matches(['\r', '\n']);

    let db = crate::store::connect(&settings).await?;
    crate::store::migrate(&db).await?;
    let user = crate::store::users::find_by_email(&db, &email).await?;
    // The same answer for an unknown email and a wrong password.
    let passwords = crate::auth::password::PasswordPool::new();
    if !passwords.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await? {
        anyhow::bail!("the email or the password (on standard input) is wrong");
    }
    let user = user.ok_or_else(|| anyhow::anyhow!("the email or the password (on standard input) is wrong"))?;
    let mut memberships = Vec::new();
    for (ws, user_id, perms, disabled) in crate::store::members::all_effective(&db).await? {
        if user_id == user.id && !disabled {
            memberships.push((ws, perms));
        }
    }
    let (workspace_id, holds) = match workspace {
        Some(slug) => {
            let ws = crate::store::workspaces::find_by_slug(&db, slug)
                .await?
                .ok_or_else(|| anyhow::anyhow!("--workspace: no workspace has the slug {slug}"))?;
            memberships
                .into_iter()
                .find(|(id, _)| *id == ws.id)
                .ok_or_else(|| anyhow::anyhow!("--workspace: {email} is not an active member of {slug}"))?
        }
        None if memberships.len() == 1 => memberships.remove(0),
        None if memberships.is_empty() => anyhow::bail!("{email} is not an active member of any workspace"),
        None => anyhow::bail!("{email} belongs to several workspaces: name one with --workspace SLUG"),
    };
    let by = crate::store::audit::Actor {
        workspace_id,
        user_id: user.id,
        name: Some(format!("{} (keyhub keys create, command line)", user.email)),
        via: None,
        ip: None,
    };
    // The workspace's default limit, as a key made on the page starts with.
    let limits = crate::store::workspaces::find(&db, workspace_id)
        .await?
        .map(|w| {
            crate::domain::limits::Limits::from_stored(w.default_rate_limit_requests, w.default_rate_limit_window, None)
        })
        .unwrap_or_default();
    let (key, secret) = crate::account::keys::generate(&db, &by, &holds, &label, &wanted, expiry.at(), limits)
        .await
        .map_err(|e| match e {
            Refusal::Fields(errors) if errors.iter().any(|e| e.field == "permission") => {
                anyhow::anyhow!(
                    "--permission: the key may carry only what {email} holds now here: {}",
                    if holds.is_empty() { "nothing".into() } else { holds.to_stored() }
                )
            }
            Refusal::Fields(errors) => errors.first().map_or_else(
                || anyhow::anyhow!("the key was refused"),
                |e| anyhow::anyhow!("--{}: {}", e.field, e.message),
            ),
            other => anyhow::Error::new(other),
        })?;
    // Running nodes read the new key from the change log they follow.
    let change = crate::store::key_changes::Change {
        workspace_id: key.workspace_id,
        key_id: Some(key.id),
        ..Default::default()
    };
    crate::store::key_changes::log(&db, change).await?;
    println!("{}", secret.expose());
    eprintln!(
        "Personal key “{}” ({}) for {email}: {}. Copy it now; it is not shown again. Send it as Authorization: Bearer <key>.",
        key.label,
        key.identifier,
        key.expires_at.map(|t| format!("expires {}", t.format("%Y-%m-%d"))).unwrap_or_else(|| "never expires".into())
    );
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
    let passwords = crate::auth::password::PasswordPool::new();
    let hash = passwords.hash(&password).await?;
    if !crate::store::users::any_exists(&db).await? {
        crate::store::setup::complete(&db, &email, &name, hash, &workspace).await?;
        println!("Created admin {email} and workspace {}.", workspace.as_str());
        return Ok(());
    }
    let user = match crate::store::users::find_by_email(&db, &email).await? {
        Some(u) => {
            if !passwords.verify(password.expose(), Some(&u.password_hash)).await? {
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
