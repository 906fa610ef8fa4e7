//! Admin → Cluster in a real browser, with and without JavaScript: this node
//! listed as live with its address and version, reached from the Admin
//! section's navigation. axe-core checks the page at both widths.
use super::journeys::set_up;
use crate::helpers::*;

async fn cluster_journey(javascript: bool) {
    let app = TestApp::spawn().await;
    let b = set_up(&app, if javascript { "cluster_js" } else { "cluster_nojs" }, javascript).await;
    b.open("/admin/cluster").await;
    b.expect_text("this node").await;
    b.expect_text("Live").await;
    b.expect_text(env!("CARGO_PKG_VERSION")).await;
    b.expect_text(&format!("127.0.0.1:{}", app.port)).await;
    b.expect_text(if app.on_sqlite() { "runs on SQLite: one node" } else { "1 live" }).await;
    b.close().await;
}

#[tokio::test]
async fn browser_cluster_page() {
    cluster_journey(true).await;
}

#[tokio::test]
async fn browser_cluster_page_works_without_javascript() {
    cluster_journey(false).await;
}
