//! `Data Hub → API Keys`: the key table and the key editor. Thin handlers
//! over `hub::keys`; the same checks and messages as the JSON API.
//!
//! Secrets are never part of a GET: an API key's secret is shown only in
//! the answer to a POST (show, regenerate), marked `no-store`, and the
//! editor opts out of htmx's history cache.
use crate::web::params::Params;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::hub_verifier::{SyncStatus, sync_status};
use crate::auth::{CurrentUser, Member, perm};
use crate::domain::header_template::HeaderRow;
use crate::domain::hub_keys::{AccessType, EXPIRING_WITHIN_DAYS_HUB, identifier};
use crate::entities::hub_keys;
use crate::hub::keys::{self as manage, ExpiryInput, IpRow, KeyInput};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::views::{Pager, SortHeader, fmt_time, query_base};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other};

mod table;
pub use table::*;
mod form;
pub use form::*;
mod editor;
pub use editor::*;
mod secret;
pub use secret::*;

pub const KEYS: &str = crate::web::urls::HUB_KEYS;
