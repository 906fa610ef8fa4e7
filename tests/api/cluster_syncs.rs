//! Sync runs on several nodes: each run executed by exactly one node, runs
//! of a node that dies (`kill -9`) or stops (SIGTERM) finished by another,
//! every row written once. Nodes are processes of the real binary.
use std::process::Child;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::helpers::{Datasette, LIVE_PERMISSIONS, free_port, wait_for_run};
use crate::sync_jobs::{log_text, node_with, shop_source, stored, written_at_least};

async fn call(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> ApiReply {
    post_json(app, method, path, key, body).await
}

/// Three nodes (3-second leases) and ten sources activated together, each
/// into an entity of its own. The node running one of them is killed with
/// SIGKILL mid-run; another node takes the run up within the lease plus
/// 10 s (by the run's own log) and finishes it. Ten runs in all, none
/// twice, every dataset exactly the source's rows.
#[tokio::test]
async fn three_nodes_run_each_of_ten_syncs_once_and_finish_the_run_of_a_killed_node() {
    let app = TestApp::spawn_with(|s| {
        s.connectors_allow_private = true;
        s.sync_workers = 0;
    })
    .await;
    if app.on_sqlite() {
        return; // SQLite serves one node (cluster::a_second_node_on_the_same_sqlite_file…).
    }
    const ROWS: i64 = 6_000;
    let ds = Datasette::start(ROWS as usize).await;
    let proxy = FaultProxy::start(&ds.base).await;
    proxy.set(Rule { delay_ms: 40, ..Rule::default() });
    let admin = app.with_admin().await;
    let key = admin.new_key("live data", &LIVE_PERMISSIONS).await;
    let mut nodes: Vec<(u16, Option<Child>)> = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        nodes.push((port, Some(node_with(&app, port, 3).await)));
    }
    let mut runs = Vec::new();
    for i in 0..10 {
        let source = shop_source(&app, &key, &proxy.base, &ds.full, &format!("Shop {i}")).await;
        runs.push(activate_orders(&app, &key, source, &format!("Order {i}")).await);
    }

    // One run well under way: its node is killed.
    let victim = app
        .until("a run to be half-way on some node", || async {
            for (run, _) in &runs {
                let r = app.api(&format!("/api/v1/sync-runs/{run}"), &key).await.body;
                let written = r["streams"][0]["records_written"].as_i64().unwrap_or(0);
                if r["status"] == "running" && (1_000..ROWS).contains(&written) {
                    return Some(*run);
                }
            }
            None
        })
        .await;
    let port = app
        .count(&format!(
            "SELECT CAST(split_part(n.address, ':', 2) AS BIGINT) AS n FROM sync_runs r \
             JOIN cluster_nodes n ON n.node_id = r.lease_owner WHERE r.id = {victim}"
        ))
        .await;
    let (_, child) = nodes.iter_mut().find(|(p, _)| i64::from(*p) == port).expect("the run's node is one of ours");
    let mut child = child.take().unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_at = chrono::Utc::now();

    for (run, entity) in &runs {
        let r = wait_for_run(&app, &key, *run).await;
        assert_eq!(r["status"], "succeeded", "{r}");
        let tab = app.api(&format!("/api/v1/entities/{entity}"), &key).await.body;
        let dataset = tab["tabs"][0]["dataset_id"].as_i64().unwrap();
        assert_eq!(stored(&app, dataset).await, (ROWS, ROWS), "run {run}: every row exactly once");
        // The killed node may have held a second run: each it held is taken up once.
        let attempts = r["attempts"].as_i64().unwrap();
        assert!(attempts == 2 || (attempts == 1 && *run != victim), "run {run}: {r}");
        if attempts == 2 {
            let taken = r["log"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["message"].as_str().unwrap_or("").starts_with("Taken up again"))
                .unwrap_or_else(|| panic!("the run says it was taken up: {}", log_text(&r)));
            let at: chrono::DateTime<chrono::Utc> = taken["at"].as_str().unwrap().parse().unwrap();
            assert!(at - killed_at <= chrono::Duration::seconds(3 + 10), "taken up at {at}, killed at {killed_at}");
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sync_runs").await, 10, "no run made twice");
    for (_, child) in &mut nodes {
        if let Some(mut c) = child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A rolling restart's stop: SIGTERM turns `/readyz` 503 while the node
/// still serves, then it exits cleanly and hands its running sync back —
/// the lease released at once (not left to run out its 60 s) — and the next
/// node resumes the run: every row written once.
#[tokio::test]
async fn sigterm_turns_readyz_503_first_exits_cleanly_and_hands_the_running_sync_back() {
    let (ds, proxy, app, key, port) = crate::sync_jobs::stopping_node_setup().await;
    let base = format!("http://127.0.0.1:{port}");
    let mut first = node_with(&app, port, 60).await;
    proxy.set(Rule { delay_ms: 80, ..Rule::default() });
    let id = shop_source(&app, &key, &proxy.base, &ds.full, "Handed shop").await;
    let (run_id, entity) = activate_orders(&app, &key, id, "Handed order").await;
    written_at_least(&app, &key, run_id, 8_000).await;

    // SAFETY: kill(2) on the child this test started; no memory is involved.
    assert_eq!(unsafe { libc::kill(first.id() as i32, libc::SIGTERM) }, 0);
    // Still serving, no longer ready: each answer is the event waited for.
    let said = loop {
        let r = reqwest::get(format!("{base}/readyz")).await.expect("the listener stays open while /readyz says 503");
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            break r.text().await.unwrap();
        }
        tokio::task::yield_now().await;
    };
    assert!(said.contains("shutting down"), "{said}");
    let exit = tokio::task::spawn_blocking(move || first.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "a clean exit after SIGTERM: {exit:?}");
    let handed = format!(
        "SELECT COUNT(*) AS n FROM sync_runs WHERE id = {run_id} AND status = 'running' AND lease_owner IS NULL AND lease_until IS NULL"
    );
    assert_eq!(app.count(&handed).await, 1, "the run is handed back, not left to its lease");
    assert!(app.count("SELECT COUNT(*) AS n FROM cluster_nodes WHERE stopped_at IS NOT NULL").await >= 1);

    proxy.set(Rule::default());
    let mut second = node_with(&app, port, 60).await;
    let run = wait_for_run(&app, &key, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 2, "{run}");
    let tab = app.api(&format!("/api/v1/entities/{entity}"), &key).await.body;
    let dataset = tab["tabs"][0]["dataset_id"].as_i64().unwrap();
    assert_eq!(stored(&app, dataset).await, (40_000, 40_000), "every row exactly once");
    let _ = second.kill();
    let _ = second.wait();
}

/// Links `orders` of `source` to a new entity and activates it: (run, entity).
async fn activate_orders(app: &TestApp, key: &str, source: i64, entity: &str) -> (i64, i64) {
    let e = call(app, Method::POST, "/api/v1/entities", key, json!({"name": entity})).await;
    let entity = e.body["id"].as_i64().unwrap();
    let p = call(
        app,
        Method::PATCH,
        &format!("/api/v1/sources/{source}"),
        key,
        json!({"streams": ["orders"], "entity_id": entity}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let a = call(app, Method::POST, &format!("/api/v1/sources/{source}/activate"), key, json!({})).await;
    (a.body["run_id"].as_i64().unwrap(), entity)
}
