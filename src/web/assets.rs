//! Static files compiled into the binary with rust-embed and served under a
//! content hash, so they can be cached for a year and still change on upgrade.
use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use rust_embed::Embed;
use sha2::{Digest, Sha256};

#[derive(Embed)]
#[folder = "static/"]
struct Assets;

/// path → short content hash.
static HASHES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Assets::iter()
        .filter_map(|path| {
            let file = Assets::get(&path)?;
            let hash = hex::encode(&Sha256::digest(&file.data)[..6]);
            Some((path.to_string(), hash))
        })
        .collect()
});

pub fn url(path: &str) -> String {
    match HASHES.get(path) {
        Some(h) => format!("/static/{h}/{path}"),
        None => format!("/static/missing/{path}"),
    }
}

pub struct AssetUrls {
    pub css: String,
    pub primer: String,
    pub js: String,
    pub htmx: String,
    pub favicon: String,
}

static URLS: LazyLock<AssetUrls> = LazyLock::new(|| AssetUrls {
    css: url("app.css"),
    primer: url(PRIMER_PATH),
    js: url("app.js"),
    htmx: url(HTMX_PATH),
    favicon: url("favicon.svg"),
});

pub const HTMX_PATH: &str = "vendor/htmx-2.0.11/htmx.min.js";
/// GitHub's Primer CSS (MIT, licence beside it), pinned; our app.css only
/// arranges the frame and uses Primer's colour and size tokens.
pub const PRIMER_PATH: &str = "vendor/primer-css-21.5.1/primer.css";

/// `GET /favicon.ico`: tools and browsers ask for it before reading the page.
pub async fn favicon() -> HttpResponse {
    HttpResponse::MovedPermanently().insert_header((header::LOCATION, URLS.favicon.clone())).finish()
}

pub fn asset_urls() -> &'static AssetUrls {
    &URLS
}

/// `GET /static/{hash}/{path}`. A stale hash still gets the file, but without
/// the long cache lifetime, so an old page never pins a wrong version.
pub async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (hash, file) = path.into_inner();
    let Some(content) = Assets::get(&file) else {
        return HttpResponse::NotFound().finish();
    };
    let cache = if HASHES.get(&file) == Some(&hash) { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime.essence_str().to_owned()))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(content.data.into_owned())
}
