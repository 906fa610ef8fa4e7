//! Builds the actix application: state, middleware and every route, in one place.
use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use sea_orm::DatabaseConnection;

use crate::auth::key_verifier::KeyVerifier;
use crate::auth::session_store::DbSessionStore;
use crate::auth::throttle::LoginThrottle;
use crate::config::{Secret, Settings};
use crate::state::AppState;
use crate::web as ui;
use crate::web::urls;

pub struct Application {
    server: Server,
    /// `GET /metrics` alone, on `KEYHUB_METRICS_BIND`, and its port.
    metrics_server: Option<(Server, u16)>,
    port: u16,
    setup_code: String,
    db: DatabaseConnection,
    hub: Arc<crate::hub::Hub>,
    changes: Arc<crate::cluster::Follower>,
    signals: Arc<crate::cluster::Signals>,
    data_dir: std::path::PathBuf,
    state: web::Data<AppState>,
    /// SQLite: this process is the one node on its file (released when `run` ends).
    node_lock: Option<crate::cluster::node_lock::NodeLock>,
}

impl Application {
    /// Connects, migrates and binds. The server runs when `run` is awaited.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Application::build_as(settings, true).await
    }

    /// The application for a command that reuses the services but never
    /// serves (`keyhub bench-seed`): like a CLI command, it may run beside
    /// the node that serves a SQLite file.
    pub async fn for_command(settings: Settings) -> anyhow::Result<Application> {
        Application::build_as(settings, false).await
    }

    async fn build_as(settings: Settings, serving: bool) -> anyhow::Result<Application> {
        // Connectors' TLS uses ring (see STACK-NOTES); a second call is a no-op.
        crate::connectors::init_tls();
        // Before anything touches the file, migrations included.
        let node_lock = match crate::data_dir::sqlite_path(&settings.database_url()) {
            Some(file) if serving && settings.database_url().starts_with("sqlite:") => {
                // The default data dir is made (private) before its lock file.
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty())
                    && settings.database_url.is_none()
                {
                    crate::data_dir::ensure_private_dir(parent)?;
                }
                Some(crate::cluster::node_lock::acquire(&file)?)
            }
            _ => None,
        };
        let db = crate::store::connect(&settings).await?;
        crate::store::migrate(&db).await?;
        crate::store::workspaces::backfill_name_keys(&db).await?;
        crate::store::workspaces::backfill_slugs(&db).await?;
        crate::store::names::backfill_look_keys(&db).await?;
        crate::datasets::store::sweep(&db).await?;
        let secret = crate::secret::master_secret(&settings)?;
        let listener = TcpListener::bind(settings.bind).map_err(|e| {
            anyhow::anyhow!("cannot listen on {}: {e}. Set KEYHUB_BIND to a free address.", settings.bind)
        })?;
        let port = listener.local_addr()?.port();
        let setup_code = crate::domain::tokens::setup_code();
        let keys = KeyVerifier::new(db.clone(), settings.keys_max_stale);
        let hub = crate::hub::Hub::new(db.clone());
        let hub_keys = crate::auth::hub_verifier::HubVerifier::new(db.clone(), settings.keys_max_stale);
        let jobs = crate::connectors::queue::Jobs::new(settings.sync_workers, settings.sync_lease);
        // Every key is in memory before the first request is served.
        let changes = crate::cluster::Follower::start(
            db.clone(),
            keys.clone(),
            hub_keys.clone(),
            jobs.clone(),
            crate::cluster::follower::NodeInfo {
                address: settings.node_address.clone().unwrap_or_else(|| format!("{}:{port}", settings.bind.ip())),
                version: env!("CARGO_PKG_VERSION"),
            },
            settings.changes_poll,
        )
        .await?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            settings: settings.clone(),
            setup_code: setup_code.clone(),
            throttle: {
                let t = LoginThrottle::new(
                    std::time::Duration::from_secs(15 * 60),
                    settings.login_failures_per_client,
                    settings.login_failures_per_client.saturating_mul(2),
                );
                // Nodes on one PostgreSQL count failed sign-ins together.
                match settings.database_url().starts_with("postgres") {
                    true => {
                        t.shared(db.clone(), crate::domain::tokens::digest(&format!("throttle:{}", secret.expose())))
                    }
                    false => t,
                }
            },
            key_refusals: {
                let r = crate::auth::refusals::KeyRefusals::new(settings.key_refusals_per_minute);
                // Nodes on one PostgreSQL share each client's budget.
                match settings.database_url().starts_with("postgres") {
                    true => {
                        r.shared(db.clone(), crate::domain::tokens::digest(&format!("refusals:{}", secret.expose())))
                    }
                    false => r,
                }
            },
            keys: keys.clone(),
            hub: hub.clone(),
            hub_keys: hub_keys.clone(),
            changes: changes.clone(),
            sealer: crate::auth::sealing::Sealer::new(secret.expose()),
            csrf_key: crate::domain::tokens::digest(&format!("keyhub-csrf:{}", secret.expose())),
            outbound_policy: std::sync::Arc::new(crate::connectors::outbound::Policy {
                allow_private: settings.connectors_allow_private,
                own_port: Some(port),
                timeout: settings.connectors_timeout,
                connect_timeout: settings.connectors_timeout.min(std::time::Duration::from_secs(5)),
                ..Default::default()
            }),
            jobs,
            passwords: crate::auth::password::PasswordPool::new(),
            clock: crate::clock::Clock::default(),
            usage: crate::usage::Recorder::new(),
            // Nodes on one PostgreSQL share rate limits; SQLite is one node.
            limits: crate::limits::Limiter::new(settings.database_url().starts_with("postgres").then(|| db.clone())),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        });
        // Quotas know the month's use before the first request.
        state.limits.load(&db, state.clock.now()).await;
        let server = serve(listener, state.clone(), &secret)?;
        let metrics_server = match settings.metrics_bind {
            Some(addr) => Some(serve_metrics(addr, state.clone())?),
            None => None,
        };
        Ok(Application {
            server,
            metrics_server,
            port,
            setup_code,
            db,
            hub,
            changes,
            signals: Arc::new(crate::cluster::Signals::default()),
            data_dir: settings.data_dir.clone(),
            state,
            node_lock,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `KEYHUB_METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    pub fn setup_code(&self) -> &str {
        &self.setup_code
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What handlers share, for commands that reuse the services (`bench-seed`).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server (tests stop theirs when they end).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run(self) -> std::io::Result<()> {
        spawn_session_sweeper(self.state.clone());
        spawn_upload_sweeper(crate::datasets::staging::dir(&self.data_dir));
        if self.state.settings.database_url().starts_with("postgres") {
            crate::cluster::listen::spawn(self.state.settings.database_url(), self.signals.clone());
        }
        self.changes.spawn(self.signals.clone());
        self.hub.spawn_watcher(self.signals.clone());
        // Runs left by a stopped node are taken up once their lease passes.
        crate::connectors::jobs::spawn_runner(self.state.clone().into_inner());
        crate::usage::spawn_flusher(self.state.clone().into_inner());
        crate::notify::mail::spawn_mailer(self.state.clone().into_inner());
        crate::notify::notices::spawn_expiry_watch(self.state.clone().into_inner());
        crate::notify::webhooks::spawn_deliverer(self.state.clone().into_inner());
        if let Some((metrics, _)) = self.metrics_server {
            tokio::spawn(metrics);
        }
        spawn_shutdown(self.state.clone(), self.server.handle());
        let served = self.server.await;
        // In-flight requests have finished. Runs this node worked on go back
        // to the queue at once (not when their lease runs out)…
        crate::connectors::jobs::hand_back(&self.state).await;
        // …what was counted since the last flush is written…
        crate::usage::flush_now(&self.state).await;
        // …the budget slices it leased and did not spend go back to the cluster…
        self.state.limits.give_back(None).await;
        // …and the other nodes stop waiting for this one.
        self.changes.stopped().await;
        drop(self.node_lock);
        served
    }
}

/// Stops the node gracefully. SIGTERM (a service manager, a rolling
/// restart): `/readyz` turns 503 first and the listener stays open for
/// `KEYHUB_SHUTDOWN_DRAIN_SECONDS`, so a balancer that checks it stops sending
/// here before connections are refused; then the listener closes and
/// in-flight requests finish (up to 30 s). Ctrl-C (SIGINT) skips the wait.
fn spawn_shutdown(state: web::Data<AppState>, server: actix_web::dev::ServerHandle) {
    tokio::spawn(async move {
        let drain = match shutdown_signal().await {
            Ok(drain) => drain,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT; stop the node with SIGKILL");
                return;
            }
        };
        state.shutting_down.store(true, std::sync::atomic::Ordering::SeqCst);
        let wait = if drain { state.settings.shutdown_drain } else { std::time::Duration::ZERO };
        tracing::info!(drain_seconds = wait.as_secs(), "stopping: /readyz answers 503, then the listener closes");
        tokio::time::sleep(wait).await;
        server.stop(true).await;
    });
}

/// The first SIGTERM (true: drain first) or SIGINT (false).
async fn shutdown_signal() -> std::io::Result<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => false,
    })
}

/// Uploads nobody came back for (a preview never saved) are removed after a day.
fn spawn_upload_sweeper(dir: std::path::PathBuf) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            crate::datasets::staging::sweep(&dir).await;
        }
    });
}

fn spawn_session_sweeper(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = crate::store::sessions::delete_expired(&state.db).await {
                tracing::warn!(error = %e, "sweeping expired sessions failed");
            }
            state.throttle.sweep().await;
        }
    });
}

/// The operator's metrics listener: `/metrics` and nothing else, one worker.
fn serve_metrics(addr: std::net::SocketAddr, state: web::Data<AppState>) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr} for metrics: {e}. Set KEYHUB_METRICS_BIND to a free address.")
    })?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).route(urls::METRICS, web::get().to(ui::health::metrics_open))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok((server, port))
}

fn serve(listener: TcpListener, state: web::Data<AppState>, secret: &Secret) -> anyhow::Result<Server> {
    let key = Key::derive_from(secret.expose().as_bytes());
    let server = HttpServer::new(move || {
        let settings = &state.settings;
        let store = DbSessionStore::new(state.db.clone(), settings.session_idle_timeout, settings.session_max_lifetime);
        // `__Host-` binds the cookie to this exact origin; browsers accept it only when Secure.
        let cookie_name = if settings.https() { "__Host-keyhub_session" } else { "keyhub_session" };
        let idle = actix_web::cookie::time::Duration::seconds(settings.session_idle_timeout.as_secs() as i64);
        let session = SessionMiddleware::builder(store, key.clone())
            .cookie_name(cookie_name.into())
            .cookie_secure(settings.https())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".into())
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(idle)
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
            )
            .build();
        App::new()
            .app_data(state.clone())
            .app_data(web::FormConfig::default().limit(ui::form::MAX_FORM_BYTES))
            .app_data(web::PayloadConfig::new(ui::form::MAX_FORM_BYTES))
            .app_data(web::JsonConfig::default().limit(crate::api::MAX_JSON_BYTES))
            .wrap(from_fn(ui::middleware::error_frame))
            .wrap(session)
            .wrap(from_fn(ui::middleware::frame))
            .configure(crate::api::routes)
            .configure(routes)
            .default_service(web::to(ui::home::not_found))
    })
    // Signals are `spawn_shutdown`'s: it turns `/readyz` 503 before stopping.
    .disable_signals()
    .shutdown_timeout(30)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Every route of keyhub's pages. Each path is one resource with all its
/// methods, so a method it does not take is a 405 with `Allow` (a GET on
/// `/logout` is not a missing page).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use ui::{account, admin, auth, datahub, health, home, invitations, live_data, ontology, reset, setup, workspaces};
    cfg.service(web::resource(urls::HOME).get(home::home))
        .service(web::resource(urls::HEALTHZ).get(health::healthz))
        .service(web::resource(urls::READYZ).get(health::readyz))
        .service(web::resource(urls::METRICS).get(health::metrics))
        .service(web::resource("/static/{hash}/{path:.*}").get(ui::assets::serve))
        .service(web::resource("/favicon.ico").get(ui::assets::favicon))
        .service(web::resource(urls::HELP).get(home::help))
        .service(web::resource(urls::NO_WORKSPACE).get(home::no_workspace))
        .service(web::resource(urls::SETUP).get(setup::show).post(setup::submit))
        .service(web::resource(urls::LOGIN).get(auth::show).post(auth::submit))
        .service(web::resource(urls::LOGOUT).post(auth::logout))
        .service(web::resource(urls::ACCOUNT).get(account::profile::show))
        .service(web::resource(urls::ACCOUNT_PROFILE).post(account::profile::update_profile))
        .service(web::resource(urls::ACCOUNT_PASSWORD).post(account::profile::change_password))
        .service(web::resource(urls::ACCOUNT_NOTICES).post(account::profile::set_notices))
        .service(web::resource(urls::NOTICES_OFF).get(ui::notices::show).post(ui::notices::submit))
        .service(web::resource(urls::WORKSPACES).post(account::profile::create_workspace))
        .service(web::resource(urls::ACCOUNT_KEYS).get(account::keys::show).post(account::keys::generate))
        .service(web::resource("/account/keys/{id}/rotate").post(account::keys::rotate))
        .service(web::resource("/account/keys/{id}/usage").get(account::usage::show))
        .service(web::resource("/account/keys/{id}/{action}").post(account::keys::retire))
        .service(web::resource(urls::WORKSPACE_SWITCH).post(workspaces::switch))
        .service(
            web::scope("/datahub")
                .service(web::resource("").get(ui::overview::datahub_page))
                .service(web::resource("/usage").get(datahub::usage::workspace))
                .service(web::resource("/datasets").get(datahub::datasets::list).post(datahub::datasets::create))
                .service(web::resource("/datasets/upload").post(datahub::datasets::upload))
                .service(web::resource("/datasets/new/{token}").get(datahub::datasets::preview))
                .service(web::resource("/datasets/{id}").get(datahub::datasets::show))
                .service(web::resource("/datasets/{id}/download.csv").get(datahub::datasets::download))
                .service(web::resource("/datasets/{id}/delete").post(datahub::datasets::delete))
                .service(web::resource("/datasets/{id}/replace/{upload}").post(datahub::datasets::replace_staged))
                .service(web::resource("/datasets/{id}/{action}").post(datahub::datasets::write))
                .service(
                    web::resource("/collections").get(datahub::collections::list).post(datahub::collections::create),
                )
                .service(
                    web::resource("/collections/{id}")
                        .get(datahub::collections::show)
                        .post(datahub::collections::update),
                )
                .service(web::resource("/collections/{id}/delete").post(datahub::collections::delete))
                .service(web::resource("/endpoints").get(datahub::endpoints::list).post(datahub::endpoints::create))
                .service(
                    web::resource("/endpoints/{id}").get(datahub::endpoints::show).post(datahub::endpoints::update),
                )
                .service(web::resource("/endpoints/{id}/delete").post(datahub::endpoints::delete))
                .service(web::resource("/keys").get(datahub::keys::list).post(datahub::keys::create))
                .service(web::resource("/keys/new").get(datahub::keys::new))
                .service(web::resource("/keys/token-check").post(datahub::keys::token_check))
                .service(web::resource("/keys/{id}").get(datahub::keys::show).post(datahub::keys::update))
                .service(web::resource("/keys/{id}/secret").get(datahub::keys::hide))
                .service(web::resource("/keys/{id}/usage").get(datahub::usage::hub_key))
                .service(web::resource("/keys/{id}/reveal").post(datahub::keys::reveal))
                .service(web::resource("/keys/{id}/regenerate").post(datahub::keys::regenerate))
                .service(web::resource("/keys/{id}/delete").post(datahub::keys::delete)),
        )
        .service(
            web::scope("/live-data")
                .service(web::resource("").get(ui::overview::live_data_page))
                .service(web::resource("/connectors").get(live_data::sources::catalogue))
                .service(web::resource("/sources").get(live_data::sources::list).post(live_data::sources::create))
                .service(web::resource("/sources/new").get(live_data::sources::new))
                .service(web::resource("/sources/{id}").get(live_data::sources::show))
                .service(
                    web::resource("/sources/{id}/credentials")
                        .get(live_data::sources::credentials)
                        .post(live_data::sources::update_credentials),
                )
                .service(
                    web::resource("/sources/{id}/test")
                        .get(live_data::sources::test)
                        .post(live_data::sources::run_test),
                )
                .service(
                    web::resource("/sources/{id}/streams")
                        .get(live_data::sources::streams)
                        .post(live_data::sources::save_streams),
                )
                .service(
                    web::resource("/sources/{id}/link")
                        .get(live_data::sources::link)
                        .post(live_data::sources::activate),
                )
                .service(web::resource("/sources/{id}/sync").post(live_data::sources::sync_now))
                .service(web::resource("/sources/{id}/cancel").post(live_data::sources::cancel))
                .service(web::resource("/sources/{id}/sync-settings").post(live_data::sources::save_settings))
                .service(web::resource("/diagnostics").get(live_data::diagnostics::page))
                .service(web::resource("/sources/{id}/delete").post(live_data::sources::delete)),
        )
        .service(
            web::scope("/ontology")
                .service(web::resource("").get(ui::overview::ontology_page))
                .service(web::resource("/entities").get(ontology::entities::list).post(ontology::entities::create))
                .service(web::resource("/entities/{id}").get(ontology::entities::show))
                .service(web::resource("/entities/{id}/progress").get(ontology::entities::progress_region))
                .service(web::resource("/entities/{id}/tabs/{tab}").get(ontology::entities::show_tab))
                .service(web::resource("/entities/{id}/tabs/{tab}/publish").post(ontology::entities::publish))
                .service(
                    web::resource("/entities/{id}/sources")
                        .get(ontology::entities::sources)
                        .post(ontology::entities::link_source),
                )
                .service(
                    web::resource("/entities/{id}/sources/{source}/unlink").post(ontology::entities::unlink_source),
                )
                .service(
                    web::resource("/entities/{id}/settings")
                        .get(ontology::entities::settings)
                        .post(ontology::entities::save_settings),
                )
                .service(web::resource("/entities/{id}/delete").post(ontology::entities::delete)),
        )
        .service(web::resource("/invite/{token}").get(invitations::show).post(invitations::accept))
        .service(web::resource("/reset/{token}").get(reset::show).post(reset::submit))
        .service(
            web::scope("/admin")
                .service(web::resource("").get(ui::overview::admin_page))
                .service(web::resource("/members").get(admin::members::list))
                .service(web::resource("/members/{id}").get(admin::members::show))
                .service(web::resource("/members/{id}/role").post(admin::members::set_role))
                .service(web::resource("/members/{id}/reset-link").post(admin::members::reset_link))
                .service(web::resource("/members/{id}/{action}").post(admin::members::status))
                .service(web::resource("/keys/{id}/revoke").post(admin::members::revoke_key))
                .service(web::resource("/invitations").get(admin::invitations::show).post(admin::invitations::invite))
                .service(web::resource("/invitations/{id}/revoke").post(admin::invitations::revoke))
                .service(web::resource("/audit").get(admin::audit::show))
                .service(web::resource("/email").get(admin::email::show))
                .service(web::resource("/cluster").get(admin::cluster::show))
                .service(web::resource("/webhooks").get(admin::webhooks::list).post(admin::webhooks::create))
                .service(web::resource("/webhooks/{id}").get(admin::webhooks::show).post(admin::webhooks::update))
                .service(web::resource("/webhooks/{id}/test").post(admin::webhooks::send_test))
                .service(web::resource("/webhooks/{id}/delete").post(admin::webhooks::delete))
                .service(web::resource("/audit.csv").get(admin::audit::csv))
                .service(web::resource("/workspace").get(admin::workspace::show).post(admin::workspace::rename))
                .service(web::resource("/workspace/slug").post(admin::workspace::change_slug))
                .service(web::resource("/workspace/limit").post(admin::workspace::set_limit))
                .service(web::resource("/teams").get(admin::teams::list).post(admin::teams::create))
                .service(web::resource("/teams/{id}").get(admin::teams::show).post(admin::teams::update))
                .service(web::resource("/teams/{id}/delete").post(admin::teams::delete)),
        );
}
