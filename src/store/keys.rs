//! Personal API keys at rest.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::PermissionSet;
use crate::domain::keys::{KeyLabel, KeySecret};
use crate::entities::personal_keys as keys;

pub struct NewKey<'a> {
    pub workspace_id: i64,
    pub user_id: i64,
    pub label: &'a KeyLabel,
    pub permissions: &'a PermissionSet,
    pub secret: &'a KeySecret,
    pub expires_at: Option<DateTime<Utc>>,
    pub limits: crate::domain::limits::Limits,
}

pub async fn create(db: &impl ConnectionTrait, new: NewKey<'_>) -> Result<keys::Model, DbErr> {
    keys::ActiveModel {
        workspace_id: Set(new.workspace_id),
        user_id: Set(new.user_id),
        label: Set(new.label.as_str().to_owned()),
        permissions: Set(new.permissions.to_stored()),
        identifier: Set(new.secret.identifier()),
        secret_hash: Set(new.secret.digest()),
        previous_secret_hash: Set(None),
        previous_valid_until: Set(None),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        rotated_at: Set(None),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        rate_limit_requests: Set(new.limits.stored().0),
        rate_limit_window: Set(new.limits.stored().1),
        monthly_quota: Set(new.limits.stored().2),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Creates many keys in one transaction, 500 rows a statement (the
/// benchmark's seed). Labels must already be distinct per owner.
pub async fn create_many(db: &sea_orm::DatabaseConnection, new: &[NewKey<'_>]) -> Result<u64, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let now = Utc::now();
    for chunk in new.chunks(500) {
        let rows = chunk.iter().map(|n| keys::ActiveModel {
            workspace_id: Set(n.workspace_id),
            user_id: Set(n.user_id),
            label: Set(n.label.as_str().to_owned()),
            permissions: Set(n.permissions.to_stored()),
            identifier: Set(n.secret.identifier()),
            secret_hash: Set(n.secret.digest()),
            created_at: Set(now),
            expires_at: Set(n.expires_at),
            ..Default::default()
        });
        keys::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(new.len() as u64)
}

/// True when the owner already has a key whose label reads the same
/// (NFC, case-insensitive): two such keys could not be told apart.
pub async fn label_taken(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
    label: &crate::domain::keys::KeyLabel,
) -> Result<bool, DbErr> {
    let wanted = label.key();
    Ok(for_owner(db, workspace_id, user_id).await?.iter().any(|k| crate::domain::text::name_key(&k.label) == wanted))
}

/// A user's keys in one workspace, newest first.
pub async fn for_owner(db: &impl ConnectionTrait, workspace_id: i64, user_id: i64) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .filter(keys::Column::UserId.eq(user_id))
        .order_by_desc(keys::Column::CreatedAt)
        .order_by_desc(keys::Column::Id)
        .all(db)
        .await
}

/// One page of a user's keys in one workspace, newest first, optionally only
/// those in one state (the same rules as `KeyState::of`); and how many match.
pub async fn page_for_owner(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    user_id: i64,
    state: Option<crate::domain::keys::KeyState>,
    now: DateTime<Utc>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<keys::Model>, u64), DbErr> {
    use crate::domain::keys::{EXPIRING_WITHIN_DAYS, KeyState};
    use sea_orm::{Condition, PaginatorTrait, QuerySelect};
    let soon = now + chrono::Duration::days(EXPIRING_WITHIN_DAYS);
    let live = keys::Column::RevokedAt.is_null();
    let cond = match state {
        None => Condition::all(),
        Some(KeyState::Revoked) => Condition::all().add(keys::Column::RevokedAt.is_not_null()),
        Some(KeyState::Expired) => Condition::all().add(live).add(keys::Column::ExpiresAt.lte(now)),
        Some(KeyState::Expiring) => {
            Condition::all().add(live).add(keys::Column::ExpiresAt.gt(now)).add(keys::Column::ExpiresAt.lte(soon))
        }
        Some(KeyState::Active) => Condition::all()
            .add(live)
            .add(Condition::any().add(keys::Column::ExpiresAt.is_null()).add(keys::Column::ExpiresAt.gt(soon))),
    };
    let q = keys::Entity::find()
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .filter(keys::Column::UserId.eq(user_id))
        .filter(cond);
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(keys::Column::CreatedAt)
        .order_by_desc(keys::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// A key of this workspace, optionally only if `owner` owns it. Ids from
/// elsewhere are simply not found.
pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: i64,
    id: i64,
    owner: Option<i64>,
) -> Result<Option<keys::Model>, DbErr> {
    let mut q = keys::Entity::find_by_id(id).filter(keys::Column::WorkspaceId.eq(workspace_id));
    if let Some(user_id) = owner {
        q = q.filter(keys::Column::UserId.eq(user_id));
    }
    q.one(db).await
}

/// Gives the key a new secret; the old one stays valid until `old_valid_until`
/// (or stops at once when `None`).
/// Replaces the secret of `key` as it was read; false when it changed
/// meanwhile (another rotation won, or it was revoked): two rotations at once
/// must not both hand out a secret when only one of them works.
pub async fn rotate(
    db: &impl ConnectionTrait,
    key: &keys::Model,
    secret: &KeySecret,
    old_valid_until: Option<DateTime<Utc>>,
) -> Result<bool, DbErr> {
    let res = keys::Entity::update_many()
        .col_expr(keys::Column::Identifier, Expr::value(secret.identifier()))
        .col_expr(keys::Column::SecretHash, Expr::value(secret.digest()))
        .col_expr(keys::Column::PreviousSecretHash, Expr::value(old_valid_until.map(|_| key.secret_hash.clone())))
        .col_expr(keys::Column::PreviousValidUntil, Expr::value(old_valid_until))
        .col_expr(keys::Column::RotatedAt, Expr::value(Some(Utc::now())))
        .filter(keys::Column::Id.eq(key.id))
        .filter(keys::Column::SecretHash.eq(key.secret_hash.clone()))
        .filter(keys::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes the key; false when it was already revoked.
pub async fn revoke(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = keys::Entity::update_many()
        .col_expr(keys::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(keys::Column::Id.eq(id))
        .filter(keys::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Deletes a key that has been revoked.
/// Deletes a key that no longer works (revoked or expired); false otherwise.
pub async fn delete_revoked(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = keys::Entity::delete_many()
        .filter(keys::Column::Id.eq(id))
        .filter(
            sea_orm::Condition::any()
                .add(keys::Column::RevokedAt.is_not_null())
                .add(keys::Column::ExpiresAt.lte(Utc::now())),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
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

/// Revokes every key a user holds in a workspace (when they are removed from it).
pub async fn revoke_all_for(db: &impl ConnectionTrait, workspace_id: i64, user_id: i64) -> Result<u64, DbErr> {
    let res = keys::Entity::update_many()
        .col_expr(keys::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(keys::Column::WorkspaceId.eq(workspace_id))
        .filter(keys::Column::UserId.eq(user_id))
        .filter(keys::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// What the key verifier needs of a key, without the rest of the row.
pub type SnapshotRow = (
    i64,                   // id
    i64,                   // workspace_id
    i64,                   // user_id
    String,                // permissions
    String,                // identifier
    String,                // secret_hash
    Option<String>,        // previous_secret_hash
    Option<DateTime<Utc>>, // previous_valid_until
    Option<DateTime<Utc>>, // expires_at
    Option<DateTime<Utc>>, // revoked_at
    Option<i64>,           // rate limit, packed (`Limits::PACKED_RATE_SQL`)
    Option<i64>,           // monthly_quota
);

/// What the verifier needs of a key, in a query to narrow down.
fn snapshot_select() -> sea_orm::Select<keys::Entity> {
    use sea_orm::QuerySelect;
    keys::Entity::find()
        .select_only()
        .columns([
            keys::Column::Id,
            keys::Column::WorkspaceId,
            keys::Column::UserId,
            keys::Column::Permissions,
            keys::Column::Identifier,
            keys::Column::SecretHash,
            keys::Column::PreviousSecretHash,
            keys::Column::PreviousValidUntil,
            keys::Column::ExpiresAt,
            keys::Column::RevokedAt,
        ])
        // Two numbers in one column: a tuple has at most twelve.
        .expr(sea_orm::sea_query::Expr::cust(crate::domain::limits::PACKED_RATE_SQL))
        .column(keys::Column::MonthlyQuota)
}

/// One page of keys for the verifier's snapshot, by id, so that loading many
/// keys never holds them all as full rows at once.
pub async fn snapshot_page(db: &impl ConnectionTrait, after_id: i64, limit: u64) -> Result<Vec<SnapshotRow>, DbErr> {
    use sea_orm::QuerySelect;
    snapshot_select()
        .filter(keys::Column::Id.gt(after_id))
        .order_by_asc(keys::Column::Id)
        .limit(limit)
        .into_tuple::<SnapshotRow>()
        .all(db)
        .await
}

/// The verifier's rows for one key (none when it was deleted), or for every
/// key of one owner in one workspace.
pub async fn snapshot_rows(
    db: &impl ConnectionTrait,
    key_id: Option<i64>,
    owner: Option<(i64, i64)>,
) -> Result<Vec<SnapshotRow>, DbErr> {
    let mut q = snapshot_select();
    if let Some(id) = key_id {
        q = q.filter(keys::Column::Id.eq(id));
    }
    if let Some((workspace_id, user_id)) = owner {
        q = q.filter(keys::Column::WorkspaceId.eq(workspace_id)).filter(keys::Column::UserId.eq(user_id));
    }
    q.into_tuple::<SnapshotRow>().all(db).await
}

/// How many secrets the verifier will hold: every key, plus old secrets still
/// inside a rotation grace period.
pub async fn count_with_previous(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    let keys = keys::Entity::find().count(db).await?;
    let previous = keys::Entity::find().filter(keys::Column::PreviousSecretHash.is_not_null()).count(db).await?;
    Ok(keys + previous)
}

/// Working keys expiring after `after` and by `before` whose notices are not all sent.
pub async fn expiring(
    db: &impl ConnectionTrait,
    after: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::RevokedAt.is_null())
        .filter(keys::Column::ExpiresAt.gt(after))
        .filter(keys::Column::ExpiresAt.lte(before))
        .filter(keys::Column::Notice1dAt.is_null())
        .all(db)
        .await
}

/// Keys that expired since `since` (by `now`) and whose `key.expired` event did not go out.
pub async fn newly_expired(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<keys::Model>, DbErr> {
    keys::Entity::find()
        .filter(keys::Column::RevokedAt.is_null())
        .filter(keys::Column::ExpiresAt.gt(since))
        .filter(keys::Column::ExpiresAt.lte(now))
        .filter(keys::Column::ExpiredEventAt.is_null())
        .all(db)
        .await
}
