//! Data Hub keys and their links (endpoints, users, teams), with the change
//! logged in the same transaction as every write (`hub_key_feed` reads it).
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::header_template::HeaderRow;
use crate::domain::hub_keys::{AccessType, KeyStatus};
use crate::entities::json::Json;
use crate::entities::{
    hub_key_endpoints as key_endpoints, hub_key_teams as key_teams, hub_key_users as key_users, hub_keys as keys,
};

/// A key's settings as saved (already checked by `hub::keys`).
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub access_type: AccessType,
    pub status: KeyStatus,
    pub ip_filters: Vec<IpNet>,
    pub headers: Vec<HeaderRow>,
    pub expires_at: Option<DateTime<Utc>>,
    pub endpoint_ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub team_ids: Vec<i64>,
    pub limits: crate::domain::limits::Limits,
}

/// A secret to store with the key: its digest and suffix, and for API keys
/// the plaintext to seal once the row id is known.
pub struct NewSecret<'a> {
    pub digest: String,
    pub suffix: String,
    pub seal: Option<(&'a crate::auth::sealing::Sealer, &'a str)>,
}

pub fn seal_context(id: i64) -> String {
    format!("hub_key:{id}")
}

/// What a save can run into besides the database.
#[derive(Debug)]
pub enum SaveOutcome {
    Saved(Box<keys::Model>),
    NameTaken,
    TokenTaken,
    /// Someone saved the key since `expected_version` was read.
    Conflict(Box<keys::Model>),
    Gone,
}

async fn log_change(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    key_id: Option<i64>,
    team_id: Option<i64>,
) -> Result<i64, DbErr> {
    let change = crate::store::key_changes::Change { workspace_id, hub_key_id: key_id, team_id, ..Default::default() };
    crate::store::key_changes::log(db, change).await
}

pub async fn log_team_change(db: &impl ConnectionTrait, workspace_id: i64, team_id: i64) -> Result<i64, DbErr> {
    log_change(db, workspace_id, None, Some(team_id)).await
}

async fn replace_links(db: &impl ConnectionTrait, id: i64, spec: &KeySpec) -> Result<(), DbErr> {
    key_endpoints::Entity::delete_many().filter(key_endpoints::Column::HubKeyId.eq(id)).exec(db).await?;
    key_users::Entity::delete_many().filter(key_users::Column::HubKeyId.eq(id)).exec(db).await?;
    key_teams::Entity::delete_many().filter(key_teams::Column::HubKeyId.eq(id)).exec(db).await?;
    if !spec.endpoint_ids.is_empty() {
        key_endpoints::Entity::insert_many(
            spec.endpoint_ids.iter().map(|e| key_endpoints::ActiveModel { hub_key_id: Set(id), endpoint_id: Set(*e) }),
        )
        .exec(db)
        .await?;
    }
    if !spec.user_ids.is_empty() {
        key_users::Entity::insert_many(
            spec.user_ids.iter().map(|u| key_users::ActiveModel { hub_key_id: Set(id), user_id: Set(*u) }),
        )
        .exec(db)
        .await?;
    }
    if !spec.team_ids.is_empty() {
        key_teams::Entity::insert_many(
            spec.team_ids.iter().map(|t| key_teams::ActiveModel { hub_key_id: Set(id), team_id: Set(*t) }),
        )
        .exec(db)
        .await?;
    }
    Ok(())
}

pub async fn name_taken(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    name: &str,
    except: Option<i64>,
) -> Result<bool, DbErr> {
    let mut q = keys::Entity::find()
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .filter(keys::Column::LookKey.eq(crate::domain::text::look_key(name)));
    if let Some(id) = except {
        q = q.filter(keys::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

pub async fn digest_taken(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    digest: &str,
    except: Option<i64>,
) -> Result<bool, DbErr> {
    let mut q = keys::Entity::find()
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .filter(keys::Column::SecretDigest.eq(digest));
    if let Some(id) = except {
        q = q.filter(keys::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// A new key's row: version 1, not yet logged (`change_seq` 0) nor sealed.
fn new_row(
    workspace_id: i64,
    spec: &KeySpec,
    digest_and_suffix: Option<(String, String)>,
    actor: Option<i64>,
    now: DateTime<Utc>,
) -> keys::ActiveModel {
    let (digest, suffix) = digest_and_suffix.unzip();
    keys::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(spec.name.clone()),
        name_key: Set(crate::domain::text::name_key(&spec.name)),
        look_key: Set(Some(crate::domain::text::look_key(&spec.name))),
        access_type: Set(spec.access_type.into()),
        status: Set(spec.status.into()),
        secret_digest: Set(digest),
        secret_suffix: Set(suffix),
        secret_sealed: Set(None),
        ip_filters: Set(Json(spec.ip_filters.clone())),
        headers: Set(Json(spec.headers.clone())),
        expires_at: Set(spec.expires_at),
        version: Set(1),
        change_seq: Set(0),
        created_at: Set(now),
        created_by: Set(actor),
        updated_at: Set(now),
        updated_by: Set(actor),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        rate_limit_requests: Set(spec.limits.stored().0),
        rate_limit_window: Set(spec.limits.stored().1),
        monthly_quota: Set(spec.limits.stored().2),
        ..Default::default()
    }
}

/// Creates a key with its links and logs the change, in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    workspace_id: i64,
    spec: &KeySpec,
    secret: Option<NewSecret<'_>>,
    actor: Option<i64>,
) -> Result<SaveOutcome, DbErr> {
    if name_taken(db, workspace_id, &spec.name, None).await? {
        return Ok(SaveOutcome::NameTaken);
    }
    if let Some(s) = &secret
        && digest_taken(db, workspace_id, &s.digest, None).await?
    {
        return Ok(SaveOutcome::TokenTaken);
    }
    let txn = crate::store::begin_write(db).await?;
    let now = Utc::now();
    let row = new_row(workspace_id, spec, secret.as_ref().map(|s| (s.digest.clone(), s.suffix.clone())), actor, now);
    let inserted = row.insert(&txn).await;
    let inserted = match crate::store::unless_taken(inserted)? {
        Some(m) => m,
        None => return Ok(SaveOutcome::NameTaken),
    };
    replace_links(&txn, inserted.id, spec).await?;
    let seq = log_change(&txn, workspace_id, Some(inserted.id), None).await?;
    let mut m: keys::ActiveModel = inserted.clone().into();
    m.change_seq = Set(seq);
    if let Some((sealer, plain)) = secret.as_ref().and_then(|s| s.seal) {
        m.secret_sealed = Set(Some(sealer.seal(&seal_context(inserted.id), plain)));
    }
    let saved = m.update(&txn).await?;
    txn.commit().await?;
    Ok(SaveOutcome::Saved(Box::new(saved)))
}

/// Creates many API keys at once (the benchmark's seed, an import): rows in
/// batches of 500, each secret sealed under its row id, one change logged per
/// key so running nodes pick them up. Names and secrets must be unique already.
pub async fn create_many(
    db: &DatabaseConnection,
    workspace_id: i64,
    specs: &[(KeySpec, String)],
    sealer: &crate::auth::sealing::Sealer,
) -> Result<u64, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let now = Utc::now();
    for chunk in specs.chunks(500) {
        let rows = chunk.iter().map(|(spec, secret)| {
            let digest = (crate::domain::tokens::digest(secret), crate::domain::hub_keys::suffix(secret));
            new_row(workspace_id, spec, Some(digest), None, now)
        });
        let inserted = keys::Entity::insert_many(rows).exec_with_returning(&txn).await?;
        let secrets: std::collections::HashMap<&str, &str> =
            chunk.iter().map(|(s, p)| (s.name.as_str(), p.as_str())).collect();
        for m in inserted {
            let seq = log_change(&txn, workspace_id, Some(m.id), None).await?;
            let sealed = secrets.get(m.name.as_str()).map(|plain| sealer.seal(&seal_context(m.id), plain));
            keys::Entity::update_many()
                .col_expr(keys::Column::SecretSealed, Expr::value(sealed))
                .col_expr(keys::Column::ChangeSeq, Expr::value(seq))
                .filter(keys::Column::Id.eq(m.id))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(specs.len() as u64)
}

/// Saves new settings when the key is still at `expected_version`.
pub async fn update(
    db: &DatabaseConnection,
    workspace_id: i64,
    id: i64,
    expected_version: Option<i64>,
    spec: &KeySpec,
    secret: Option<NewSecret<'_>>,
    actor: Option<i64>,
) -> Result<SaveOutcome, DbErr> {
    if name_taken(db, workspace_id, &spec.name, Some(id)).await? {
        return Ok(SaveOutcome::NameTaken);
    }
    if let Some(s) = &secret
        && digest_taken(db, workspace_id, &s.digest, Some(id)).await?
    {
        return Ok(SaveOutcome::TokenTaken);
    }
    let txn = crate::store::begin_write(db).await?;
    let Some(current) = find(&txn, workspace_id, id).await? else { return Ok(SaveOutcome::Gone) };
    if expected_version.is_some_and(|v| v != current.version) {
        return Ok(SaveOutcome::Conflict(Box::new(current)));
    }
    let seq = log_change(&txn, workspace_id, Some(id), None).await?;
    let mut q = keys::Entity::update_many()
        .col_expr(keys::Column::Name, Expr::value(spec.name.clone()))
        .col_expr(keys::Column::NameKey, Expr::value(crate::domain::text::name_key(&spec.name)))
        .col_expr(keys::Column::LookKey, Expr::value(Some(crate::domain::text::look_key(&spec.name))))
        .col_expr(keys::Column::AccessType, Expr::value(spec.access_type.as_str()))
        .col_expr(keys::Column::Status, Expr::value(spec.status.as_str()))
        .col_expr(keys::Column::IpFilters, Expr::value(Json(spec.ip_filters.clone())))
        .col_expr(keys::Column::Headers, Expr::value(Json(spec.headers.clone())))
        .col_expr(keys::Column::ExpiresAt, Expr::value(spec.expires_at))
        .col_expr(keys::Column::RateLimitRequests, Expr::value(spec.limits.stored().0))
        .col_expr(keys::Column::RateLimitWindow, Expr::value(spec.limits.stored().1))
        .col_expr(keys::Column::MonthlyQuota, Expr::value(spec.limits.stored().2))
        .col_expr(keys::Column::Version, Expr::value(current.version + 1))
        .col_expr(keys::Column::ChangeSeq, Expr::value(seq))
        .col_expr(keys::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(keys::Column::UpdatedBy, Expr::value(actor));
    // A new expire date deserves its own notices.
    if spec.expires_at != current.expires_at {
        q = q
            .col_expr(keys::Column::Notice7dAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(keys::Column::Notice1dAt, Expr::value(Option::<DateTime<Utc>>::None));
    }
    // Changing the access type changes what secret the key has.
    let new_type = spec.access_type != *current.access_type;
    if let Some(s) = &secret {
        q = q
            .col_expr(keys::Column::SecretDigest, Expr::value(s.digest.clone()))
            .col_expr(keys::Column::SecretSuffix, Expr::value(s.suffix.clone()))
            .col_expr(
                keys::Column::SecretSealed,
                Expr::value(s.seal.map(|(sealer, plain)| sealer.seal(&seal_context(id), plain))),
            );
    } else if new_type {
        q = q
            .col_expr(keys::Column::SecretDigest, Expr::value(Option::<String>::None))
            .col_expr(keys::Column::SecretSuffix, Expr::value(Option::<String>::None))
            .col_expr(keys::Column::SecretSealed, Expr::value(Option::<String>::None));
    }
    let res = q.filter(keys::Column::Id.eq(id)).filter(keys::Column::Version.eq(current.version)).exec(&txn).await;
    match crate::store::unless_taken(res)? {
        None => return Ok(SaveOutcome::NameTaken),
        Some(r) if r.rows_affected == 0 => {
            let now = find(&txn, workspace_id, id).await?;
            return Ok(now.map_or(SaveOutcome::Gone, |m| SaveOutcome::Conflict(Box::new(m))));
        }
        Some(_) => {}
    }
    replace_links(&txn, id, spec).await?;
    let saved = find(&txn, workspace_id, id).await?;
    txn.commit().await?;
    Ok(saved.map_or(SaveOutcome::Gone, |k| SaveOutcome::Saved(Box::new(k))))
}

/// Replaces an API key's secret; the old one stops working with the change.
pub async fn replace_secret(
    db: &DatabaseConnection,
    key: &keys::Model,
    secret: NewSecret<'_>,
    actor: Option<i64>,
) -> Result<Option<keys::Model>, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let seq = log_change(&txn, key.workspace_id, Some(key.id), None).await?;
    let sealed = secret.seal.map(|(sealer, plain)| sealer.seal(&seal_context(key.id), plain));
    keys::Entity::update_many()
        .col_expr(keys::Column::SecretDigest, Expr::value(secret.digest))
        .col_expr(keys::Column::SecretSuffix, Expr::value(secret.suffix))
        .col_expr(keys::Column::SecretSealed, Expr::value(sealed))
        .col_expr(keys::Column::Version, Expr::col(keys::Column::Version).add(1))
        .col_expr(keys::Column::ChangeSeq, Expr::value(seq))
        .col_expr(keys::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(keys::Column::UpdatedBy, Expr::value(actor))
        .filter(keys::Column::Id.eq(key.id))
        .exec(&txn)
        .await?;
    let saved = find(&txn, key.workspace_id, key.id).await?;
    txn.commit().await?;
    Ok(saved)
}

pub async fn delete(db: &DatabaseConnection, key: &keys::Model) -> Result<(), DbErr> {
    let txn = crate::store::begin_write(db).await?;
    key_endpoints::Entity::delete_many().filter(key_endpoints::Column::HubKeyId.eq(key.id)).exec(&txn).await?;
    key_users::Entity::delete_many().filter(key_users::Column::HubKeyId.eq(key.id)).exec(&txn).await?;
    key_teams::Entity::delete_many().filter(key_teams::Column::HubKeyId.eq(key.id)).exec(&txn).await?;
    keys::Entity::delete_by_id(key.id).exec(&txn).await?;
    log_change(&txn, key.workspace_id, Some(key.id), None).await?;
    txn.commit().await
}

pub async fn find(db: &impl ConnectionTrait, workspace_id: i64, id: i64) -> Result<Option<keys::Model>, DbErr> {
    keys::Entity::find_by_id(id).filter(keys::Column::WorkspaceId.eq(workspace_id)).one(db).await
}

/// Endpoint, user and team ids linked to a key.
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub endpoint_ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub team_ids: Vec<i64>,
}

pub async fn links(db: &impl ConnectionTrait, id: i64) -> Result<Links, DbErr> {
    Ok(Links {
        endpoint_ids: key_endpoints::Entity::find()
            .filter(key_endpoints::Column::HubKeyId.eq(id))
            .order_by_asc(key_endpoints::Column::EndpointId)
            .all(db)
            .await?
            .into_iter()
            .map(|l| l.endpoint_id)
            .collect(),
        user_ids: key_users::Entity::find()
            .filter(key_users::Column::HubKeyId.eq(id))
            .all(db)
            .await?
            .into_iter()
            .map(|l| l.user_id)
            .collect(),
        team_ids: key_teams::Entity::find()
            .filter(key_teams::Column::HubKeyId.eq(id))
            .all(db)
            .await?
            .into_iter()
            .map(|l| l.team_id)
            .collect(),
    })
}

/// Keys that may call an endpoint (the endpoint's side of the same links).
pub async fn keys_of_endpoint(db: &impl ConnectionTrait, endpoint_id: i64) -> Result<Vec<keys::Model>, DbErr> {
    let ids: Vec<i64> = key_endpoints::Entity::find()
        .filter(key_endpoints::Column::EndpointId.eq(endpoint_id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.hub_key_id)
        .collect();
    keys::Entity::find().filter(keys::Column::Id.is_in(ids)).order_by_asc(keys::Column::NameKey).all(db).await
}

/// Sets which keys may call an endpoint, logging a change for each key
/// whose set of endpoints changed.
pub async fn set_endpoint_keys(
    db: &DatabaseConnection,
    workspace_id: i64,
    endpoint_id: i64,
    key_ids: &[i64],
) -> Result<(), DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let before: Vec<i64> = key_endpoints::Entity::find()
        .filter(key_endpoints::Column::EndpointId.eq(endpoint_id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|l| l.hub_key_id)
        .collect();
    key_endpoints::Entity::delete_many().filter(key_endpoints::Column::EndpointId.eq(endpoint_id)).exec(&txn).await?;
    if !key_ids.is_empty() {
        key_endpoints::Entity::insert_many(
            key_ids.iter().map(|k| key_endpoints::ActiveModel { hub_key_id: Set(*k), endpoint_id: Set(endpoint_id) }),
        )
        .exec(&txn)
        .await?;
    }
    let touched: std::collections::BTreeSet<i64> = before
        .iter()
        .filter(|k| !key_ids.contains(k))
        .chain(key_ids.iter().filter(|k| !before.contains(k)))
        .copied()
        .collect();
    for k in touched {
        let seq = log_change(&txn, workspace_id, Some(k), None).await?;
        keys::Entity::update_many()
            .col_expr(keys::Column::ChangeSeq, Expr::value(seq))
            .col_expr(keys::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(keys::Column::Id.eq(k))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}

/// Ids of the keys that exist in the workspace, out of `ids`.
pub async fn existing_ids(db: &impl ConnectionTrait, workspace_id: i64, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    Ok(keys::Entity::find()
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .filter(keys::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect())
}

/// Every key of a workspace, by name (for choosers).
pub async fn all_in(db: &impl ConnectionTrait, workspace_id: i64) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(keys::Column::NameKey)
        .limit(1000)
        .all(db)
        .await
}

/// The key table's query.
#[derive(Debug, Clone, Default)]
pub struct TableQuery {
    pub search: Option<String>,
    pub status: Option<String>,
    pub access_type: Option<String>,
    /// `name`, `access_type`, `status`, `expires_at`, `last_used_at`, `created_at`.
    pub sort: String,
    pub desc: bool,
    pub offset: u64,
    pub limit: u64,
}

/// One page of the key table, the total, and each key's endpoint count.
pub async fn table(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    q: &TableQuery,
) -> Result<(Vec<(keys::Model, u64)>, u64), DbErr> {
    let mut cond = Condition::all().add(keys::Column::WorkspaceId.eq(workspace_id));
    if let Some(s) = q.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let key = crate::domain::text::name_key(s.trim());
        let escaped = key.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        cond = cond.add(
            Expr::col(keys::Column::NameKey)
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let Some(s) = &q.status {
        cond = cond.add(keys::Column::Status.eq(s.clone()));
    }
    if let Some(a) = &q.access_type {
        cond = cond.add(keys::Column::AccessType.eq(a.clone()));
    }
    let total = keys::Entity::find().filter(cond.clone()).count(db).await?;
    let col = match q.sort.as_str() {
        "access_type" => keys::Column::AccessType,
        "status" => keys::Column::Status,
        "expires_at" => keys::Column::ExpiresAt,
        "last_used_at" => keys::Column::LastUsedAt,
        "created_at" => keys::Column::CreatedAt,
        _ => keys::Column::NameKey,
    };
    // Ties are broken by the name (unique in a workspace) in the same
    // direction, so every sort walks one of the (workspace, column, name)
    // indexes instead of sorting 100,000 rows.
    let mut find = keys::Entity::find().filter(cond);
    find = if q.desc { find.order_by_desc(col) } else { find.order_by_asc(col) };
    let by_name = !matches!(q.sort.as_str(), "access_type" | "status" | "expires_at" | "last_used_at" | "created_at");
    if !by_name {
        find =
            if q.desc { find.order_by_desc(keys::Column::NameKey) } else { find.order_by_asc(keys::Column::NameKey) };
    }
    let rows = find.offset(q.offset).limit(q.limit).all(db).await?;
    let ids: Vec<i64> = rows.iter().map(|k| k.id).collect();
    let links = key_endpoints::Entity::find().filter(key_endpoints::Column::HubKeyId.is_in(ids)).all(db).await?;
    let out = rows
        .into_iter()
        .map(|k| {
            let n = links.iter().filter(|l| l.hub_key_id == k.id).count() as u64;
            (k, n)
        })
        .collect();
    Ok((out, total))
}

pub async fn record_use(
    db: &impl ConnectionTrait,
    id: i64,
    at: DateTime<Utc>,
    ip: Option<String>,
) -> Result<(), DbErr> {
    keys::Entity::update_many()
        .col_expr(keys::Column::LastUsedAt, Expr::value(at))
        .col_expr(keys::Column::LastUsedIp, Expr::value(ip))
        .filter(keys::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Active keys expiring after `after` and by `before` whose notices are not all sent.
pub async fn expiring(
    db: &impl ConnectionTrait,
    after: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::Status.eq("active"))
        .filter(keys::Column::ExpiresAt.gt(after))
        .filter(keys::Column::ExpiresAt.lte(before))
        .filter(keys::Column::Notice1dAt.is_null())
        .all(db)
        .await
}

/// Active keys that expired since `since` (by `now`) and whose `key.expired` event did not go out.
pub async fn newly_expired(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::Status.eq("active"))
        .filter(keys::Column::ExpiresAt.gt(since))
        .filter(keys::Column::ExpiresAt.lte(now))
        .filter(keys::Column::ExpiredEventAt.is_null())
        .all(db)
        .await
}
