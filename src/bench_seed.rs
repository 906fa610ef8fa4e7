//! `keyhub bench-seed` (hidden): the data `bench/run.sh` measures against,
//! made through keyhub's own code paths rather than SQL written for the
//! occasion. A fresh data dir gets:
//!
//! - an admin (`bench@example.com`) and the workspace "Bench";
//! - a 10,000-row dataset imported from CSV, one collection of it and three
//!   endpoints on it: `items` (public), `guarded` (keys) and `members`;
//! - the guarded key: an API key with three IP-filter rows and two templated
//!   headers, and a portal token naming the admin, both on `guarded`; the
//!   same key with a rate limit (limited) and with a monthly quota (metered),
//!   each too high to refuse;
//! - `hub_keys` API keys in all (the two above and filler keys with their own
//!   secrets, some with IP filters), loaded into every node's snapshot;
//! - `personal_keys` personal keys in all: 1,000 of the admin's (the keys tab)
//!   and the rest spread over members of 1,000 keys each.
//!
//! It prints shell assignments (`NAME=value`) for the benchmark to `eval`.
use std::io::Write;

use anyhow::{Context, bail};

use crate::datasets::service::{self, NewContents};
use crate::domain::header_template::HeaderRow;
use crate::domain::keys::{KeyLabel, KeySecret};
use crate::domain::{DisplayName, Email, Password, Permission, PermissionSet, Role, WorkspaceName};
use crate::hub::keys::{ExpiryInput, IpRow, KeyInput};
use crate::hub::manage::{CollectionInput, EndpointInput};
use crate::store::audit::Actor;
use crate::store::hub_keys::KeySpec;
use crate::{Application, Settings};

pub const EMAIL: &str = "bench@example.com";
pub const PASSWORD: &str = "bench password 1234";
/// Keys per member: the admin's keys tab shows this many.
const KEYS_PER_MEMBER: usize = 1_000;

pub struct Counts {
    pub hub_keys: usize,
    pub personal_keys: usize,
    pub rows: usize,
}

/// What the seed made that a benchmark presents or edits.
pub struct Seeded {
    pub workspace_id: i64,
    /// The workspace's slug, as in `/hub/{workspace}/…`.
    pub workspace: String,
    /// The guarded endpoint's API key (secret) and its id.
    pub hub_key: String,
    pub hub_key_id: i64,
    /// The same key with a rate limit too high to trigger (secret): what
    /// counting against a limit costs.
    pub limited_key: String,
    /// An API key on `guarded` with a monthly quota too high to refuse.
    pub metered_key: String,
    /// The admin's first personal key (secret).
    pub personal_key: String,
    pub dataset_id: i64,
    pub seconds: f64,
}

impl Seeded {
    /// Shell assignments for `bench/run.sh` to source.
    pub fn print(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "BENCH_EMAIL='{EMAIL}'")?;
        writeln!(out, "BENCH_PASSWORD='{PASSWORD}'")?;
        writeln!(out, "BENCH_WORKSPACE='{}'", self.workspace)?;
        writeln!(out, "BENCH_HUB_KEY='{}'", self.hub_key)?;
        writeln!(out, "BENCH_HUB_KEY_ID={}", self.hub_key_id)?;
        writeln!(out, "BENCH_LIMITED_KEY='{}'", self.limited_key)?;
        writeln!(out, "BENCH_METERED_KEY='{}'", self.metered_key)?;
        writeln!(out, "BENCH_PERSONAL_KEY='{}'", self.personal_key)?;
        writeln!(out, "BENCH_DATASET_ID={}", self.dataset_id)?;
        writeln!(out, "BENCH_SEED_SECONDS={:.1}", self.seconds)
    }
}

pub async fn run(mut settings: Settings, n: Counts) -> anyhow::Result<Seeded> {
    let db = crate::store::connect(&settings).await?;
    crate::store::migrate(&db).await?;
    if crate::store::users::any_exists(&db).await? {
        bail!("bench-seed needs an empty data dir (KEYHUB_DATA_DIR / KEYHUB_DATABASE_URL); this one has users");
    }
    let started = std::time::Instant::now();
    let email = Email::parse(EMAIL).map_err(anyhow::Error::msg)?;
    let password = Password::parse(PASSWORD).map_err(anyhow::Error::msg)?;
    let hash = crate::auth::password::PasswordPool::new().hash(&password).await?;
    let name = DisplayName::parse("Bench").map_err(anyhow::Error::msg)?;
    let workspace = WorkspaceName::parse("Bench").map_err(anyhow::Error::msg)?;
    let (admin, ws) = crate::store::setup::complete(&db, &email, &name, hash.clone(), &workspace)
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench admin: {e:?}"))?
        .ok_or_else(|| anyhow::anyhow!("the bench database was set up already"))?;
    drop(db);

    // The services take the application's state (caches, sealer, verifiers);
    // its listener is never run, so any free port will do.
    settings.bind.set_port(0);
    let app = Application::for_command(settings).await?;
    let state = app.state();
    let actor = Actor { workspace_id: ws.id, user_id: admin.id, name: Some("bench-seed".into()), via: None, ip: None };

    // The collection: a CSV import like an upload's.
    let csv = tempfile_path("bench-seed.csv");
    write_csv(&csv, n.rows)?;
    let analysis = crate::datasets::import::analyze(csv.clone(), crate::datasets::parse::Format::Csv(b',')).await?;
    let new = NewContents { name: "Orders", columns: analysis.columns, primary_key: Some("id"), source: "upload" };
    let ds = service::create(&state, &actor, new, &csv, crate::datasets::parse::Format::Csv(b','))
        .await
        .map_err(|e| anyhow::anyhow!("importing the bench dataset: {e}"))?;
    let _ = std::fs::remove_file(&csv);
    let collection = crate::hub::manage::save_collection(
        &state,
        &actor,
        None,
        &CollectionInput {
            name: "Orders".into(),
            dataset_id: Some(ds.id),
            default_limit: 20,
            max_limit: 1_000,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the collection: {e}"))?;
    let endpoint = |path: &str, access: &str| EndpointInput {
        path: path.into(),
        collection_id: Some(collection.id),
        access: access.into(),
        hub_key_ids: None,
        allowed_origins: vec![],
    };
    let mut endpoints = Vec::new();
    for (path, access) in [("items", "public"), ("guarded", "keys"), ("members", "members")] {
        let e = crate::hub::manage::save_endpoint(&state, &actor, None, &endpoint(path, access))
            .await
            .map_err(|e| anyhow::anyhow!("creating endpoint {path}: {e}"))?;
        endpoints.push(e);
    }
    let guarded = endpoints[1].id;

    // The two keys the benchmark presents, made the way the key editor makes them.
    let ip = |range: &str, netmask: &str| IpRow { range: range.into(), netmask: netmask.into() };
    let header = |name: &str, value: &str| HeaderRow { name: name.into(), value: value.into(), exclude: false };
    let api_key = KeyInput {
        name: "bench guarded".into(),
        access_type: "api_key".into(),
        status: "active".into(),
        ip_filters: vec![
            ip("10.0.0.0", "255.0.0.0"),
            ip("192.168.0.0", "255.255.0.0"),
            ip("127.0.0.1", "255.255.255.255"),
        ],
        expires: ExpiryInput::At(None),
        headers: vec![
            header("X-Collection-Count", "${collection.meta.count}"),
            header("X-Collection-Page", "${collection.meta.name} from ${collection.meta.offset}"),
        ],
        endpoint_ids: vec![guarded],
        ..Default::default()
    };
    let saved = crate::hub::keys::save(&state, &actor, None, &api_key)
        .await
        .map_err(|e| anyhow::anyhow!("creating the guarded key: {e}"))?;
    let hub_secret = saved.secret.context("an API key gets a secret")?;
    let limited = KeyInput {
        name: "bench limited".into(),
        rate_requests: "1000000000".into(),
        rate_window: "60".into(),
        ..api_key.clone()
    };
    let limited_secret = crate::hub::keys::save(&state, &actor, None, &limited)
        .await
        .map_err(|e| anyhow::anyhow!("creating the limited key: {e}"))?
        .secret
        .context("an API key gets a secret")?;
    let metered = KeyInput {
        name: "bench metered".into(),
        monthly_quota: crate::domain::limits::MAX_QUOTA.to_string(),
        ..api_key.clone()
    };
    let metered_secret = crate::hub::keys::save(&state, &actor, None, &metered)
        .await
        .map_err(|e| anyhow::anyhow!("creating the metered key: {e}"))?
        .secret
        .context("an API key gets a secret")?;
    let portal = KeyInput {
        name: "bench portal".into(),
        access_type: "portal_token".into(),
        status: "active".into(),
        expires: ExpiryInput::At(None),
        endpoint_ids: vec![guarded],
        user_ids: vec![admin.id],
        ..Default::default()
    };
    crate::hub::keys::save(&state, &actor, None, &portal)
        .await
        .map_err(|e| anyhow::anyhow!("creating the portal token: {e}"))?;

    // Filler hub keys (beside the guarded, limited, metered and portal ones):
    // API keys with their own secrets; every fourth has an IP filter.
    let filler: Vec<(KeySpec, String)> = (0..n.hub_keys.saturating_sub(4))
        .map(|i| {
            let spec = KeySpec {
                name: format!("seed key {i:06}"),
                access_type: crate::domain::hub_keys::AccessType::ApiKey,
                status: if i % 10 == 9 {
                    crate::domain::hub_keys::KeyStatus::Inactive
                } else {
                    crate::domain::hub_keys::KeyStatus::Active
                },
                ip_filters: if i % 4 == 0 {
                    format!("10.{}.{}.0/24", (i / 256) % 256, i % 256).parse().into_iter().collect()
                } else {
                    vec![]
                },
                headers: Vec::new(),
                expires_at: None,
                endpoint_ids: vec![],
                user_ids: vec![],
                team_ids: vec![],
                limits: Default::default(),
            };
            (spec, crate::domain::hub_keys::generate_secret())
        })
        .collect();
    crate::store::hub_keys::create_many(&state.db, ws.id, &filler, &state.sealer).await?;
    drop(filler);

    // Personal keys: the admin's 1,000 first (one of them is presented), then
    // members of 1,000 keys each. Members share the admin's password hash:
    // hashing 100 passwords would only slow the seed down.
    let read = PermissionSet::from_iter([Permission::DataRead]);
    let all = PermissionSet::all();
    let mut owners = vec![(admin.id, all.clone())];
    for m in 1..n.personal_keys.div_ceil(KEYS_PER_MEMBER) {
        let email = Email::parse(&format!("member{m:03}@example.com")).map_err(anyhow::Error::msg)?;
        let name = DisplayName::parse(&format!("Member {m}")).map_err(anyhow::Error::msg)?;
        let user = crate::store::users::create(&state.db, &email, &name, hash.clone()).await?;
        crate::store::members::add(&state.db, ws.id, user.id, Role::Member, &read).await?;
        owners.push((user.id, read.clone()));
    }
    let secrets: Vec<KeySecret> = (0..n.personal_keys).map(|_| KeySecret::generate()).collect();
    let labels: Vec<KeyLabel> = (0..KEYS_PER_MEMBER.min(n.personal_keys))
        .map(|i| KeyLabel::parse(&format!("key {i:04}")).map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    let new_keys: Vec<crate::store::keys::NewKey<'_>> = secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| {
            let (user_id, perms) = &owners[i / KEYS_PER_MEMBER];
            crate::store::keys::NewKey {
                workspace_id: ws.id,
                user_id: *user_id,
                label: &labels[i % KEYS_PER_MEMBER],
                permissions: perms,
                secret,
                expires_at: None,
                limits: Default::default(),
            }
        })
        .collect();
    crate::store::keys::create_many(&state.db, &new_keys).await?;
    // Nodes already running reload their personal keys when the marker moves.
    crate::store::changes::bump(&state.db).await?;
    let personal = secrets.first().context("at least one personal key")?.expose().to_owned();
    // The seed's application never served: no node should wait for it.
    state.changes.stopped().await;

    Ok(Seeded {
        workspace_id: ws.id,
        workspace: ws_slug(&state, ws.id).await?,
        hub_key: hub_secret,
        limited_key: limited_secret,
        metered_key: metered_secret,
        hub_key_id: saved.key.id,
        personal_key: personal,
        dataset_id: ds.id,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn ws_slug(state: &crate::state::AppState, id: i64) -> anyhow::Result<String> {
    let ws = crate::store::workspaces::find(&state.db, id).await?.context("the bench workspace")?;
    Ok(ws.slug.unwrap_or_default())
}

fn tempfile_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{}-{name}", std::process::id()))
}

/// Orders with a few columns of each type; a page of 20 is about 2 KB of JSON.
fn write_csv(path: &std::path::Path, rows: usize) -> anyhow::Result<()> {
    const CITIES: [&str; 8] = ["Lisbon", "Porto", "Berlin", "Hamburg", "Lyon", "Paris", "Oslo", "Turin"];
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "id,customer,city,total,paid,ordered")?;
    for i in 1..=rows {
        writeln!(
            f,
            "{i},Customer {},{},{}.{:02},{},2026-{:02}-{:02}",
            i % 977,
            CITIES[i % CITIES.len()],
            (i * 37) % 1000,
            i % 100,
            i % 3 == 0,
            1 + i % 12,
            1 + i % 28
        )?;
    }
    f.flush()?;
    Ok(())
}
