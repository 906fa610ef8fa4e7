//! Destructive actions are confirmed, with and without JavaScript. Their forms
//! carry `confirmed=""`; app.js asks in a dialog and sets it to `yes`. A post
//! without `yes` (no JavaScript) gets this confirmation page, whose button —
//! named after the action — posts again with `confirmed=yes`.
use actix_web::HttpResponse;
use askama::Template;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::web::{AppError, Layout, page};

/// The `confirmed` field of a destructive form.
#[derive(Deserialize, Default)]
pub struct Confirmed {
    #[serde(default)]
    pub confirmed: String,
}

impl Confirmed {
    pub fn yes(&self) -> bool {
        self.confirmed == "yes"
    }
}

pub struct Confirmation<'a> {
    pub title: &'a str,
    pub question: String,
    /// The thing acted on, shown isolated after the question.
    pub subject: Option<String>,
    pub action: String,
    /// Names the action: "Revoke key", "Remove member".
    pub button: &'a str,
    /// Other fields of the original form to post again.
    pub fields: Vec<(&'a str, String)>,
    pub back: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    layout: Layout,
    c: Confirmation<'a>,
}

pub fn ask(user: &CurrentUser, c: Confirmation<'_>) -> Result<HttpResponse, AppError> {
    page(&ConfirmPage { layout: Layout::for_user(user, c.title), c })
}
