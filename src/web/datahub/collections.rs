//! `Data Hub → Data Collections`: the list with a form for a new collection,
//! and a collection's page — its fields, order and page sizes, a live preview
//! of what a caller receives, and the endpoints that serve it.
use crate::web::params::Params;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::datasets::{Column, store};
use crate::domain::Permission;
use crate::domain::datahub::Access;
use crate::domain::datahub::{DEFAULT_LIMIT, DEFAULT_MAX_LIMIT, Format, HubQuery, parse_order};
use crate::entities::{data_collections, datasets};
use crate::hub::manage::{self, CollectionInput};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

pub struct CollectionItem {
    pub id: i64,
    pub name: String,
    pub dataset: String,
    pub fields: String,
    pub endpoints: usize,
}

pub struct DatasetChoice {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "datahub/collections.html")]
struct ListPage {
    layout: Layout,
    collections: Vec<CollectionItem>,
    datasets: Vec<DatasetChoice>,
    can_manage: bool,
    form: NewForm,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    dataset_id: String,
}

#[derive(Deserialize)]
pub struct ListQuery {
    dataset: Option<i64>,
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    form: NewForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let all = crate::store::datahub::collections(&state.db, ws).await?;
    let sets = crate::store::datahub::datasets(&state.db, ws).await?;
    let endpoints = crate::store::datahub::endpoints(&state.db, ws).await?;
    let collections = all
        .iter()
        .map(|c| CollectionItem {
            id: c.id,
            name: c.name.clone(),
            dataset: sets.iter().find(|d| d.id == c.dataset_id).map(|d| d.name.clone()).unwrap_or_default(),
            fields: match c.fields.as_ref().map(|f| f.0.clone()) {
                Some(f) => f.join(", "),
                None => "all".into(),
            },
            endpoints: endpoints.iter().filter(|e| e.collection_id == c.id).count(),
        })
        .collect();
    let datasets = sets
        .iter()
        .map(|d| DatasetChoice { id: d.id, name: d.name.clone(), selected: form.dataset_id == d.id.to_string() })
        .collect();
    let page = ListPage {
        layout: Layout::for_user(user, "Data collections"),
        collections,
        datasets,
        can_manage: user.can(Permission::HubKeysManage),
        form,
        errors,
    };
    render(status, &page)
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    q: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    if let Some(r) = crate::web::retry::take(&req, urls::COLLECTIONS) {
        let form =
            NewForm { name: r.value("name"), description: r.value("description"), dataset_id: r.value("dataset_id") };
        return list_page(&state, &user, form, r.errors, StatusCode::OK).await;
    }
    let form = NewForm { dataset_id: q.dataset.map(|d| d.to_string()).unwrap_or_default(), ..Default::default() };
    list_page(&state, &user, form, FieldErrors::default(), StatusCode::OK).await
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    CsrfForm(form): CsrfForm<NewForm>,
) -> Result<HttpResponse, AppError> {
    let input = CollectionInput {
        name: form.name.clone(),
        description: form.description.clone(),
        dataset_id: form.dataset_id.parse().ok(),
        fields: None,
        order: None,
        default_limit: DEFAULT_LIMIT,
        max_limit: DEFAULT_MAX_LIMIT,
    };
    match manage::save_collection(&state, &user.actor, None, &input).await {
        Ok(c) => {
            Flash::push_about(&user.session, "success", "Created the collection", Some(c.name.clone()));
            Ok(see_other(&urls::collection(c.id)))
        }
        Err(Refusal::Fields(refused)) => {
            let errors = FieldErrors::from(refused);
            let values =
                [("name", form.name.as_str()), ("description", &form.description), ("dataset_id", &form.dataset_id)];
            if let Some(back) = crate::web::retry::back_to(&req, urls::COLLECTIONS, &values, &errors) {
                return Ok(back);
            }
            list_page(&state, &user, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A column on the collection form: exposed or not, and where.
pub struct FieldChoice {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub exposed: bool,
    pub position: usize,
}

pub struct EndpointLink {
    pub id: i64,
    pub path: String,
    pub url: String,
    pub public: bool,
}

#[derive(Template)]
#[template(path = "datahub/collection.html")]
struct CollectionPage {
    layout: Layout,
    c: data_collections::Model,
    dataset: datasets::Model,
    collection_name: String,
    description: String,
    fields: Vec<FieldChoice>,
    order: String,
    default_limit: String,
    max_limit: String,
    can_manage: bool,
    preview: String,
    preview_url: String,
    endpoints: Vec<EndpointLink>,
    errors: FieldErrors,
}

async fn find(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<(data_collections::Model, datasets::Model), AppError> {
    let c = crate::store::datahub::collection(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)?;
    let d = crate::store::datahub::dataset(&state.db, user.workspace_id(), c.dataset_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((c, d))
}

fn choices(columns: &[Column], exposed: Option<&[String]>) -> Vec<FieldChoice> {
    columns
        .iter()
        .enumerate()
        .map(|(index, col)| {
            let at = exposed.map_or(Some(index), |list| list.iter().position(|f| *f == col.name));
            FieldChoice {
                index,
                name: col.name.clone(),
                kind: col.kind.as_str(),
                exposed: at.is_some(),
                position: at.unwrap_or(index) + 1,
            }
        })
        .collect()
}

/// What a caller of an endpoint over this collection receives for its first page.
async fn preview(state: &AppState, c: &data_collections::Model, d: &datasets::Model) -> Result<String, AppError> {
    let (fields, columns) = crate::hub::exposed_fields(c, d);
    let order = c.sort_order.as_deref().and_then(|o| {
        let (name, desc) = parse_order(o);
        fields.iter().position(|f| f == name).map(|i| (columns[i], desc))
    });
    let limit = c.default_limit.min(5) as u64;
    let q = store::ReadQuery { order, limit, ..Default::default() };
    let page = store::read(&state.db, d, &q).await?;
    let hub_q = HubQuery {
        limit: c.default_limit as u64,
        offset: 0,
        order: None,
        filters: vec![],
        format: Format::Json,
        whole: false,
    };
    let body = crate::hub::render_json(&c.name, &fields, &columns, &hub_q, &page.rows, page.count);
    Ok(String::from_utf8_lossy(&body).replace("},{", "},\n {"))
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (c, d) = find(&state, &user, *id).await?;
    if let Some(r) = crate::web::retry::take(&req, &urls::collection(c.id)) {
        let fields = posted_fields(r.pairs(), &store::columns(&d));
        let values = (
            r.value("name"),
            r.value("description"),
            fields,
            r.value("order"),
            r.value("default_limit"),
            r.value("max_limit"),
        );
        return page(&state, &user, c, d, values, r.errors, StatusCode::OK).await;
    }
    let exposed: Option<Vec<String>> = c.fields.as_ref().map(|f| f.0.clone());
    let fields = choices(&store::columns(&d), exposed.as_deref());
    let (order, default_limit, max_limit) =
        (c.sort_order.clone().unwrap_or_default(), c.default_limit.to_string(), c.max_limit.to_string());
    page(
        &state,
        &user,
        c.clone(),
        d,
        (c.name.clone(), c.description.clone(), fields, order, default_limit, max_limit),
        FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

type Values = (String, String, Vec<FieldChoice>, String, String, String);

async fn page(
    state: &AppState,
    user: &CurrentUser,
    c: data_collections::Model,
    dataset: datasets::Model,
    values: Values,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (name, description, fields, order, default_limit, max_limit) = values;
    let endpoints = crate::store::datahub::endpoints_of(&state.db, vec![c.id]).await?;
    let slug =
        crate::store::workspaces::find(&state.db, user.workspace_id()).await?.and_then(|w| w.slug).unwrap_or_default();
    let endpoints: Vec<EndpointLink> = endpoints
        .iter()
        .map(|e| EndpointLink {
            id: e.id,
            path: e.path.clone(),
            url: format!("/hub/{slug}/{}", e.path),
            public: *e.access == Access::Public,
        })
        .collect();
    let p = CollectionPage {
        layout: Layout::for_user(user, &c.name),
        preview: preview(state, &c, &dataset).await?,
        preview_url: endpoints.first().map(|e| e.url.clone()).unwrap_or_default(),
        can_manage: user.can(Permission::HubKeysManage),
        c,
        dataset,
        collection_name: name,
        description,
        fields,
        order,
        default_limit,
        max_limit,
        endpoints,
        errors,
    };
    render(status, &p)
}

/// The fields as the settings form posted them: exposed or not, and where.
fn posted_fields(form: &[(String, String)], columns: &[Column]) -> Vec<FieldChoice> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    columns
        .iter()
        .enumerate()
        .map(|(index, col)| FieldChoice {
            index,
            name: col.name.clone(),
            kind: col.kind.as_str(),
            exposed: get(&format!("expose-{index}")) == "yes",
            position: get(&format!("position-{index}")).trim().parse().unwrap_or(index + 1),
        })
        .collect()
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (c, d) = find(&state, &user, *id).await?;
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let columns = store::columns(&d);
    let fields = posted_fields(&form, &columns);
    let mut chosen: Vec<&FieldChoice> = fields.iter().filter(|f| f.exposed).collect();
    chosen.sort_by_key(|f| (f.position, f.index));
    let names: Vec<String> = chosen.iter().map(|f| f.name.clone()).collect();
    let all_in_order = names.len() == columns.len() && names.iter().zip(&columns).all(|(n, c)| *n == c.name);
    let number = |k: &str| get(k).trim().parse::<i64>().unwrap_or(0);
    let input = CollectionInput {
        name: get("name"),
        description: get("description"),
        dataset_id: Some(d.id),
        fields: if all_in_order { None } else { Some(names) },
        order: Some(get("order")),
        default_limit: number("default_limit"),
        max_limit: number("max_limit"),
    };
    match manage::save_collection(&state, &user.actor, Some(c.id), &input).await {
        Ok(saved) => {
            Flash::push_about(&user.session, "success", "Saved the collection", Some(saved.name.clone()));
            Ok(see_other(&urls::collection(saved.id)))
        }
        Err(Refusal::Fields(refused)) => {
            let errors = FieldErrors::from(refused);
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            if let Some(back) = crate::web::retry::back_to(&req, &urls::collection(c.id), &pairs, &errors) {
                return Ok(back);
            }
            let values =
                (get("name"), get("description"), fields, get("order"), get("default_limit"), get("max_limit"));
            page(&state, &user, c, d, values, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let (c, _) = find(&state, &user, *id).await?;
    if !form.yes() {
        let served = crate::store::datahub::endpoints_of(&state.db, vec![c.id]).await?;
        let question = if served.is_empty() {
            "Delete this collection? No endpoint serves it.".to_owned()
        } else {
            let paths: Vec<&str> = served.iter().map(|e| e.path.as_str()).collect();
            format!("Delete this collection? The endpoints {} go with it, and their callers get 404.", paths.join(", "))
        };
        return ask(
            &user,
            Confirmation {
                title: "Delete collection",
                question,
                subject: Some(c.name.clone()),
                action: urls::collection_action(c.id, "delete"),
                button: "Delete collection",
                fields: vec![],
                back: urls::collection(c.id),
            },
        );
    }
    manage::delete_collection(&state, &user.actor, &c).await?;
    Flash::push_about(&user.session, "success", "Deleted the collection", Some(c.name.clone()));
    Ok(see_other(urls::COLLECTIONS))
}
