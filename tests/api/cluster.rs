//! Many nodes, one truth: real `keyhub` processes on the test's database.
//!
//! On PostgreSQL a second node hears of every change through LISTEN/NOTIFY:
//! its poll is set to an hour here, so a change it applies within the test
//! can only have been pushed. On SQLite a second node refuses to start.
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, admin_key, free_port, post_json, publish};

/// A node's log, line by line, read on a thread of its own.
struct Log(tokio::sync::mpsc::UnboundedReceiver<String>);

impl Log {
    fn read(pipe: impl std::io::Read + Send + 'static) -> Log {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Log(rx)
    }

    /// The next line for which `pick` gives a value (an event the node
    /// reports, never a guessed wait); fails after 60 s or when the log ends.
    async fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, self.0.recv()).await {
                Ok(Some(line)) => {
                    if let Some(v) = pick(&line) {
                        return v;
                    }
                }
                Ok(None) => panic!("{what}: the node's log ended"),
                Err(_) => panic!("{what}: not within 60 s"),
            }
        }
    }

    /// Waits until the node says it applied the change log up to `seq` or beyond.
    async fn applied(&mut self, seq: i64) {
        self.until(&format!("the node to apply change {seq}"), |l| {
            let at = l.find("seq=")?;
            let n: i64 = l[at + 4..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
            (l.contains("key changes applied") && n >= seq).then_some(())
        })
        .await
    }
}

/// A second node: the real binary on `app`'s database, polling once an hour.
struct Node {
    child: Child,
    url: String,
    log: Log,
}

impl Node {
    async fn start(app: &TestApp) -> Node {
        Node::start_with(app, &[]).await
    }

    /// A node with settings of its own (`KEYHUB_…` variables).
    async fn start_with(app: &TestApp, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyhub"));
        child.envs(env.iter().copied());
        let mut child = child
            .env("KEYHUB_DATABASE_URL", &app.database_url)
            .env("KEYHUB_DATA_DIR", app.data_dir.path())
            .env("KEYHUB_BIND", format!("127.0.0.1:{port}"))
            .env("KEYHUB_CHANGES_POLL_SECONDS", "3600")
            .env("KEYHUB_KEYS_MAX_STALE_SECONDS", "3600")
            .env("KEYHUB_LOG", "warn,keyhub::cluster=debug,keyhub::hub=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run keyhub");
        let mut log = Log::read(child.stderr.take().expect("piped"));
        let _said = crate::helpers::until_says(child.stdout.take().expect("piped"), "running at", "the node").await;
        log.until("the node to listen", |l| l.contains("listening for changes").then_some(())).await;
        Node { child, url: format!("http://127.0.0.1:{port}"), log }
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, String) {
        let res =
            reqwest::Client::new().get(format!("{}{path}", self.url)).bearer_auth(key).send().await.expect("answers");
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A rate-limit window of about a day that does not end during the test
/// (windows are aligned on the clock).
fn day_window() -> i64 {
    let now = chrono::Utc::now().timestamp();
    (86_390..=86_400).rev().find(|w| w - now.rem_euclid(*w) > 600).unwrap()
}

/// Publishes a one-row `items` endpoint guarded by keys and makes a hub key
/// for it (`body`: its name and limits): the key's id and secret.
async fn items_key(app: &TestApp, key: &str, mut body: serde_json::Value) -> (i64, String) {
    publish(app, key, "id,name\n1,a\n", "items", "keys").await;
    let endpoint = app.api("/api/v1/endpoints", key).await.body[0]["id"].as_i64().unwrap();
    body["access_type"] = json!("api_key");
    body["endpoint_ids"] = json!([endpoint]);
    let hk = post_json(app, Method::POST, "/api/v1/hub-keys", key, body).await;
    assert_eq!(hk.status, StatusCode::CREATED, "{}", hk.body);
    (hk.body["id"].as_i64().unwrap(), hk.body["secret"].as_str().unwrap().to_owned())
}

async fn last_change(app: &TestApp) -> i64 {
    app.count("SELECT COALESCE(MAX(seq), 0) AS n FROM key_changes").await
}

#[tokio::test]
async fn changes_on_one_node_are_pushed_to_another_and_caught_up_after_the_listener_drops() {
    let app = TestApp::spawn_with(|s| {
        s.changes_poll = Duration::from_secs(3600);
        s.keys_max_stale = Duration::from_secs(3600);
    })
    .await;
    if app.on_sqlite() {
        return; // SQLite serves one node: see the next test.
    }
    let (admin, key, slug) = admin_key(&app).await;
    let spare = admin.new_key("spare", &["data.read"]).await;
    let late = admin.new_key("late", &["data.read"]).await;
    let (hub_key_id, hub_key) = items_key(&app, &key, json!({"name": "pushed"})).await;
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    let items = format!("/hub/{slug}/items");

    let mut b = Node::start(&app).await;
    assert_eq!(b.get("/api/v1/me", &spare).await.0, StatusCode::OK);
    assert_eq!(b.get(&items, &hub_key).await.0, StatusCode::OK);

    // A personal key revoked on A is refused on B.
    let id = app.count("SELECT id AS n FROM personal_keys WHERE label = 'spare'").await;
    let res = admin.post_form("/account/keys", &format!("/account/keys/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    b.log.applied(last_change(&app).await).await;
    assert_eq!(b.get("/api/v1/me", &spare).await, (StatusCode::UNAUTHORIZED, "revoked_key".into()));

    // A hub key switched off on A is refused on B.
    let off =
        post_json(&app, Method::PATCH, &format!("/api/v1/hub-keys/{hub_key_id}"), &key, json!({"status": "inactive"}))
            .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    b.log.applied(last_change(&app).await).await;
    assert_eq!(b.get(&items, &hub_key).await, (StatusCode::FORBIDDEN, "key_inactive".into()));

    // The listening connection is cut (as a restarted database or a proxy
    // would): a change made meanwhile is still applied once B listens again.
    app.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .await;
    let id = app.count("SELECT id AS n FROM personal_keys WHERE label = 'late'").await;
    let res = admin.post_form("/account/keys", &format!("/account/keys/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    b.log.applied(last_change(&app).await).await;
    assert_eq!(b.get("/api/v1/me", &late).await, (StatusCode::UNAUTHORIZED, "revoked_key".into()));

    // Data Hub's catalogue: an endpoint removed on A is gone on B.
    let del = reqwest::Client::new()
        .delete(format!("{}/api/v1/endpoints/{endpoint}", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    b.log.until("B to empty its Data Hub caches", |l| l.contains("Data Hub changed elsewhere").then_some(())).await;
    assert_eq!(b.get(&items, &key).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_second_node_on_the_same_sqlite_file_refuses_to_start_and_says_why() {
    let app = TestApp::spawn().await;
    if !app.on_sqlite() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .env("KEYHUB_DATABASE_URL", &app.database_url)
        .env("KEYHUB_DATA_DIR", app.data_dir.path())
        .env("KEYHUB_BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("run keyhub");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("another keyhub"), "{said}");
    assert!(said.contains(&format!("(process {})", std::process::id())), "names the one that holds it: {said}");
    assert!(said.contains("SQLite serves one node") && said.contains("PostgreSQL"), "{said}");
    // The first node serves on, undisturbed.
    assert_eq!(app.client().get("/healthz").await.status(), StatusCode::OK);
    // Once it stops, a node starts on the file.
    app.stop().await;
    let port = free_port();
    let mut node = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .env("KEYHUB_DATABASE_URL", &app.database_url)
        .env("KEYHUB_DATA_DIR", app.data_dir.path())
        .env("KEYHUB_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run keyhub");
    let _said = crate::helpers::until_says(node.stdout.take().unwrap(), "running at", "the node").await;
    let _ = node.kill();
    let _ = node.wait();
}

/// A rate limit of 100 calls holds for the cluster: 300 calls spread over
/// three nodes (the test's app and two binaries) are accepted about 100
/// times — at most 110, the bound; at least 90, so budget leased by
/// one node and unused there does not starve the others — and the nodes'
/// grants together never pass the limit.
#[tokio::test]
async fn a_rate_limit_holds_for_the_cluster_not_for_each_node() {
    let app = TestApp::spawn().await;
    if app.on_sqlite() {
        return;
    }
    let (_admin, key, slug) = admin_key(&app).await;
    let window = day_window();
    let limit = json!({"name": "limited", "rate_limit": {"requests": 100, "window_seconds": window}});
    let (_, secret) = items_key(&app, &key, limit).await;
    let (b, c) = (Node::start(&app).await, Node::start(&app).await);
    let bases = [app.address.clone(), b.url.clone(), c.url.clone()];
    let (accepted, limited) =
        spread(&reqwest::Client::new(), &bases, &format!("/hub/{slug}/items"), &secret, 100, StatusCode::OK).await;
    eprintln!("cluster rate limit: {accepted} of 300 accepted for a limit of 100");
    assert_eq!(accepted + limited, 300);
    assert!((90..=110).contains(&accepted), "{accepted} of 300 accepted for a limit of 100");
    let granted = app.count("SELECT COALESCE(MAX(granted), 0) AS n FROM rate_budgets").await;
    assert!(granted <= 100, "the nodes were granted {granted} calls in one window");
}

/// Calls `path` with `key` on every node at once, `rounds` times: how many
/// were answered `accepted`, and how many 429.
async fn spread(
    http: &reqwest::Client,
    bases: &[String],
    path: &str,
    key: &str,
    rounds: usize,
    accepted: StatusCode,
) -> (usize, usize) {
    let (mut yes, mut limited) = (0, 0);
    for _ in 0..rounds {
        let calls = bases.iter().map(|base| http.get(format!("{base}{path}")).header("X-API-Key", key).send());
        for res in futures_util::future::join_all(calls).await {
            match res.unwrap().status() {
                s if s == accepted => yes += 1,
                StatusCode::TOO_MANY_REQUESTS => limited += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    (yes, limited)
}

/// A monthly quota holds for the cluster, and a quota added mid-month
/// starts from the calls the month already had: 40 calls, then a quota of
/// 100, then 300 calls spread over three nodes — exactly 60 more accepted.
#[tokio::test]
async fn a_monthly_quota_holds_for_the_cluster_from_the_month_s_usage() {
    let app = TestApp::spawn().await;
    if app.on_sqlite() {
        return;
    }
    let (_admin, key, slug) = admin_key(&app).await;
    let (id, secret) = items_key(&app, &key, json!({"name": "metered"})).await;
    let http = reqwest::Client::new();
    let path = format!("/hub/{slug}/items");
    let (before, _) = spread(&http, std::slice::from_ref(&app.address), &path, &secret, 40, StatusCode::OK).await;
    assert_eq!(before, 40);
    keyhub::usage::flush_now(&app.state).await;
    let set =
        post_json(&app, Method::PATCH, &format!("/api/v1/hub-keys/{id}"), &key, json!({"monthly_quota": 100})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let (b, c) = (Node::start(&app).await, Node::start(&app).await);
    let bases = [app.address.clone(), b.url.clone(), c.url.clone()];
    let (accepted, limited) = spread(&http, &bases, &path, &secret, 100, StatusCode::OK).await;
    eprintln!("cluster quota: {accepted} of 300 accepted after 40 of a quota of 100");
    assert_eq!((accepted, limited), (60, 240));
    let granted = app.count("SELECT granted AS n FROM rate_budgets WHERE key_kind = 'hub-month'").await;
    assert_eq!(granted, 100, "the month's budget started from its 40 calls");
}

/// A node stopping with SIGTERM gives the slices it leased and did not
/// spend back: one call on a key limited to 800 a window and 6,400 a month
/// leases 100 of each; after the stop each budget has granted 1.
#[tokio::test]
async fn a_stopping_node_gives_its_unspent_slices_back() {
    let app = TestApp::spawn().await;
    if app.on_sqlite() {
        return;
    }
    let (_admin, key, slug) = admin_key(&app).await;
    let window = day_window();
    let limits =
        json!({"name": "sliced", "rate_limit": {"requests": 800, "window_seconds": window}, "monthly_quota": 6400});
    let (_, secret) = items_key(&app, &key, limits).await;
    let mut b = Node::start(&app).await;
    let (status, _) = b.get(&format!("/hub/{slug}/items"), &secret).await;
    assert_eq!(status, StatusCode::OK);
    let granted = |kind: &'static str| {
        let app = &app;
        async move { app.count(&format!("SELECT granted AS n FROM rate_budgets WHERE key_kind = '{kind}'")).await }
    };
    assert_eq!((granted("hub").await, granted("hub-month").await), (100, 100), "a slice of each leased");
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(b.child.id() as i32, libc::SIGTERM) }, 0);
    assert!(b.child.wait().unwrap().success());
    assert_eq!((granted("hub").await, granted("hub-month").await), (1, 1), "the unspent 99 of each given back");
}

/// The refused-key budget holds for the cluster: with 30 refusals a minute,
/// a client trying keys on three nodes at once gets at most 30 + 2 × 1
/// answers before 429 (a node takes one refusal of a minute unasked), not
/// 90; a valid key from the same address is still served.
#[tokio::test]
async fn refused_keys_on_three_nodes_share_one_budget() {
    let app = TestApp::spawn_with(|s| s.key_refusals_per_minute = 30).await;
    if app.on_sqlite() {
        return;
    }
    let (_admin, key, _slug) = admin_key(&app).await;
    let env = [("KEYHUB_KEY_REFUSALS_PER_MINUTE", "30")];
    let (b, c) = (Node::start_with(&app, &env).await, Node::start_with(&app, &env).await);
    let bases = [app.address.clone(), b.url.clone(), c.url.clone()];
    // Budgets are per clock minute: a burst that crossed a minute's end is
    // tried again from a fresh loopback address (a client of its own).
    for client in 2u8.. {
        let from = std::net::IpAddr::from([127, 0, 0, client]);
        let http = reqwest::Client::builder().local_address(from).build().unwrap();
        let minute = chrono::Utc::now().timestamp() / 60;
        let (refused, limited) =
            spread(&http, &bases, "/api/v1/me", "kh_not_a_key_at_all", 30, StatusCode::UNAUTHORIZED).await;
        if chrono::Utc::now().timestamp() / 60 != minute {
            assert!(client < 5, "three bursts in a row crossed a minute");
            continue;
        }
        eprintln!("cluster refused-key budget: {refused} of 90 refused keys answered 401 for a budget of 30");
        assert_eq!(refused + limited, 90);
        assert!((30..=32).contains(&refused), "{refused} refusals answered before 429, for a budget of 30");
        let res = http.get(format!("{}/api/v1/me", b.url)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "a valid key from the same address is served");
        break;
    }
    let granted = app.count("SELECT MAX(granted) AS n FROM rate_budgets WHERE key_kind = 'refused-keys'").await;
    assert!(granted <= 30, "the nodes were granted {granted} refusals in one minute");
}

/// `GET /api/v1/cluster` for admins: this node live with what it reports; on
/// PostgreSQL a node killed and quiet for over 30 s shows as gone, a node
/// stopped with SIGTERM as stopped. Members without `members.manage` are refused.
#[tokio::test]
async fn the_cluster_is_listed_for_admins_with_gone_and_stopped_nodes() {
    let app = TestApp::spawn().await;
    let (admin, _key, _slug) = admin_key(&app).await;
    let key = admin.new_key("cluster", &["members.manage", "hub_keys.manage"]).await;
    let nodes = |body: &serde_json::Value| body["nodes"].as_array().unwrap().clone();
    let res = app.api("/api/v1/cluster", &key).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let me = nodes(&res.body).into_iter().find(|n| n["this_node"] == true).expect("this node is listed");
    assert_eq!(me["state"], "live");
    assert_eq!(me["address"], format!("127.0.0.1:{}", app.port));
    assert_eq!(me["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(me["syncs_running"], 0);
    assert!(me["key_snapshot_age_seconds"].as_i64().is_some(), "{me}");
    let member = app.with_member(&admin, "reader@example.com", &["data.read"]).await;
    let reader_key = member.new_key("reader", &["data.read"]).await;
    assert_eq!(app.api("/api/v1/cluster", &reader_key).await.code.as_deref(), Some("insufficient_permission"));
    if app.on_sqlite() {
        return;
    }

    // A node killed with SIGKILL, then quiet for a minute (its heartbeat moved back).
    let mut gone = Node::start(&app).await;
    let gone_address = gone.url.trim_start_matches("http://").to_owned();
    gone.child.kill().unwrap();
    gone.child.wait().unwrap();
    app.exec(&format!(
        "UPDATE cluster_nodes SET seen_at = seen_at - INTERVAL '60 seconds' WHERE address = '{gone_address}'"
    ))
    .await;
    // A node stopped with SIGTERM.
    let mut stopped = Node::start(&app).await;
    let stopped_address = stopped.url.trim_start_matches("http://").to_owned();
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(stopped.child.id() as i32, libc::SIGTERM) }, 0);
    let exit = stopped.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");

    let listed = nodes(&app.api("/api/v1/cluster", &key).await.body);
    let state_of = |address: &str| listed.iter().find(|n| n["address"] == address).map(|n| n["state"].clone());
    assert_eq!(state_of(&gone_address), Some(json!("gone")), "{listed:?}");
    assert_eq!(state_of(&stopped_address), Some(json!("stopped")), "{listed:?}");
    assert_eq!(listed[0]["state"], "live", "live nodes first");
    // A gone node holds no change pending: a key saved now is synced.
    let endpoint_free =
        post_json(&app, Method::POST, "/api/v1/hub-keys", &key, json!({"name": "after", "access_type": "api_key"}))
            .await;
    assert_eq!(endpoint_free.body["sync_status"]["state"], "synced", "{}", endpoint_free.body);
}

/// The sign-in throttle holds for the cluster: ten wrong passwords from one
/// address, half on each of two nodes, and the next attempt is refused on
/// either node — before the password is even checked.
#[tokio::test]
async fn failed_sign_ins_on_two_nodes_add_up() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    if app.on_sqlite() {
        return;
    }
    let b = Node::start(&app).await;
    let on_a = app.client();
    let mut on_b = app.client();
    on_b.address = b.url.clone();
    for i in 0..10 {
        let c = if i % 2 == 0 { &on_a } else { &on_b };
        assert_eq!(c.login(ADMIN_EMAIL, "wrong password 123").await.status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    for c in [&on_a, &on_b] {
        let res = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        assert!(res.text().await.unwrap().contains("Too many failed sign-in attempts"));
    }
}
