use super::*;

// --- entities -------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct TabOut {
    pub id: i64,
    pub stream: String,
    /// The source filling it; null once unlinked (the tab was kept).
    pub source_id: Option<i64>,
    /// The dataset holding its rows (publishable as a data collection).
    pub dataset_id: i64,
    pub row_count: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct EntityOut {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub tabs: Vec<TabOut>,
    pub source_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) async fn entity_out(
    state: &AppState,
    e: &crate::entities::ontology_entities::Model,
) -> Result<EntityOut, ApiError> {
    let mut tabs = Vec::new();
    for t in store::tabs_of_entity(&state.db, e.id).await? {
        let rows = crate::store::datahub::dataset_any(&state.db, e.workspace_id, t.dataset_id)
            .await?
            .map_or(0, |d| d.row_count);
        tabs.push(TabOut {
            id: t.id,
            stream: t.stream,
            source_id: t.source_id,
            dataset_id: t.dataset_id,
            row_count: rows,
            last_sync_at: t.last_sync_at,
        });
    }
    let source_ids = store::sources_of_entity(&state.db, e.id).await?.iter().map(|s| s.id).collect();
    Ok(EntityOut {
        id: e.id,
        name: e.name.clone(),
        description: e.description.clone(),
        tabs,
        source_ids,
        created_at: e.created_at,
        updated_at: e.updated_at,
    })
}

#[utoipa::path(get, path = "/api/v1/entities", tag = "ontology",
    responses((status = 200, description = "Entities of the workspace with their tabs", body = Vec<EntityOut>)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn entities(state: web::Data<AppState>, p: Principal<perm::DataRead>) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for e in store::entities(&state.db, p.key.workspace_id).await? {
        out.push(entity_out(&state, &e).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, ToSchema)]
pub struct EntityIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[utoipa::path(post, path = "/api/v1/entities", tag = "ontology", request_body = EntityIn,
    responses((status = 201, description = "Created", body = EntityOut),
              (status = 422, description = "invalid_field", body = crate::api::errors::ErrorBody)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn create_entity(
    state: web::Data<AppState>,
    p: Principal<perm::OntologyEdit>,
    b: Result<web::Json<EntityIn>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let b = body(b)?;
    let e = crate::ontology::save(&state, &p.actor(), None, &b.name, &b.description).await?;
    Ok(HttpResponse::Created().json(entity_out(&state, &e).await?))
}

#[utoipa::path(get, path = "/api/v1/entities/{id}", tag = "ontology", params(("id" = i64, Path, description = "Entity id")),
    responses((status = 200, description = "The entity with its spreadsheet tabs and their dataset ids", body = EntityOut)),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])))]
pub async fn entity(
    state: web::Data<AppState>,
    p: Principal<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let e = store::entity(&state.db, p.key.workspace_id, *id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(entity_out(&state, &e).await?))
}
