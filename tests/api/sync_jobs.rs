//! Durable sync jobs against a real Datasette on 127.0.0.1: large and
//! incremental syncs, atomic full refresh, retries and configuration
//! failures (through a fault-injecting proxy in front of the real Datasette),
//! one live run per source, schedules, cancel, and crash-resume of the real
//! binary killed with SIGKILL.
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::post_json;
use crate::helpers::*;
use crate::helpers::{
    Datasette, LIVE_PERMISSIONS, activate_into_entity, free_port, live_app, new_source, test_source, wait_for_run,
};

async fn call(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> ApiReply {
    post_json(app, method, path, key, body).await
}

/// A tested Datasette source reading `base` (the real one, or the proxy in front of it).
pub(crate) async fn shop_source(app: &TestApp, key: &str, base: &str, token: &str, name: &str) -> i64 {
    let id =
        new_source(app, key, "datasette", name, json!({"base_url": base, "database": "shop", "token": token})).await;
    let t = test_source(app, key, id).await;
    assert_eq!(t["ok"], true, "{t}");
    id
}

async fn sync(app: &TestApp, key: &str, source: i64) -> ApiReply {
    call(app, Method::POST, &format!("/api/v1/sources/{source}/syncs"), key, json!({})).await
}

/// Starts a sync and waits for its end.
async fn sync_and_wait(app: &TestApp, key: &str, source: i64) -> Value {
    let r = sync(app, key, source).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    wait_for_run(app, key, r.body["run_id"].as_i64().unwrap()).await
}

async fn row_count(app: &TestApp, key: &str, dataset: i64) -> i64 {
    let r = app.api(&format!("/api/v1/datasets/{dataset}/records?limit=1"), key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["meta"]["count"].as_i64().unwrap()
}

/// Rows stored in the dataset's visible generation, and how many distinct ids.
pub(crate) async fn stored(app: &TestApp, dataset: i64) -> (i64, i64) {
    let all = app.count(&format!("SELECT COUNT(*) AS n FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id AND d.generation = r.generation WHERE d.id = {dataset}")).await;
    let distinct = app
        .count(&format!(
            "SELECT COUNT(DISTINCT r.pk) AS n FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id AND d.generation = r.generation WHERE d.id = {dataset}"
        ))
        .await;
    (all, distinct)
}

pub(crate) fn log_text(run: &Value) -> String {
    run["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_large_table_syncs_in_full_then_incremental_syncs_bring_exactly_the_new_and_changed_rows() {
    let ds = Datasette::start(100_000).await;
    let (app, _admin, key) = live_app().await;
    let id = shop_source(&app, &key, &ds.base, &ds.full, "Big shop").await;
    // Incremental by `updated`; a column that is not in the stream is refused, naming the stream.
    let bad = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        json!({"stream_modes": {"orders": {"mode": "incremental", "cursor": "nope"}}}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "stream_modes[orders]", "{}", bad.body);
    let ok = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        json!({"stream_modes": {"orders": {"mode": "incremental", "cursor": "updated"}}}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["stream_modes"]["orders"]["cursor"], "updated");

    let (run, entity) = activate_into_entity(&app, &key, id, &["orders"], "Order").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 100_000);
    assert_eq!(run["streams"][0]["mode"], "incremental");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();
    assert_eq!(stored(&app, dataset).await, (100_000, 100_000));

    // 250 new rows and one changed row at the source.
    ds.change("c.executemany('insert into orders values (?,?,?,?)', [(i, 'new %d' % i, 1.0, i) for i in range(100001, 100251)])\nc.execute(\"update orders set customer = 'changed', updated = 200000 where id = 7\")");
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_read"], 251, "exactly the new and the changed rows: {run}");
    assert_eq!(run["streams"][0]["records_written"], 251);
    assert!(log_text(&run).contains("reading records after updated = 100000"), "{run}");
    assert_eq!(stored(&app, dataset).await, (100_250, 100_250), "upserted by primary key, nothing twice");
    let seven = app.api(&format!("/api/v1/datasets/{dataset}/records?offset=6&limit=1"), &key).await;
    assert_eq!(seven.body["data"][0]["customer"], "changed", "{}", seven.body);
    // Nothing new: nothing read.
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["streams"][0]["records_read"], 0, "{run}");
    assert_eq!(row_count(&app, &key, dataset).await, 100_250);
    // 1,500 rows sharing one cursor value span a batch boundary: none is lost.
    ds.change("c.executemany('insert into orders values (?,?,?,?)', [(i, 'tie %d' % i, 2.0, 300000) for i in range(100251, 101751)])");
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["streams"][0]["records_read"], 1_500, "{run}");
    assert_eq!(stored(&app, dataset).await, (101_750, 101_750));
}

#[tokio::test]
async fn a_full_refresh_is_atomic_for_readers_and_a_stream_failing_midway_keeps_the_old_rows() {
    let ds = Datasette::start(20_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, _admin, key) = live_app().await;
    let id = shop_source(&app, &key, &proxy.base, &ds.full, "Atomic shop").await;
    let (run, entity) = activate_into_entity(&app, &key, id, &["orders"], "Atomic order").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();
    assert_eq!(row_count(&app, &key, dataset).await, 20_000);

    // 5,000 more rows; a slow refresh while a reader polls the tab.
    ds.change("c.executemany('insert into orders values (?,?,?,?)', [(i, 'more %d' % i, 1.0, i) for i in range(20001, 25001)])");
    proxy.set(Rule { delay_ms: 60, ..Rule::default() });
    let started = sync(&app, &key, id).await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let run_id = started.body["run_id"].as_i64().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut progress_seen = false;
    let mut pulses = crate::helpers::Pulses::new();
    loop {
        let page = app.api(&format!("/api/v1/datasets/{dataset}/records?offset=19990&limit=100"), &key).await;
        let count = page.body["meta"]["count"].as_i64().unwrap();
        let rows = page.body["data"].as_array().unwrap().len();
        assert!(
            (count, rows) == (20_000, 10) || (count, rows) == (25_000, 100),
            "a reader saw a half-written tab: {count} rows, {rows} on the page"
        );
        seen.insert(count);
        let r = app.api(&format!("/api/v1/sync-runs/{run_id}"), &key).await.body;
        let written = r["streams"][0]["records_written"].as_i64().unwrap_or(0);
        if r["status"] == "running" && written > 0 && written < 25_000 {
            progress_seen = true;
        }
        if r["status"] != "running" && r["status"] != "queued" {
            assert_eq!(r["status"], "succeeded", "{r}");
            break;
        }
        pulses.next().await;
    }
    assert!(progress_seen, "progress was saved batch by batch, not only at the end");
    assert_eq!(row_count(&app, &key, dataset).await, 25_000);
    assert!(seen.contains(&20_000), "the reader saw the old rows while the refresh ran");

    // The source starts refusing the key after 5 batches: the stream fails, the rows stay.
    ds.change("c.execute('delete from orders where id > 24000')");
    proxy.set(Rule { skip: 5, status: 401, times: 100, ..Rule::default() });
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["streams"][0]["error"]["class"], "unauthorized", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 5_000, "{run}");
    assert_eq!(row_count(&app, &key, dataset).await, 25_000, "the old rows are whole");
    assert_eq!(stored(&app, dataset).await, (25_000, 25_000));
    let leftovers = app.count(&format!("SELECT COUNT(*) AS n FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id WHERE d.id = {dataset} AND r.generation > d.generation")).await;
    assert_eq!(leftovers, 0, "the failed refresh's rows were removed (older generations go after a grace period)");
}

#[tokio::test]
async fn transient_failures_are_retried_and_configuration_failures_are_not_and_show_in_diagnostics() {
    let ds = Datasette::start(3_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, admin, key) = live_app().await;
    let id = shop_source(&app, &key, &proxy.base, &ds.full, "Flaky shop").await;
    let (run, entity) = activate_into_entity(&app, &key, id, &["orders"], "Flaky order").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();

    // 503 twice, then the real answer: the stream succeeds after 2 retries, logged.
    proxy.set(Rule { skip: 1, status: 503, times: 2, ..Rule::default() });
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["retries"], 2, "{run}");
    assert_eq!(run["streams"][0]["records_written"], 3_000);
    assert_eq!(proxy.faults.load(Ordering::SeqCst), 2);
    let log = log_text(&run);
    assert!(log.contains("Retry 1 of 4") && log.contains("Retry 2 of 4"), "{log}");
    assert!(log.contains("injected 503"), "the provider's words are in the log: {log}");
    assert!(!log.contains(&ds.full), "never the token");

    // A schedule, then 401 from the source: no retry, source failing, schedule stopped.
    let s = call(&app, Method::PATCH, &format!("/api/v1/sources/{id}"), &key, json!({"schedule_minutes": 60})).await;
    assert!(s.body["schedule"]["next_sync_at"].is_string(), "{}", s.body);
    proxy.set(Rule { skip: 0, status: 401, times: 100, ..Rule::default() });
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["streams"][0]["retries"], 0, "{run}");
    assert_eq!(proxy.faults.load(Ordering::SeqCst), 1, "asked once");
    assert_eq!(row_count(&app, &key, dataset).await, 3_000);
    let src = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    assert_eq!(src["status"], "failing", "{src}");
    assert_eq!(src["failure_count"], 1);
    assert_eq!(src["last_failure"]["error"]["class"], "unauthorized");
    assert_eq!(src["last_failure"]["during"], "sync");
    assert!(src["schedule"]["next_sync_at"].is_null(), "the schedule stops while failing: {src}");

    // Diagnostics (and the navigation badge) tell the story, with the way out.
    let page = admin.get_html("/live-data/diagnostics").await;
    for text in
        ["Flaky shop", "401 Unauthorized", "injected 401", "Failing since", "Test again", "Sync now", "1 failing"]
    {
        assert!(page.contains(text), "Diagnostics shows {text}: {page}");
    }
    // Due, but failing: the schedule does not start it.
    make_due(&app, id).await;
    app.runner_looked().await;
    let history = app.api(&format!("/api/v1/sources/{id}/syncs"), &key).await.body;
    assert_eq!(history.as_array().unwrap().len(), 3, "no scheduled run while failing: {history}");

    // Fixed: Test again passes, the source is active, a sync succeeds.
    proxy.set(Rule::default());
    let t = test_source(&app, &key, id).await;
    assert_eq!(t["ok"], true, "{t}");
    let src = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    assert_eq!(src["status"], "active");
    assert!(src["failing_since"].is_null());
    // Recovered: the next scheduled run is an interval from now, not the time
    // that passed while failing (which would start a run at once).
    let next: chrono::DateTime<chrono::Utc> =
        src["schedule"]["next_sync_at"].as_str().expect("scheduled again").parse().unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::minutes(55), "next run from now: {src}");
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let page = admin.get_html("/live-data/diagnostics").await;
    assert!(page.contains("No source is failing") && page.contains("Recovered"), "{page}");
    assert!(!page.contains("1 failing"));
}

/// Moves a source's next scheduled sync into the past (as if its interval passed).
async fn make_due(app: &TestApp, source: i64) {
    use keyhub::entities::sources;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    sources::Entity::update_many()
        .col_expr(sources::Column::NextSyncAt, Expr::value(Some(chrono::Utc::now() - chrono::Duration::seconds(1))))
        .filter(sources::Column::Id.eq(source))
        .exec(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn sync_now_twice_at_once_makes_one_run_and_schedules_fire_until_paused() {
    let ds = Datasette::start(2_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, admin, key) = live_app().await;
    let id = shop_source(&app, &key, &proxy.base, &ds.full, "Busy shop").await;
    let (run, _) = activate_into_entity(&app, &key, id, &["orders"], "Busy order").await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // Two API calls at once: one run; the other answer names it.
    proxy.set(Rule { delay_ms: 300, ..Rule::default() });
    let (a, b) = tokio::join!(sync(&app, &key, id), sync(&app, &key, id));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::CONFLICT], "{} {}", a.body, b.body);
    let (won, lost) = if a.status == StatusCode::ACCEPTED { (a, b) } else { (b, a) };
    assert_eq!(lost.body["error"]["code"], "sync_running");
    assert_eq!(lost.body["error"]["run_id"], won.body["run_id"]);
    // The page's Sync now, pressed twice while it runs: still that one run.
    let csrf = crate::helpers::csrf_token(&admin.get_html(&format!("/live-data/sources/{id}")).await);
    let action = format!("/live-data/sources/{id}/sync");
    let (p1, p2) = tokio::join!(admin.post_raw(&action, &csrf, &[]), admin.post_raw(&action, &csrf, &[]));
    assert_eq!((p1.status(), p2.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    let page = admin.get_html(&format!("/live-data/sources/{id}")).await;
    assert!(page.contains("Cancel sync") && page.contains("records read"), "live progress on the source page: {page}");
    let list = admin.get_html("/live-data/sources").await;
    assert!(list.contains("hx-trigger=\"every 2s\"") && list.contains("Syncing"), "{list}");
    wait_for_run(&app, &key, won.body["run_id"].as_i64().unwrap()).await;
    let history = app.api(&format!("/api/v1/sources/{id}/syncs"), &key).await.body;
    assert_eq!(history.as_array().unwrap().len(), 2, "activation + exactly one more: {history}");
    proxy.set(Rule::default());

    // A schedule fires when due, and moves its next time on.
    let s = call(&app, Method::PATCH, &format!("/api/v1/sources/{id}"), &key, json!({"schedule_minutes": 5})).await;
    assert_eq!(s.body["schedule"]["every_minutes"], 5, "{}", s.body);
    make_due(&app, id).await;
    let scheduled = app
        .until("the scheduled sync to start", || async {
            let history = app.api(&format!("/api/v1/sources/{id}/syncs"), &key).await.body;
            history.as_array().unwrap().iter().find(|r| r["trigger"] == "schedule").cloned()
        })
        .await;
    let done = wait_for_run(&app, &key, scheduled["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let src = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    let next: chrono::DateTime<chrono::Utc> = src["schedule"]["next_sync_at"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::minutes(4), "next run about 5 minutes on: {next}");

    // Paused: due or not, nothing starts.
    let p = call(&app, Method::PATCH, &format!("/api/v1/sources/{id}"), &key, json!({"schedule_paused": true})).await;
    assert_eq!(p.body["schedule"]["paused"], true);
    make_due(&app, id).await;
    app.runner_looked().await;
    let history = app.api(&format!("/api/v1/sources/{id}/syncs"), &key).await.body;
    assert_eq!(history.as_array().unwrap().len(), 3, "no run while paused: {history}");
    let page = admin.get_html(&format!("/live-data/sources/{id}")).await;
    assert!(page.contains("every 5 minutes (paused)"), "{page}");
}

#[tokio::test]
async fn a_cancelled_sync_keeps_the_old_rows_and_a_finished_run_cannot_be_cancelled() {
    let ds = Datasette::start(30_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, admin, key) = live_app().await;
    let id = shop_source(&app, &key, &proxy.base, &ds.full, "Slow shop").await;
    let (run, entity) = activate_into_entity(&app, &key, id, &["orders"], "Slow order").await;
    assert_eq!(run["status"], "succeeded");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();
    ds.change("c.execute('delete from orders where id > 10000')");
    proxy.set(Rule { delay_ms: 200, ..Rule::default() });
    let page = format!("/live-data/sources/{id}");

    // Once from the source page's button, once over the API.
    for by_page in [true, false] {
        let started = sync(&app, &key, id).await;
        let run_id = started.body["run_id"].as_i64().unwrap();
        written_at_least(&app, &key, run_id, 2_000).await;
        if by_page {
            let r = admin.post_form(&page, &format!("{page}/cancel"), &[]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            assert!(admin.get_html(&page).await.contains("Cancelling the sync"), "the page says so");
        } else {
            let c = call(&app, Method::POST, &format!("/api/v1/sync-runs/{run_id}/cancel"), &key, json!({})).await;
            assert_eq!(c.status, StatusCode::ACCEPTED, "{}", c.body);
            assert_eq!(c.body["cancel_requested"], true);
        }
        let run = wait_for_run(&app, &key, run_id).await;
        assert_eq!(run["status"], "cancelled", "{run}");
        assert_eq!(run["streams"][0]["status"], "cancelled");
        assert_eq!(row_count(&app, &key, dataset).await, 30_000, "the old rows stay");
        let again = call(&app, Method::POST, &format!("/api/v1/sync-runs/{run_id}/cancel"), &key, json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.body["error"]["code"], "run_finished");
    }
    let r = admin.post_form(&page, &format!("{page}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(admin.get_html(&page).await.contains("No sync of this source is running"));
}

/// The real binary on `database_url`, syncing with a 3-second lease; returned
/// once it says it listens.
async fn node(app: &TestApp, port: u16) -> Child {
    node_with(app, port, 3).await
}

/// The real binary with a sync lease of `lease` seconds.
/// Waits (on the app's pulses) until run `run_id` has written `n` records
/// or more of its first stream.
pub(crate) async fn written_at_least(app: &TestApp, key: &str, run_id: i64, n: i64) {
    app.until(&format!("the run to write {n} records"), || async {
        let run = app.api(&format!("/api/v1/sync-runs/{run_id}"), key).await.body;
        (run["streams"][0]["records_written"].as_i64().unwrap_or(0) >= n).then_some(())
    })
    .await;
}

pub(crate) async fn node_with(app: &TestApp, port: u16, lease: u32) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .env("KEYHUB_DATABASE_URL", &app.database_url)
        .env("KEYHUB_DATA_DIR", app.data_dir.path())
        .env("KEYHUB_BIND", format!("127.0.0.1:{port}"))
        .env("KEYHUB_CONNECTORS_ALLOW_PRIVATE", "true")
        .env("KEYHUB_SYNC_LEASE_SECONDS", lease.to_string())
        .env("KEYHUB_SHUTDOWN_DRAIN_SECONDS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run keyhub");
    let _said = crate::helpers::until_says(child.stdout.take().expect("piped"), "running at", "the node").await;
    child
}

/// What a test of a node that stops mid-sync starts from: a real Datasette
/// of 40,000 rows behind the fault proxy, and the test's app serving the API
/// but running no syncs — the binary nodes the test starts on the returned
/// port do (on SQLite the app hands the file over to them). Returns the app
/// and a key for the API besides.
pub(crate) async fn stopping_node_setup() -> (Datasette, FaultProxy, TestApp, String, u16) {
    let ds = Datasette::start(40_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let mut app = TestApp::spawn_with(|s| {
        s.connectors_allow_private = true;
        s.sync_workers = 0;
    })
    .await;
    let admin = app.with_admin().await;
    let key = admin.new_key("live data", &LIVE_PERMISSIONS).await;
    let port = free_port();
    app.hand_over_to(&format!("http://127.0.0.1:{port}")).await;
    (ds, proxy, app, key, port)
}

#[tokio::test]
async fn a_sync_killed_with_sigkill_resumes_after_restart_and_writes_every_row_once() {
    let (ds, proxy, app, key, port) = stopping_node_setup().await;
    let mut first = node(&app, port).await;
    proxy.set(Rule { delay_ms: 80, ..Rule::default() });
    let id = shop_source(&app, &key, &proxy.base, &ds.full, "Crash shop").await;
    let e = call(&app, Method::POST, "/api/v1/entities", &key, json!({"name": "Crash order"})).await;
    let entity = e.body["id"].as_i64().unwrap();
    let p = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        json!({"streams": ["orders"], "entity_id": entity}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let a = call(&app, Method::POST, &format!("/api/v1/sources/{id}/activate"), &key, json!({})).await;
    let run_id = a.body["run_id"].as_i64().unwrap();
    // The run is the other process's: its progress is seen in the database,
    // looked at again on each pulse of this app's own background work.
    written_at_least(&app, &key, run_id, 8_000).await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    // Read from the database: on SQLite the killed node was the only one serving.
    let left =
        app.count(&format!("SELECT COUNT(*) AS n FROM sync_runs WHERE id = {run_id} AND status = 'running'")).await;
    assert_eq!(left, 1, "left running by the killed node");

    proxy.set(Rule::default());
    let mut second = node(&app, port).await;
    let run = wait_for_run(&app, &key, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 2, "{run}");
    let log = log_text(&run);
    assert!(log.contains("Taken up again after keyhub stopped"), "the history tells what happened: {log}");
    assert!(log.contains("resuming the full refresh after record"), "{log}");
    let tab = app.api(&format!("/api/v1/entities/{entity}"), &key).await.body;
    let dataset = tab["tabs"][0]["dataset_id"].as_i64().unwrap();
    assert_eq!(stored(&app, dataset).await, (40_000, 40_000), "every row exactly once");
    assert_eq!(row_count(&app, &key, dataset).await, 40_000);
    // Resumed, not restarted: fewer batches were read after the restart than in all.
    assert!(
        proxy.batches.load(Ordering::SeqCst) < 40,
        "read {} batches after the restart",
        proxy.batches.load(Ordering::SeqCst)
    );
    let _ = second.kill();
    let _ = second.wait();
}

#[tokio::test]
async fn the_sync_settings_form_keeps_the_input_and_says_what_is_wrong_beside_the_field() {
    let ds = Datasette::start(50).await;
    let (app, admin, key) = live_app().await;
    let id = shop_source(&app, &key, &ds.base, &ds.full, "Form shop").await;
    let (run, _) = activate_into_entity(&app, &key, id, &["orders"], "Form order").await;
    assert_eq!(run["status"], "succeeded");
    let page = format!("/live-data/sources/{id}");
    let action = format!("{page}/sync-settings");

    let r = admin
        .post_form(&page, &action, &[("every", "0"), ("unit", "hours"), ("mode.0", "incremental"), ("cursor.0", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Enter a whole number of at least 1"), "{html}");
    assert!(
        html.contains(r#"id="f-every" name="every" type="number" min="1" inputmode="numeric" value="0""#),
        "the input is kept: {html}"
    );
    let r = admin
        .post_form(&page, &action, &[("every", "3"), ("unit", "hours"), ("mode.0", "incremental"), ("cursor.0", "")])
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("Choose the cursor column"), "{html}");
    assert!(
        html.contains(r#"id="f-mode-0-inc" name="mode.0" value="incremental" checked"#),
        "the choice is kept: {html}"
    );
    let src = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    assert!(src["schedule"]["every_minutes"].is_null(), "nothing saved on a refusal: {src}");

    let r = admin
        .post_form(
            &page,
            &action,
            &[("every", "2"), ("unit", "hours"), ("mode.0", "incremental"), ("cursor.0", "updated")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let src = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    assert_eq!(src["schedule"]["every_minutes"], 120, "{src}");
    assert_eq!(src["stream_modes"]["orders"], json!({"mode": "incremental", "cursor": "updated"}));
    let html = admin.get_html(&page).await;
    assert!(html.contains("every 2 hours") && html.contains("Next sync:"), "{html}");
    let audit = app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'source.changed' AND detail LIKE '%Schedule: every 2 hours%'").await;
    assert_eq!(audit, 1, "the change is audited");
}

#[tokio::test]
async fn a_queued_sync_is_cancelled_at_once() {
    let ds = Datasette::start(50).await;
    // A node that queues syncs but runs none: the run stays queued.
    let app = TestApp::spawn_with(|s| {
        s.connectors_allow_private = true;
        s.sync_workers = 0;
    })
    .await;
    let admin = app.with_admin().await;
    let key = admin.new_key("live data", &LIVE_PERMISSIONS).await;
    let id = shop_source(&app, &key, &ds.base, &ds.full, "Queued shop").await;
    let p = call(&app, Method::PATCH, &format!("/api/v1/sources/{id}"), &key, json!({"streams": ["orders"]})).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let a = call(&app, Method::POST, &format!("/api/v1/sources/{id}/activate"), &key, json!({})).await;
    let run_id = a.body["run_id"].as_i64().unwrap();
    assert_eq!(app.api(&format!("/api/v1/sync-runs/{run_id}"), &key).await.body["status"], "queued");
    let c = call(&app, Method::POST, &format!("/api/v1/sync-runs/{run_id}/cancel"), &key, json!({})).await;
    assert_eq!(c.status, StatusCode::ACCEPTED, "{}", c.body);
    assert_eq!(c.body["status"], "cancelled", "no worker needed: {}", c.body);
    assert_eq!(c.body["streams"][0]["status"], "cancelled");
    assert_eq!(c.body["error"], "Cancelled before it started.");
    assert!(log_text(&c.body).contains("Cancelled by an API call."), "{}", c.body);
    // The source is free for the next sync.
    assert_eq!(sync(&app, &key, id).await.status, StatusCode::ACCEPTED);
}
