//! What pages and the JSON API do to datasets, said once: check the request,
//! import all or nothing, audit, and tell the Data Hub cache. Handlers parse
//! HTTP into these calls and render what comes back.
use std::path::Path;

use super::import::{self, Plan};
use super::parse::Format;
use super::store::{self, NewDataset};
use super::{ImportError, check_column_names, clean_name};
use crate::domain::schema::Column;
use crate::entities::datasets;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::{Actor, Target};

pub fn target(ds: &datasets::Model) -> Target {
    Target { kind: "dataset", id: ds.id, name: ds.name.clone() }
}

/// A new dataset as asked for: its name, its columns (each naming the file
/// column it comes from) and its primary key.
pub struct NewContents<'a> {
    pub name: &'a str,
    pub columns: Vec<Column>,
    pub primary_key: Option<&'a str>,
    /// `upload` or `api`.
    pub source: &'static str,
}

/// Checks the name, columns and key; the plan to import with.
async fn check(state: &AppState, workspace_id: i64, new: &NewContents<'_>) -> Result<(String, Plan), Refusal> {
    let name = clean_name(new.name, "dataset").map_err(|m| Refusal::field("name", m))?;
    check_column_names(&new.columns).map_err(|(i, m)| Refusal::field(format!("column-{i}"), m))?;
    let primary_key = match new.primary_key.filter(|k| !k.is_empty()) {
        Some(k) => Some(new.columns.iter().position(|c| c.name == k).ok_or_else(|| {
            Refusal::field(
                "primary_key",
                format!("“{k}” is not one of the dataset's columns. Choose a kept column or none."),
            )
        })?),
        None => None,
    };
    if crate::store::datahub::dataset_name_taken(&state.db, workspace_id, &name).await? {
        return Err(Refusal::field("name", "Another dataset in this workspace has this name. Choose another name."));
    }
    Ok((name, Plan { columns: new.columns.clone(), primary_key }))
}

/// Creates a dataset and fills it; on any error nothing is left behind.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    new: NewContents<'_>,
    file: &Path,
    format: Format,
) -> Result<datasets::Model, Refusal> {
    let (name, plan) = check(state, actor.workspace_id, &new).await?;
    let pk_name = plan.primary_key.map(|i| plan.columns[i].name.clone());
    let record = NewDataset {
        workspace_id: actor.workspace_id,
        name: &name,
        columns: &plan.columns,
        primary_key: pk_name.as_deref(),
        source: new.source,
        created_by: Some(actor.user_id),
    };
    let Some(ds) = store::create(&state.db, record).await? else {
        return Err(Refusal::field("name", "Another dataset in this workspace has this name. Choose another name."));
    };
    let mut writer = match store::open_replace(&state.db, &ds).await {
        Ok(w) => w,
        Err(e) => {
            let _ = store::delete(&state.db, &ds).await;
            return Err(e.into());
        }
    };
    let written = import::import(&state.db, file, format, plan, &mut writer).await;
    let committed = match written {
        Ok(_) => writer.commit(&state.db, None).await.map_err(ImportError::from),
        Err(e) => {
            writer.abort(&state.db).await;
            Err(e)
        }
    };
    let ds = match committed {
        Ok(ds) => ds,
        Err(e) => {
            if let Err(d) = store::delete(&state.db, &ds).await {
                tracing::warn!(error = %d, "removing a failed import's dataset failed; it is removed at the next start");
            }
            return Err(e.into());
        }
    };
    let detail = format!("Created with {} rows and {} columns.", ds.row_count, store::columns(&ds).len());
    crate::store::audit::record(&state.db, actor.event("dataset.created", target(&ds), detail)).await?;
    state.hub.changed().await;
    Ok(ds)
}

/// The plan for new rows of an existing dataset: its own columns and key.
pub fn plan_of(ds: &datasets::Model) -> Plan {
    Plan { columns: store::columns(ds), primary_key: store::primary_key_index(ds) }
}

/// Replaces all rows at once (readers see the old rows until the commit).
pub async fn replace(
    state: &AppState,
    actor: &Actor,
    ds: &datasets::Model,
    file: &Path,
    format: Format,
) -> Result<datasets::Model, Refusal> {
    let mut writer = store::open_replace(&state.db, ds).await?;
    let outcome = import::import(&state.db, file, format, plan_of(ds), &mut writer).await;
    let new = match outcome {
        Ok(_) => writer.commit(&state.db, None).await?,
        Err(e) => {
            writer.abort(&state.db).await;
            return Err(e.into());
        }
    };
    let detail = format!("Replaced {} rows with {}.", ds.row_count, new.row_count);
    crate::store::audit::record(&state.db, actor.event("dataset.replaced", target(&new), detail)).await?;
    state.hub.changed().await;
    Ok(new)
}

/// Appends rows, or with a primary key updates the rows whose key exists.
pub async fn append(
    state: &AppState,
    actor: &Actor,
    ds: &datasets::Model,
    file: &Path,
    format: Format,
) -> Result<datasets::Model, Refusal> {
    let mut writer = store::open_incremental(&state.db, ds).await?;
    let outcome = import::import(&state.db, file, format, plan_of(ds), &mut writer).await;
    let written = writer.written();
    let new = match outcome {
        Ok(_) => writer.commit(&state.db, None).await?,
        Err(e) => {
            writer.abort(&state.db).await;
            return Err(e.into());
        }
    };
    let how = if ds.primary_key.is_some() { "Upserted" } else { "Appended" };
    let detail = format!("{how} {written} records; {} rows now.", new.row_count);
    crate::store::audit::record(&state.db, actor.event("dataset.appended", target(&new), detail)).await?;
    state.hub.changed().await;
    Ok(new)
}

/// Deletes a dataset with the collections and endpoints over it.
pub async fn delete(state: &AppState, actor: &Actor, ds: &datasets::Model) -> Result<(), Refusal> {
    let collections = crate::store::datahub::collections_of(&state.db, ds.id).await?;
    // Hub keys forget the endpoints that go with the dataset.
    for e in crate::store::datahub::endpoints_of(&state.db, collections.iter().map(|c| c.id).collect()).await? {
        crate::hub::keys::unlink_endpoint(state, &e).await?;
    }
    store::delete(&state.db, ds).await?;
    let detail = if collections.is_empty() {
        format!("Deleted with its {} rows.", ds.row_count)
    } else {
        let names: Vec<&str> = collections.iter().map(|c| c.name.as_str()).collect();
        format!("Deleted with its {} rows and the collections {} and their endpoints.", ds.row_count, names.join(", "))
    };
    crate::store::audit::record(&state.db, actor.event("dataset.deleted", target(ds), detail)).await?;
    state.hub.changed().await;
    Ok(())
}
