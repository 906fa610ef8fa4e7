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
use crate::state::AppState;
use crate::config::{Secret, Settings};
use crate::web as ui;
use crate::web::urls;

/// Refused API keys one client address may send per minute before getting 429.
pub const KEY_REFUSALS_PER_MINUTE: usize = 120;

pub struct Application {
    server: Server,
    /// `GET /metrics` alone, on `KEYHUB_METRICS_BIND`, and its port.
    metrics_server: Option<(Server, u16)>,
    port: u16,
    setup_code: String,
    db: DatabaseConnection,
    keys: Arc<KeyVerifier>,
    hub: Arc<crate::hub::Hub>,
    hub_keys: Arc<crate::auth::hub_verifier::HubVerifier>,
    data_dir: std::path::PathBuf,
    state: web::Data<AppState>,
}

impl Application {
    /// Connects, migrates and binds. The server runs when `run` is awaited.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // Connectors' TLS uses ring (see STACK-NOTES); a second call is a no-op.
        crate::connectors::init_tls();
        let db = crate::store::connect(&settings).await?;
        crate::store::migrate(&db).await?;
        crate::store::workspaces::backfill_name_keys(&db).await?;
        crate::store::workspaces::backfill_slugs(&db).await?;
        crate::store::names::rekey(&db).await?;
        crate::datasets::store::sweep(&db).await?;
        let secret = crate::secret::master_secret(&settings)?;
        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}. Set KEYHUB_BIND to a free address.", settings.bind))?;
        let port = listener.local_addr()?.port();
        let setup_code = crate::domain::tokens::setup_code();
        let keys = KeyVerifier::new(db.clone(), settings.keys_max_stale);
        let hub = crate::hub::Hub::new(db.clone());
        // Every hub key is in memory before the first request is served.
        let hub_keys = crate::auth::hub_verifier::HubVerifier::new(db.clone(), settings.keys_max_stale);
        // Both snapshots load side by side: start-to-ready is the slower of the two.
        let (hub_loaded, keys_loaded) = tokio::join!(hub_keys.load_all(), keys.reload());
        hub_loaded?;
        keys_loaded?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            settings: settings.clone(),
            setup_code: setup_code.clone(),
            throttle: LoginThrottle::new(
                std::time::Duration::from_secs(15 * 60),
                settings.login_failures_per_client,
                settings.login_failures_per_client.saturating_mul(2),
            ),
            key_refusals: LoginThrottle::new(std::time::Duration::from_secs(60), KEY_REFUSALS_PER_MINUTE, usize::MAX),
            keys: keys.clone(),
            hub: hub.clone(),
            hub_keys: hub_keys.clone(),
            sealer: crate::auth::sealing::Sealer::new(secret.expose()),
            csrf_key: crate::domain::tokens::digest(&format!("keyhub-csrf:{}", secret.expose())),
            outbound_policy: std::sync::Arc::new(crate::connectors::outbound::Policy {
                allow_private: settings.connectors_allow_private,
                own_port: Some(port),
                timeout: settings.connectors_timeout,
                connect_timeout: settings.connectors_timeout.min(std::time::Duration::from_secs(5)),
                ..Default::default()
            }),
            jobs: crate::connectors::jobs::Jobs::new(settings.sync_workers, settings.sync_lease),
        });
        let server = serve(listener, state.clone(), &secret)?;
        let metrics_server = match settings.metrics_bind {
            Some(addr) => Some(serve_metrics(addr, state.clone())?),
            None => None,
        };
        Ok(Application { server, metrics_server, port, setup_code, db, keys, hub, hub_keys, data_dir: settings.data_dir.clone(), state })
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
        spawn_session_sweeper(self.db.clone());
        spawn_upload_sweeper(crate::datasets::staging::dir(&self.data_dir));
        self.keys.spawn_watcher();
        self.hub.spawn_watcher();
        self.hub_keys.spawn_watcher();
        // Runs left by a stopped node are taken up once their lease passes.
        crate::connectors::jobs::spawn_runner(self.state.into_inner());
        if let Some((metrics, _)) = self.metrics_server {
            tokio::spawn(metrics);
        }
        self.server.await
    }
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

fn spawn_session_sweeper(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = crate::store::sessions::delete_expired(&db).await {
                tracing::warn!(error = %e, "sweeping expired sessions failed");
            }
        }
    });
}

/// The operator's metrics listener: `/metrics` and nothing else, one worker.
fn serve_metrics(addr: std::net::SocketAddr, state: web::Data<AppState>) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}. Set KEYHUB_METRICS_BIND to a free address."))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || App::new().app_data(state.clone()).route(urls::METRICS, web::get().to(ui::health::metrics_open)))
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
                BrowserSession::default().state_ttl(idle).state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
            )
            .build();
        App::new()
            .app_data(state.clone())
            .app_data(web::FormConfig::default().limit(ui::form::MAX_FORM_BYTES))
            .app_data(web::PayloadConfig::new(ui::form::MAX_FORM_BYTES))
            .wrap(from_fn(ui::middleware::error_frame))
            .wrap(session)
            .wrap(from_fn(ui::middleware::frame))
            .configure(crate::api::routes)
            .configure(routes)
            .default_service(web::to(ui::home::not_found))
    })
    .listen(listener)?
    .run();
    Ok(server)
}

/// Every route of keyhub.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use ui::{account, admin, auth, datahub, health, home, invitations, live_data, ontology, reset, setup, workspaces};
    cfg.route(urls::HOME, web::get().to(home::home))
        .route(urls::HEALTHZ, web::get().to(health::healthz))
        .route(urls::READYZ, web::get().to(health::readyz))
        .route(urls::METRICS, web::get().to(health::metrics))
        .route("/static/{hash}/{path:.*}", web::get().to(ui::assets::serve))
        .route("/favicon.ico", web::get().to(ui::assets::favicon))
        .route(urls::HELP, web::get().to(home::help))
        .route(urls::NO_WORKSPACE, web::get().to(home::no_workspace))
        .route(urls::SETUP, web::get().to(setup::show))
        .route(urls::SETUP, web::post().to(setup::submit))
        .route(urls::LOGIN, web::get().to(auth::show))
        .route(urls::LOGIN, web::post().to(auth::submit))
        .route(urls::LOGOUT, web::post().to(auth::logout))
        .route(urls::ACCOUNT, web::get().to(account::profile::show))
        .route(urls::ACCOUNT_PROFILE, web::post().to(account::profile::update_profile))
        .route(urls::ACCOUNT_PASSWORD, web::post().to(account::profile::change_password))
        .route(urls::WORKSPACES, web::post().to(account::profile::create_workspace))
        .route(urls::ACCOUNT_KEYS, web::get().to(account::keys::show))
        .route(urls::ACCOUNT_KEYS, web::post().to(account::keys::generate))
        .route("/account/keys/{id}/rotate", web::post().to(account::keys::rotate))
        .route("/account/keys/{id}/{action}", web::post().to(account::keys::retire))
        .route(urls::WORKSPACE_SWITCH, web::post().to(workspaces::switch))
        .service(
            web::scope("/datahub")
                .route("/datasets", web::get().to(datahub::datasets::list))
                .route("/datasets", web::post().to(datahub::datasets::create))
                .route("/datasets/upload", web::post().to(datahub::datasets::upload))
                .route("/datasets/new/{token}", web::get().to(datahub::datasets::preview))
                .route("/datasets/{id}", web::get().to(datahub::datasets::show))
                .route("/datasets/{id}/download.csv", web::get().to(datahub::datasets::download))
                .route("/datasets/{id}/delete", web::post().to(datahub::datasets::delete))
                .route("/datasets/{id}/{action}", web::post().to(datahub::datasets::write))
                .route("/collections", web::get().to(datahub::collections::list))
                .route("/collections", web::post().to(datahub::collections::create))
                .route("/collections/{id}", web::get().to(datahub::collections::show))
                .route("/collections/{id}", web::post().to(datahub::collections::update))
                .route("/collections/{id}/delete", web::post().to(datahub::collections::delete))
                .route("/endpoints", web::get().to(datahub::endpoints::list))
                .route("/endpoints", web::post().to(datahub::endpoints::create))
                .route("/endpoints/{id}", web::get().to(datahub::endpoints::show))
                .route("/endpoints/{id}", web::post().to(datahub::endpoints::update))
                .route("/endpoints/{id}/delete", web::post().to(datahub::endpoints::delete))
                .route("/keys", web::get().to(datahub::keys::list))
                .route("/keys", web::post().to(datahub::keys::create))
                .route("/keys/new", web::get().to(datahub::keys::new))
                .route("/keys/{id}", web::get().to(datahub::keys::show))
                .route("/keys/{id}", web::post().to(datahub::keys::update))
                .route("/keys/{id}/secret", web::get().to(datahub::keys::hide))
                .route("/keys/{id}/reveal", web::post().to(datahub::keys::reveal))
                .route("/keys/{id}/regenerate", web::post().to(datahub::keys::regenerate))
                .route("/keys/{id}/delete", web::post().to(datahub::keys::delete)),
        )
        .service(
            web::scope("/live-data")
                .route("/connectors", web::get().to(live_data::sources::catalogue))
                .route("/sources", web::get().to(live_data::sources::list))
                .route("/sources", web::post().to(live_data::sources::create))
                .route("/sources/new", web::get().to(live_data::sources::new))
                .route("/sources/{id}", web::get().to(live_data::sources::show))
                .route("/sources/{id}/credentials", web::get().to(live_data::sources::credentials))
                .route("/sources/{id}/credentials", web::post().to(live_data::sources::update_credentials))
                .route("/sources/{id}/test", web::get().to(live_data::sources::test))
                .route("/sources/{id}/test", web::post().to(live_data::sources::run_test))
                .route("/sources/{id}/streams", web::get().to(live_data::sources::streams))
                .route("/sources/{id}/streams", web::post().to(live_data::sources::save_streams))
                .route("/sources/{id}/link", web::get().to(live_data::sources::link))
                .route("/sources/{id}/link", web::post().to(live_data::sources::activate))
                .route("/sources/{id}/sync", web::post().to(live_data::sources::sync_now))
                .route("/sources/{id}/cancel", web::post().to(live_data::sources::cancel))
                .route("/sources/{id}/sync-settings", web::post().to(live_data::sources::save_settings))
                .route("/diagnostics", web::get().to(live_data::diagnostics::page))
                .route("/sources/{id}/delete", web::post().to(live_data::sources::delete)),
        )
        .service(
            web::scope("/ontology")
                .route("/entities", web::get().to(ontology::entities::list))
                .route("/entities", web::post().to(ontology::entities::create))
                .route("/entities/{id}", web::get().to(ontology::entities::show))
                .route("/entities/{id}/tabs/{tab}", web::get().to(ontology::entities::show_tab))
                .route("/entities/{id}/tabs/{tab}/publish", web::post().to(ontology::entities::publish))
                .route("/entities/{id}/sources", web::get().to(ontology::entities::sources))
                .route("/entities/{id}/sources", web::post().to(ontology::entities::link_source))
                .route("/entities/{id}/sources/{source}/unlink", web::post().to(ontology::entities::unlink_source))
                .route("/entities/{id}/settings", web::get().to(ontology::entities::settings))
                .route("/entities/{id}/settings", web::post().to(ontology::entities::save_settings))
                .route("/entities/{id}/delete", web::post().to(ontology::entities::delete)),
        )
        .route("/invite/{token}", web::get().to(invitations::show))
        .route("/invite/{token}", web::post().to(invitations::accept))
        .route("/reset/{token}", web::get().to(reset::show))
        .route("/reset/{token}", web::post().to(reset::submit))
        .service(
            web::scope("/admin")
                .route("/members", web::get().to(admin::members::list))
                .route("/members/{id}", web::get().to(admin::members::show))
                .route("/members/{id}/role", web::post().to(admin::members::set_role))
                .route("/members/{id}/reset-link", web::post().to(admin::members::reset_link))
                .route("/members/{id}/{action}", web::post().to(admin::members::status))
                .route("/keys/{id}/revoke", web::post().to(admin::members::revoke_key))
                .route("/invitations", web::get().to(admin::invitations::show))
                .route("/invitations", web::post().to(admin::invitations::invite))
                .route("/invitations/{id}/revoke", web::post().to(admin::invitations::revoke))
                .route("/audit", web::get().to(admin::audit::show))
                .route("/audit.csv", web::get().to(admin::audit::csv))
                .route("/workspace", web::get().to(admin::workspace::show))
                .route("/workspace", web::post().to(admin::workspace::rename))
                .route("/workspace/slug", web::post().to(admin::workspace::change_slug))
                .route("/teams", web::get().to(admin::teams::list))
                .route("/teams", web::post().to(admin::teams::create))
                .route("/teams/{id}", web::get().to(admin::teams::show))
                .route("/teams/{id}", web::post().to(admin::teams::update))
                .route("/teams/{id}/delete", web::post().to(admin::teams::delete)),
        );
}
