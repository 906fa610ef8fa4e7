//! `Data Hub → Endpoints`: URLs that serve collections, and who may call them.
use crate::web::params::Params;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::domain::Permission;
use crate::domain::datahub::Access;
use crate::entities::endpoints;
use crate::hub::manage::{self, EndpointInput};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::datahub::collections::DatasetChoice as CollectionChoice;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

pub struct EndpointItem {
    pub id: i64,
    pub path: String,
    pub url: String,
    pub collection: String,
    pub access: Access,
}

pub struct AccessChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

fn access_choices(current: &str) -> Vec<AccessChoice> {
    Access::ALL
        .iter()
        .map(|a| AccessChoice { value: a.as_str(), label: a.label(), checked: a.as_str() == current })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct EndpointForm {
    #[serde(default)]
    path: String,
    #[serde(default)]
    collection_id: String,
    #[serde(default)]
    access: String,
    /// Present when the form showed the key chooser (the endpoint's page).
    #[serde(default)]
    keys_shown: String,
    #[serde(default)]
    hub_key_ids: Vec<String>,
    /// One origin per line.
    #[serde(default)]
    allowed_origins: String,
}

#[derive(Template)]
#[template(path = "datahub/endpoints.html")]
struct ListPage {
    layout: Layout,
    endpoints: Vec<EndpointItem>,
    collections: Vec<CollectionChoice>,
    access: Vec<AccessChoice>,
    base: String,
    can_manage: bool,
    form: EndpointForm,
    errors: FieldErrors,
}

async fn slug(state: &AppState, user: &CurrentUser) -> Result<String, AppError> {
    Ok(crate::store::workspaces::find(&state.db, user.workspace_id()).await?.and_then(|w| w.slug).unwrap_or_default())
}

async fn collection_choices(
    state: &AppState,
    user: &CurrentUser,
    selected: &str,
) -> Result<Vec<CollectionChoice>, AppError> {
    Ok(crate::store::datahub::collections(&state.db, user.workspace_id())
        .await?
        .into_iter()
        .map(|c| CollectionChoice { selected: c.id.to_string() == selected, id: c.id, name: c.name })
        .collect())
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    form: EndpointForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let slug = slug(state, user).await?;
    let collections = crate::store::datahub::collections(&state.db, user.workspace_id()).await?;
    let endpoints = crate::store::datahub::endpoints(&state.db, user.workspace_id())
        .await?
        .into_iter()
        .map(|e| EndpointItem {
            id: e.id,
            url: format!("/hub/{slug}/{}", e.path),
            collection: collections
                .iter()
                .find(|c| c.id == e.collection_id)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            access: *e.access,
            path: e.path,
        })
        .collect();
    let page = ListPage {
        layout: Layout::for_user(user, "Endpoints"),
        endpoints,
        collections: collection_choices(state, user, &form.collection_id).await?,
        access: access_choices(if form.access.is_empty() { "members" } else { &form.access }),
        base: format!("/hub/{slug}/"),
        can_manage: user.can(Permission::HubKeysManage),
        form,
        errors,
    };
    render(status, &page)
}

#[derive(Deserialize)]
pub struct ListQuery {
    collection: Option<i64>,
}

fn retried(r: &crate::web::retry::Retry) -> EndpointForm {
    EndpointForm {
        path: r.value("path"),
        collection_id: r.value("collection_id"),
        access: r.value("access"),
        keys_shown: r.value("keys_shown"),
        hub_key_ids: r.values("hub_key_ids"),
        allowed_origins: r.value("allowed_origins"),
    }
}

fn values(form: &EndpointForm) -> Vec<(&'static str, &str)> {
    let mut v = vec![
        ("path", form.path.as_str()),
        ("collection_id", &form.collection_id),
        ("access", &form.access),
        ("keys_shown", &form.keys_shown),
        ("allowed_origins", &form.allowed_origins),
    ];
    v.extend(form.hub_key_ids.iter().map(|k| ("hub_key_ids", k.as_str())));
    v
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    q: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    if let Some(r) = crate::web::retry::take(&req, urls::ENDPOINTS) {
        return list_page(&state, &user, retried(&r), r.errors, StatusCode::OK).await;
    }
    let form =
        EndpointForm { collection_id: q.collection.map(|c| c.to_string()).unwrap_or_default(), ..Default::default() };
    list_page(&state, &user, form, FieldErrors::default(), StatusCode::OK).await
}

fn input(form: &EndpointForm) -> EndpointInput {
    EndpointInput {
        path: form.path.clone(),
        collection_id: form.collection_id.parse().ok(),
        access: form.access.clone(),
        hub_key_ids: (form.keys_shown == "1").then(|| form.hub_key_ids.iter().filter_map(|k| k.parse().ok()).collect()),
        allowed_origins: vec![form.allowed_origins.clone()],
    }
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    CsrfForm(form): CsrfForm<EndpointForm>,
) -> Result<HttpResponse, AppError> {
    match manage::save_endpoint(&state, &user.actor, None, &input(&form)).await {
        Ok(e) => {
            Flash::push_about(&user.session, "success", "Created the endpoint", Some(e.path.clone()));
            Ok(see_other(&urls::endpoint(e.id)))
        }
        Err(Refusal::Fields(refused)) => {
            let errors = FieldErrors::from(refused);
            if let Some(back) = crate::web::retry::back_to(&req, urls::ENDPOINTS, &values(&form), &errors) {
                return Ok(back);
            }
            list_page(&state, &user, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A ready-to-run call of the endpoint, for the "Calling it" section.
pub struct Example {
    pub id: &'static str,
    pub title: &'static str,
    pub code: String,
}

/// curl, Python (`requests` following the `Link` header; pandas reading the
/// whole CSV) and JavaScript (`fetch`), with the endpoint's full URL. A
/// guarded endpoint's key is read from `KEYHUB_KEY`, never written here.
pub fn examples(full_url: &str, public: bool) -> Vec<Example> {
    let curl_key = if public { "" } else { "-H \"Authorization: Bearer $KEYHUB_KEY\" " };
    let py_import = if public { "import requests" } else { "import os\nimport requests" };
    let py_headers = if public { "{}" } else { "{\"Authorization\": f\"Bearer {os.environ['KEYHUB_KEY']}\"}" };
    let pandas = if public {
        format!(
            "import pandas as pd\n\n# Without a limit, CSV is every record in one file.\ndf = pd.read_csv(\"{full_url}?format=csv\")"
        )
    } else {
        format!(
            "import os\nimport pandas as pd\n\n# Without a limit, CSV is every record in one file.\ndf = pd.read_csv(\n    \"{full_url}?format=csv\",\n    storage_options={{\"Authorization\": f\"Bearer {{os.environ['KEYHUB_KEY']}}\"}},\n)"
        )
    };
    let js_options =
        if public { String::new() } else { ", {\n  headers: { Authorization: `Bearer ${KEYHUB_KEY}` },\n}".to_owned() };
    vec![
        Example { id: "curl", title: "curl", code: format!("curl {curl_key}\"{full_url}?limit=100&offset=0\"") },
        Example {
            id: "python",
            title: "Python (requests): every page",
            code: format!(
                "{py_import}\n\nurl = \"{full_url}?limit=100\"\nheaders = {py_headers}\nrecords = []\nwhile url:\n    r = requests.get(url, headers=headers, timeout=30)\n    r.raise_for_status()\n    records += r.json()[\"data\"]\n    # The Link header names the next page until the last.\n    url = r.links.get(\"next\", {{}}).get(\"url\")"
            ),
        },
        Example { id: "pandas", title: "Python (pandas): the whole collection", code: pandas },
        Example {
            id: "javascript",
            title: "JavaScript (fetch)",
            code: format!(
                "const res = await fetch(\"{full_url}?limit=100\"{js_options});\nif (!res.ok) throw new Error((await res.json()).error.message);\nconst {{ meta, data }} = await res.json();\n// meta.count records in all; res.headers.get(\"Link\") names the next page."
            ),
        },
    ]
}

#[derive(Template)]
#[template(path = "datahub/endpoint.html")]
struct EndpointPage {
    layout: Layout,
    e: endpoints::Model,
    url: String,
    /// The URL with scheme and host (`KEYHUB_PUBLIC_URL`, else this request's).
    full_url: String,
    examples: Vec<Example>,
    base: String,
    public: bool,
    collections: Vec<CollectionChoice>,
    access: Vec<AccessChoice>,
    keys: Vec<crate::web::datahub::keys::Check>,
    can_manage: bool,
    form: EndpointForm,
    errors: FieldErrors,
}

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<endpoints::Model, AppError> {
    crate::store::datahub::endpoint(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

async fn endpoint_page(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    e: endpoints::Model,
    form: EndpointForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let slug = slug(state, user).await?;
    let url = format!("/hub/{slug}/{}", e.path);
    let full_url = format!(
        "{}{url}",
        crate::auth::client_ip::public_base(req, state.settings.public_url.as_deref(), &state.settings.trusted_proxies)
    );
    let page = EndpointPage {
        layout: Layout::for_user(user, &e.path),
        examples: examples(&full_url, *e.access == Access::Public),
        full_url,
        url,
        base: format!("/hub/{slug}/"),
        public: *e.access == Access::Public,
        collections: collection_choices(state, user, &form.collection_id).await?,
        access: access_choices(&form.access),
        keys: crate::store::hub_keys::all_in(&state.db, user.workspace_id())
            .await?
            .into_iter()
            .map(|k| crate::web::datahub::keys::Check {
                checked: form.hub_key_ids.contains(&k.id.to_string()),
                hint: format!("{}, {}", k.access_type.label(), k.status),
                label: k.name,
                id: k.id,
            })
            .collect(),
        can_manage: user.can(Permission::HubKeysManage),
        e,
        form,
        errors,
    };
    render(status, &page)
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    if let Some(r) = crate::web::retry::take(&req, &urls::endpoint(e.id)) {
        return endpoint_page(&req, &state, &user, e, retried(&r), r.errors, StatusCode::OK).await;
    }
    let keys = crate::store::hub_keys::keys_of_endpoint(&state.db, e.id)
        .await?
        .into_iter()
        .map(|k| k.id.to_string())
        .collect();
    let form = EndpointForm {
        path: e.path.clone(),
        collection_id: e.collection_id.to_string(),
        access: e.access.to_string(),
        keys_shown: "1".into(),
        hub_key_ids: keys,
        allowed_origins: e.allowed_origins.clone(),
    };
    endpoint_page(&req, &state, &user, e, form, FieldErrors::default(), StatusCode::OK).await
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<EndpointForm>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    match manage::save_endpoint(&state, &user.actor, Some(e.id), &input(&form)).await {
        Ok(saved) => {
            Flash::push_about(&user.session, "success", "Saved the endpoint", Some(saved.path.clone()));
            Ok(see_other(&urls::endpoint(saved.id)))
        }
        Err(Refusal::Fields(refused)) => {
            let errors = FieldErrors::from(refused);
            if let Some(back) = crate::web::retry::back_to(&req, &urls::endpoint(e.id), &values(&form), &errors) {
                return Ok(back);
            }
            endpoint_page(&req, &state, &user, e, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::HubKeysManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let e = find(&state, &user, *id).await?;
    if !form.yes() {
        return ask(
            &user,
            Confirmation {
                title: "Delete endpoint",
                question: "Delete this endpoint? Its callers get 404 from now on; the collection and its data stay."
                    .into(),
                subject: Some(e.path.clone()),
                action: urls::endpoint_action(e.id, "delete"),
                button: "Delete endpoint",
                fields: vec![],
                back: urls::endpoint(e.id),
            },
        );
    }
    manage::delete_endpoint(&state, &user.actor, &e).await?;
    Flash::push_about(&user.session, "success", "Deleted the endpoint", Some(e.path.clone()));
    Ok(see_other(urls::ENDPOINTS))
}
