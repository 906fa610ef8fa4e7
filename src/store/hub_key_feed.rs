//! What every node's Data Hub key verifier loads: the keys by id a page at a
//! time at start-up, every link, and the change log it follows afterwards.
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::header_template::HeaderRow;
use crate::domain::hub_keys::{AccessType, KeyStatus};
use crate::domain::limits::Limits;
use crate::entities::json::Json;
use crate::entities::typed::Typed;
use crate::entities::{
    hub_key_endpoints as key_endpoints, hub_key_teams as key_teams, hub_key_users as key_users, hub_keys as keys,
};

/// Keys by id, a page at a time (start-up load).
/// What the verifier compiles of a key: no names, sealed secrets or dates
/// it does not check (reading 100,000 full rows at start took twice as long).
#[derive(Debug, Clone)]
pub struct VerifierRow {
    pub id: i64,
    pub workspace_id: i64,
    pub access_type: AccessType,
    pub status: KeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub ip_filters: Vec<IpNet>,
    pub headers: Vec<HeaderRow>,
    pub secret_digest: Option<String>,
    pub limits: Limits,
}

impl From<&keys::Model> for VerifierRow {
    fn from(m: &keys::Model) -> Self {
        VerifierRow {
            id: m.id,
            workspace_id: m.workspace_id,
            access_type: *m.access_type,
            status: *m.status,
            expires_at: m.expires_at,
            ip_filters: m.ip_filters.0.clone(),
            headers: m.headers.0.clone(),
            secret_digest: m.secret_digest.clone(),
            limits: Limits::from_stored(m.rate_limit_requests, m.rate_limit_window, m.monthly_quota),
        }
    }
}

/// The next `n` keys after id `after`, as the verifier needs them.
pub async fn page_after(db: &impl ConnectionTrait, after: i64, n: u64) -> Result<Vec<VerifierRow>, DbErr> {
    keys::Entity::find()
        .select_only()
        .columns([
            keys::Column::Id,
            keys::Column::WorkspaceId,
            keys::Column::AccessType,
            keys::Column::Status,
            keys::Column::ExpiresAt,
            keys::Column::IpFilters,
            keys::Column::Headers,
            keys::Column::SecretDigest,
        ])
        .expr(sea_orm::sea_query::Expr::cust(crate::domain::limits::PACKED_RATE_SQL))
        .column(keys::Column::MonthlyQuota)
        .filter(keys::Column::Id.gt(after))
        .order_by_asc(keys::Column::Id)
        .limit(n)
        // By position, not by name: naming each of 800,000 values at start
        // cost a tenth of the load (callgrind).
        .into_tuple::<(
            i64,
            i64,
            Typed<AccessType>,
            Typed<KeyStatus>,
            Option<DateTime<Utc>>,
            Json<Vec<IpNet>>,
            Json<Vec<HeaderRow>>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        )>()
        .all(db)
        .await
        .map(|rows| {
            rows.into_iter()
                .map(
                    |(
                        id,
                        workspace_id,
                        access_type,
                        status,
                        expires_at,
                        ip_filters,
                        headers,
                        secret_digest,
                        rate,
                        quota,
                    )| {
                        VerifierRow {
                            id,
                            workspace_id,
                            access_type: *access_type,
                            status: *status,
                            expires_at,
                            ip_filters: ip_filters.0,
                            headers: headers.0,
                            secret_digest,
                            limits: Limits::from_packed(rate, quota),
                        }
                    },
                )
                .collect()
        })
}

pub async fn by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<keys::Model>, DbErr> {
    keys::Entity::find_by_id(id).one(db).await
}

/// Every link row, for the start-up load: (key, endpoint), (key, user), (key, team).
pub async fn all_links(
    db: &impl ConnectionTrait,
) -> Result<(Vec<(i64, i64)>, Vec<(i64, i64)>, Vec<(i64, i64)>), DbErr> {
    let e = key_endpoints::Entity::find().all(db).await?.into_iter().map(|l| (l.hub_key_id, l.endpoint_id)).collect();
    let u = key_users::Entity::find().all(db).await?.into_iter().map(|l| (l.hub_key_id, l.user_id)).collect();
    let t = key_teams::Entity::find().all(db).await?.into_iter().map(|l| (l.hub_key_id, l.team_id)).collect();
    Ok((e, u, t))
}
