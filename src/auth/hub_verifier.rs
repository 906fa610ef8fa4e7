//! Verifies Data Hub keys on every data request without reading the
//! database: an in-memory snapshot of compiled hub keys (digest → status,
//! expiry, IP nets, endpoints, headers), team memberships for portal tokens,
//! and an index of the portal tokens each endpoint accepts.
//!
//! A change to one key updates the snapshot *in place*: the key is read again
//! (a few rows, outside any lock) and swapped in under a write lock held for
//! microseconds. Every node, the one that made the change included, learns of
//! it from the shared change log (`cluster::follower`), and records the last
//! change it applied in `cluster_nodes`, which is what a key's sync status
//! compares against.
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderName;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sea_orm::{DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use crate::domain::header_template::{self, Template};
use crate::domain::hub_keys::{AccessType, HUB_PREFIX, is_hub_secret};
use crate::entities::hub_keys;

/// Why a hub key was refused; each is a stable API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubRefusal {
    Malformed,
    Unknown,
    Inactive,
    Expired,
    IpNotAllowed,
    EndpointNotAllowed,
}

/// A hub key as the snapshot keeps it.
#[derive(Debug)]
pub struct CompiledHubKey {
    pub id: i64,
    pub workspace_id: i64,
    pub access: AccessType,
    pub active: bool,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub nets: Box<[IpNet]>,
    /// Sorted endpoint ids.
    pub endpoints: Box<[i64]>,
    pub users: Box<[i64]>,
    pub teams: Box<[i64]>,
    /// Headers to send (excluded rows are left out at compile time).
    pub headers: Box<[(HeaderName, Template)]>,
    /// Its rate limit and monthly quota (checked by `limits`).
    pub limits: crate::domain::limits::Limits,
    digest: Option<[u8; 32]>,
}

impl CompiledHubKey {
    /// Status → expiry → IP, in the documented order (the endpoint comes after).
    fn check(&self, ip: Option<IpAddr>, now: i64) -> Result<(), HubRefusal> {
        if !self.active {
            return Err(HubRefusal::Inactive);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(HubRefusal::Expired);
        }
        if !self.nets.is_empty() && !ip.is_some_and(|ip| crate::domain::ip_filter::allows(&self.nets, ip)) {
            return Err(HubRefusal::IpNotAllowed);
        }
        Ok(())
    }

    /// Whether the key may call `endpoint_id`.
    pub fn accepts(&self, endpoint_id: i64) -> bool {
        self.endpoints.binary_search(&endpoint_id).is_ok()
    }
}

#[derive(Default)]
struct Snapshot {
    by_digest: HashMap<(i64, [u8; 32]), Arc<CompiledHubKey>>,
    by_id: HashMap<i64, Arc<CompiledHubKey>>,
    /// endpoint → portal-token keys linked to it.
    portal_by_endpoint: HashMap<i64, Vec<i64>>,
    team_members: HashMap<i64, HashSet<i64>>,
}

impl Snapshot {
    fn remove(&mut self, id: i64) {
        let Some(old) = self.by_id.remove(&id) else { return };
        if let Some(d) = old.digest {
            self.by_digest.remove(&(old.workspace_id, d));
        }
        if old.access == AccessType::PortalToken {
            for e in old.endpoints.iter() {
                if let Some(list) = self.portal_by_endpoint.get_mut(e) {
                    list.retain(|k| *k != id);
                }
            }
        }
    }

    fn insert(&mut self, key: CompiledHubKey) {
        self.remove(key.id);
        let key = Arc::new(key);
        if let Some(d) = key.digest {
            self.by_digest.insert((key.workspace_id, d), Arc::clone(&key));
        }
        if key.access == AccessType::PortalToken {
            for e in key.endpoints.iter() {
                self.portal_by_endpoint.entry(*e).or_default().push(key.id);
            }
        }
        self.by_id.insert(key.id, key);
    }
}

fn compile(
    m: &crate::store::hub_key_feed::VerifierRow,
    mut endpoints: Vec<i64>,
    users: Vec<i64>,
    teams: Vec<i64>,
) -> CompiledHubKey {
    // Most keys have neither: skip the JSON parser for an empty list.
    // Rows saved before mapped ranges were stored as IPv4 match too.
    let nets: Vec<IpNet> = m.ip_filters.iter().copied().map(crate::domain::ip_filter::unmapped).collect();
    let headers = m
        .headers
        .iter()
        .filter(|r| !r.exclude)
        .filter_map(|r| Some((HeaderName::from_bytes(r.name.as_bytes()).ok()?, header_template::parse(&r.value).ok()?)))
        .collect::<Vec<_>>();
    endpoints.sort_unstable();
    CompiledHubKey {
        id: m.id,
        workspace_id: m.workspace_id,
        access: m.access_type,
        active: m.status == crate::domain::hub_keys::KeyStatus::Active,
        expires_at: m.expires_at.map(|t| t.timestamp()),
        nets: nets.into(),
        endpoints: endpoints.into(),
        users: users.into(),
        teams: teams.into(),
        headers: headers.into(),
        limits: m.limits,
        digest: m.secret_digest.as_deref().and_then(|h| hex::decode(h).ok()).and_then(|b| b.try_into().ok()),
    }
}

/// Liveness window: a node not seen for this long holds no change pending.
pub const NODE_ALIVE: Duration = Duration::from_secs(30);

pub struct HubVerifier {
    db: DatabaseConnection,
    snap: RwLock<Snapshot>,
    last_written: crate::auth::key_verifier::Coalesce,
    /// When the snapshot last matched the database (see `freshness`).
    pub freshness: crate::auth::freshness::Freshness,
}

/// A key's sync status: pending until every live node verifies with its last change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStatus {
    Pending { nodes: usize, behind: usize },
    Synced { nodes: usize, at: DateTime<Utc> },
}

impl HubVerifier {
    /// `max_stale`: how long keys are verified without a confirmation from the database.
    pub fn new(db: DatabaseConnection, max_stale: Duration) -> Arc<HubVerifier> {
        Arc::new(HubVerifier {
            freshness: crate::auth::freshness::Freshness::new(max_stale),
            db,
            snap: RwLock::default(),
            last_written: Default::default(),
        })
    }

    /// Loads every key (at start, before serving; the follower reads the
    /// log position first, so a change saved meanwhile is applied again).
    pub async fn load_all(&self) -> Result<(), DbErr> {
        let started = Instant::now();
        let (endpoints, users, teams) = crate::store::hub_key_feed::all_links(&self.db).await?;
        let mut by_key: HashMap<i64, crate::store::hub_keys::Links> = HashMap::new();
        for (k, e) in endpoints {
            by_key.entry(k).or_default().endpoint_ids.push(e);
        }
        for (k, u) in users {
            by_key.entry(k).or_default().user_ids.push(u);
        }
        for (k, t) in teams {
            by_key.entry(k).or_default().team_ids.push(t);
        }
        let mut snap = Snapshot::default();
        for (team, user) in crate::store::teams::all_members(&self.db).await? {
            snap.team_members.entry(team).or_default().insert(user);
        }
        let mut after = 0;
        loop {
            let page = crate::store::hub_key_feed::page_after(&self.db, after, 5_000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for m in &page {
                let l = by_key.remove(&m.id).unwrap_or_default();
                snap.insert(compile(m, l.endpoint_ids, l.user_ids, l.team_ids));
            }
        }
        crate::metrics::snapshot("hub", snap.by_id.len());
        tracing::info!(keys = snap.by_id.len(), ms = started.elapsed().as_millis() as u64, "Data Hub keys loaded");
        *self.snap.write().unwrap_or_else(|p| p.into_inner()) = snap;
        Ok(())
    }

    /// Reads one key again (saved, regenerated or deleted) and swaps it in.
    pub async fn apply_key(&self, id: i64) -> Result<(), DbErr> {
        let compiled = match crate::store::hub_key_feed::by_id(&self.db, id).await? {
            Some(m) => {
                let l = crate::store::hub_keys::links(&self.db, id).await?;
                Some(compile(&(&m).into(), l.endpoint_ids, l.user_ids, l.team_ids))
            }
            None => None,
        };
        let mut snap = self.snap.write().unwrap_or_else(|p| p.into_inner());
        match compiled {
            Some(k) => snap.insert(k),
            None => snap.remove(id),
        }
        crate::metrics::snapshot("hub", snap.by_id.len());
        Ok(())
    }

    /// Reads one team's members again (portal tokens may name teams).
    pub async fn apply_team(&self, id: i64) -> Result<(), DbErr> {
        let members: HashSet<i64> = crate::store::teams::members(&self.db, id).await?.into_iter().collect();
        let mut snap = self.snap.write().unwrap_or_else(|p| p.into_inner());
        if members.is_empty() {
            snap.team_members.remove(&id);
        } else {
            snap.team_members.insert(id, members);
        }
        Ok(())
    }

    /// Checks an API key or a generic token presented to `workspace_id`:
    /// format/checksum → known → active → not expired → IP allowed. Which
    /// endpoints it may call is `CompiledHubKey::accepts`. A refusal names
    /// the key when it is known (its usage counts the refusal).
    pub fn lookup(
        &self,
        workspace_id: i64,
        presented: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Arc<CompiledHubKey>, (HubRefusal, Option<i64>)> {
        if presented.starts_with(HUB_PREFIX) && !is_hub_secret(presented) {
            return Err((HubRefusal::Malformed, None));
        }
        if presented.is_empty() || presented.len() > 256 || !presented.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((HubRefusal::Malformed, None));
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let key = {
            let snap = self.snap.read().unwrap_or_else(|p| p.into_inner());
            snap.by_digest.get(&(workspace_id, digest)).cloned()
        };
        let key = key.ok_or((HubRefusal::Unknown, None))?;
        key.check(ip, now.timestamp()).map_err(|r| (r, Some(key.id)))?;
        Ok(key)
    }

    /// Whether a portal token linked to `endpoint_id` names `user_id` (directly
    /// or through a team) and admits the request now. When several do, the
    /// first that admits wins; otherwise the refusal of the closest one.
    pub fn verify_portal(
        &self,
        workspace_id: i64,
        user_id: i64,
        endpoint_id: i64,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Arc<CompiledHubKey>, HubRefusal> {
        let snap = self.snap.read().unwrap_or_else(|p| p.into_inner());
        let mut refusal = HubRefusal::EndpointNotAllowed;
        for id in snap.portal_by_endpoint.get(&endpoint_id).map(Vec::as_slice).unwrap_or_default() {
            let Some(key) = snap.by_id.get(id) else { continue };
            let named = key.workspace_id == workspace_id
                && (key.users.contains(&user_id)
                    || key.teams.iter().any(|t| snap.team_members.get(t).is_some_and(|m| m.contains(&user_id))));
            if !named {
                continue;
            }
            match key.check(ip, now.timestamp()) {
                Ok(()) => return Ok(Arc::clone(key)),
                Err(r) => refusal = r,
            }
        }
        Err(refusal)
    }

    /// Records a successful use: at most one write per key a minute.
    pub fn note_use(&self, key_id: i64, ip: impl FnOnce() -> Option<String>) {
        if !self.last_written.due(key_id) {
            return;
        }
        let ip = ip();
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::store::hub_keys::record_use(&db, key_id, Utc::now(), ip).await {
                tracing::warn!(key_id, error = %e, "recording hub key use failed");
            }
            crate::pulse::background().bump();
        });
    }

    /// Compares the key's last change with what every live node has applied.
    pub async fn sync_status(&self, key: &hub_keys::Model) -> Result<SyncStatus, DbErr> {
        Ok(sync_status(key, &self.live_nodes().await?))
    }

    /// The live nodes (for a page of keys: one read, then `sync_status` per key).
    pub async fn live_nodes(&self) -> Result<Vec<crate::entities::cluster_nodes::Model>, DbErr> {
        let since = Utc::now() - chrono::Duration::from_std(NODE_ALIVE).unwrap_or_default();
        crate::store::nodes::live_nodes(&self.db, since).await
    }
}

/// A key's status against the nodes alive now.
pub fn sync_status(key: &hub_keys::Model, nodes: &[crate::entities::cluster_nodes::Model]) -> SyncStatus {
    let behind = nodes.iter().filter(|n| n.applied_seq < key.change_seq).count();
    if behind > 0 || nodes.is_empty() {
        return SyncStatus::Pending { nodes: nodes.len(), behind };
    }
    // The latest confirmation among the nodes: an upper bound of when the
    // last node applied the change, never earlier than the change itself.
    let at = nodes.iter().map(|n| n.applied_at).max().unwrap_or(key.updated_at).max(key.updated_at);
    SyncStatus::Synced { nodes: nodes.len(), at: at.min(Utc::now()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::json::Json;

    fn compiled(m: &hub_keys::Model, endpoints: Vec<i64>, users: Vec<i64>, teams: Vec<i64>) -> CompiledHubKey {
        compile(&m.into(), endpoints, users, teams)
    }

    fn model(id: i64, access: &str, status: &str, digest: Option<&str>) -> hub_keys::Model {
        let now = Utc::now();
        hub_keys::Model {
            id,
            workspace_id: 1,
            name: format!("k{id}"),
            name_key: format!("k{id}"),
            look_key: Some(format!("k{id}")),
            access_type: crate::domain::hub_keys::AccessType::parse(access).expect("access type").into(),
            status: crate::domain::hub_keys::KeyStatus::parse(status).expect("status").into(),
            secret_digest: digest.map(str::to_owned),
            secret_suffix: None,
            secret_sealed: None,
            ip_filters: Json(vec!["10.0.0.0/8".parse().unwrap()]),
            headers: Json(serde_json::from_str(r#"[{"name":"X-A","value":"${collection.meta.count}","exclude":false},{"name":"X-B","value":"b","exclude":true}]"#).unwrap()),
            expires_at: None,
            version: 1,
            change_seq: 1,
            created_at: now,
            created_by: None,
            updated_at: now,
            updated_by: None,
            last_used_at: None,
            last_used_ip: None,
            rate_limit_requests: None,
            rate_limit_window: None,
            monthly_quota: None,
            notice_7d_at: None,
            notice_1d_at: None,
            expired_event_at: None,
        }
    }

    #[test]
    fn compiling_keeps_what_is_sent_and_drops_what_is_not() {
        let k = compiled(&model(1, "api_key", "active", Some(&"ab".repeat(32))), vec![3, 1, 2], vec![], vec![]);
        assert_eq!(&*k.endpoints, &[1, 2, 3], "sorted for binary search");
        assert_eq!(k.nets.len(), 1);
        assert_eq!(k.headers.len(), 1, "excluded rows are not sent");
        assert_eq!(k.headers[0].0.as_str(), "x-a");
        assert!(k.digest.is_some());
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let now = Utc::now().timestamp();
        let mut m = model(1, "api_key", "inactive", None);
        m.expires_at = Some(Utc::now() - chrono::Duration::hours(1));
        let k = compiled(&m, vec![7], vec![], vec![]);
        assert_eq!(k.check(ip("192.0.2.1"), now), Err(HubRefusal::Inactive), "status first");
        m.status = crate::domain::hub_keys::KeyStatus::Active.into();
        let k = compiled(&m, vec![7], vec![], vec![]);
        assert_eq!(k.check(ip("192.0.2.1"), now), Err(HubRefusal::Expired), "then expiry");
        m.expires_at = None;
        let k = compiled(&m, vec![7], vec![], vec![]);
        assert_eq!(k.check(ip("192.0.2.1"), now), Err(HubRefusal::IpNotAllowed), "then the address");
        assert_eq!(k.check(None, now), Err(HubRefusal::IpNotAllowed), "no known address never passes a filter");
        assert_eq!(k.check(ip("::ffff:10.1.2.3"), now), Ok(()), "v4-mapped clients match IPv4 rows");
        assert!(k.accepts(7) && !k.accepts(8), "then the endpoint");
    }

    #[test]
    fn one_key_is_replaced_in_place_with_its_indexes() {
        let mut snap = Snapshot::default();
        let d1 = "11".repeat(32);
        let d2 = "22".repeat(32);
        snap.insert(compiled(&model(1, "api_key", "active", Some(&d1)), vec![1], vec![], vec![]));
        snap.insert(compiled(&model(2, "portal_token", "active", None), vec![1, 2], vec![5], vec![]));
        assert_eq!(snap.portal_by_endpoint[&1], vec![2]);
        // Regenerated: the old digest no longer finds the key.
        snap.insert(compiled(&model(1, "api_key", "active", Some(&d2)), vec![1], vec![], vec![]));
        let key = |d: &str| -> [u8; 32] { hex::decode(d).unwrap().try_into().unwrap() };
        assert!(!snap.by_digest.contains_key(&(1, key(&d1))));
        assert!(snap.by_digest.contains_key(&(1, key(&d2))));
        // The portal token leaves endpoint 1.
        snap.insert(compiled(&model(2, "portal_token", "active", None), vec![2], vec![5], vec![]));
        assert!(snap.portal_by_endpoint[&1].is_empty());
        assert_eq!(snap.portal_by_endpoint[&2], vec![2]);
        snap.remove(2);
        snap.remove(1);
        assert!(
            snap.by_id.is_empty() && snap.by_digest.is_empty() && snap.portal_by_endpoint.values().all(Vec::is_empty)
        );
    }

    #[test]
    fn sync_status_waits_for_every_live_node() {
        let mut k = model(1, "api_key", "active", None);
        k.change_seq = 5;
        let node = |seq: i64| crate::entities::cluster_nodes::Model {
            node_id: format!("n{seq}"),
            applied_seq: seq,
            applied_at: Utc::now(),
            seen_at: Utc::now(),
            address: None,
            version: None,
            started_at: None,
            confirmed_at: None,
            syncs_running: 0,
            stopped_at: None,
        };
        assert!(matches!(sync_status(&k, &[node(5), node(4)]), SyncStatus::Pending { nodes: 2, behind: 1 }));
        assert!(matches!(sync_status(&k, &[node(5), node(6)]), SyncStatus::Synced { nodes: 2, .. }));
        assert!(matches!(sync_status(&k, &[]), SyncStatus::Pending { .. }));
    }
}
