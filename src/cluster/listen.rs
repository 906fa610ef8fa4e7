//! Pushed changes. On PostgreSQL every node `LISTEN`s on `keyhub_changes`;
//! triggers send a notification in the transaction that logs a key change or
//! moves a shared marker (see migration `m20261207_000013_cluster`), so it
//! arrives when the change is visible, never before. A notification only
//! wakes someone who then reads the database: losing one costs latency (the
//! poll catches up), never a change. When the listening connection drops,
//! everyone is woken once it is back, since what was sent meanwhile is gone.
use std::time::Duration;

use tokio::sync::Notify;

/// The channel the triggers notify.
pub const CHANNEL: &str = "keyhub_changes";

/// What a notification wakes. `Notify::notify_one` keeps one permit when
/// nobody waits, so a change that arrives while its waiter is busy applying
/// the previous one is looked at right after, not at the next poll.
#[derive(Default)]
pub struct Signals {
    /// The key change log or the personal-keys marker moved.
    pub keys: Notify,
    /// Data Hub's catalogue (endpoints, collections, datasets) changed.
    pub catalogue: Notify,
}

impl Signals {
    /// Wakes whoever a notification's payload concerns.
    pub fn deliver(&self, payload: &str) {
        match payload {
            crate::store::changes::HUB => self.catalogue.notify_one(),
            // `keys` (the log) or the personal-keys marker.
            _ => self.keys.notify_one(),
        }
    }

    pub fn wake_all(&self) {
        self.keys.notify_one();
        self.catalogue.notify_one();
    }
}

/// Listens while the process lives (PostgreSQL only; SQLite has one node).
pub fn spawn(database_url: String, signals: std::sync::Arc<Signals>) {
    tokio::spawn(async move {
        loop {
            match listen(&database_url, &signals).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "listening for changes from other nodes failed; polling meanwhile")
                }
            }
            // Whatever was sent while not listening is lost: look now.
            signals.wake_all();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(database_url: &str, signals: &Signals) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    // Changes committed before LISTEN took effect were not announced to us.
    signals.wake_all();
    tracing::debug!("listening for changes from other nodes");
    loop {
        match listener.try_recv().await? {
            Some(n) => signals.deliver(n.payload()),
            // The connection dropped and was made again (listening again):
            // notifications sent in between are lost.
            None => {
                tracing::info!("the change listener reconnected; catching up");
                signals.wake_all();
            }
        }
    }
}
