//! A real Directus (the headless CMS, installed from npm by `scripts/test.sh`
//! under `target/directus`) on 127.0.0.1, on a PostgreSQL database of its
//! own: the third-party REST service the OpenAPI connector is tested against.
//! It publishes its OpenAPI 3 document at `/server/specs/oas` and takes a
//! static token per user.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use super::free_port;

pub struct Directus {
    pub base: String,
    /// The admin's static token.
    pub token: String,
    child: Child,
    database: String,
    server: String,
}

impl Drop for Directus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin() -> PathBuf {
    let dir = std::env::var("KEYHUB_TEST_DIRECTUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/directus"));
    dir.join("node_modules/.bin/directus")
}

/// The PostgreSQL server Directus keeps its data in (the one the PostgreSQL
/// runs test against; the same on SQLite runs, `scripts/test.sh` starts it).
fn server() -> String {
    std::env::var("KEYHUB_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl Directus {
    /// Bootstraps a fresh Directus, starts it, and gives the admin a static token.
    pub async fn start() -> Directus {
        keyhub::connectors::init_tls();
        let server = server();
        let database = format!("keyhub_test_directus_{}", keyhub::domain::tokens::random_token(10).to_lowercase());
        super::create_database(&server, &database).await;
        let url = url::Url::parse(&server).expect("a PostgreSQL URL");
        let port = free_port();
        let password = "directus-admin-password";
        let env: Vec<(&str, String)> = vec![
            ("HOST", "127.0.0.1".into()),
            ("PORT", port.to_string()),
            ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            ("DB_CLIENT", "pg".into()),
            ("DB_HOST", url.host_str().unwrap_or("127.0.0.1").into()),
            ("DB_PORT", url.port().unwrap_or(5432).to_string()),
            ("DB_DATABASE", database.clone()),
            ("DB_USER", if url.username().is_empty() { "postgres".into() } else { url.username().into() }),
            ("DB_PASSWORD", url.password().unwrap_or("").into()),
            ("KEY", "keyhub-test-directus-key".into()),
            ("SECRET", "keyhub-test-directus-secret-0123456789".into()),
            ("ADMIN_EMAIL", "admin@example.com".into()),
            ("ADMIN_PASSWORD", password.into()),
            ("TELEMETRY", "false".into()),
            ("LOG_LEVEL", "info".into()),
            ("LOG_STYLE", "raw".into()),
            ("CACHE_ENABLED", "false".into()),
            ("RATE_LIMITER_ENABLED", "false".into()),
        ];
        let run = |args: &[&str]| {
            let mut c = Command::new(bin());
            c.args(args).envs(env.iter().map(|(k, v)| (*k, v.as_str())));
            c
        };
        let boot = tokio::task::spawn_blocking({
            let mut c = run(&["bootstrap"]);
            move || c.output()
        })
        .await
        .unwrap()
        .expect("target/directus (scripts/test.sh installs it)");
        assert!(boot.status.success(), "directus bootstrap: {}", String::from_utf8_lossy(&boot.stderr));
        let mut child = run(&["start"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start directus");
        let _said = crate::helpers::until_says(child.stdout.take().unwrap(), "Server started at", "directus").await;
        let base = format!("http://127.0.0.1:{port}");
        let mut dx = Directus { base, token: String::new(), child, database, server };
        let login = dx
            .call(reqwest::Method::POST, "/auth/login", "", json!({"email": "admin@example.com", "password": password}))
            .await;
        let access = login["data"]["access_token"].as_str().unwrap_or_else(|| panic!("{login}")).to_owned();
        let token = format!("dx-static-{}", keyhub::domain::tokens::random_token(24));
        dx.call(reqwest::Method::PATCH, "/users/me", &access, json!({"token": token})).await;
        dx.token = token;
        dx
    }

    /// Calls Directus's own API as `bearer` (the admin's token when empty)
    /// and returns the JSON answer; fails the test on an error status.
    pub async fn call(&self, method: reqwest::Method, path: &str, bearer: &str, body: Value) -> Value {
        let bearer = if bearer.is_empty() { self.token.as_str() } else { bearer };
        let mut req = reqwest::Client::new().request(method.clone(), format!("{}{path}", self.base));
        if !bearer.is_empty() {
            req = req.bearer_auth(bearer);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("Directus answers");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A `products` collection (integer key, name, a decimal price and an
    /// auto-updated `date_updated`) holding `rows` items, made through the API.
    pub async fn products(&self, rows: usize) {
        self.call(
            reqwest::Method::POST,
            "/collections",
            "",
            json!({"collection": "products", "meta": {}, "schema": {}, "fields": [
                {"field": "id", "type": "integer", "meta": {"hidden": true}, "schema": {"is_primary_key": true, "has_auto_increment": true}},
                {"field": "name", "type": "string"},
                {"field": "price", "type": "decimal", "schema": {"numeric_precision": 10, "numeric_scale": 2}},
                {"field": "date_updated", "type": "timestamp", "meta": {"special": ["date-created", "date-updated"]}}
            ]}),
        )
        .await;
        for chunk in (1..=rows).collect::<Vec<_>>().chunks(500) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|i| json!({"name": format!("product {i}"), "price": format!("{}.{:02}", i % 1000, i % 100)}))
                .collect();
            self.call(reqwest::Method::POST, "/items/products", "", Value::Array(items)).await;
        }
    }

    /// A user who may read `products` and nothing else, with a static
    /// token: its token and the id of the permission that lets it read.
    pub async fn reader(&self) -> (String, i64) {
        let policy = self
            .call(
                reqwest::Method::POST,
                "/policies",
                "",
                json!({"name": "readers", "app_access": false, "admin_access": false}),
            )
            .await;
        let policy = policy["data"]["id"].as_str().unwrap_or_else(|| panic!("{policy}")).to_owned();
        let permission = self
            .call(
                reqwest::Method::POST,
                "/permissions",
                "",
                json!({"policy": policy, "collection": "products", "action": "read", "fields": ["*"]}),
            )
            .await;
        let permission = permission["data"]["id"].as_i64().unwrap_or_else(|| panic!("{permission}"));
        let token = format!("dx-reader-{}", keyhub::domain::tokens::random_token(24));
        self.call(
            reqwest::Method::POST,
            "/users",
            "",
            json!({"email": "reader@example.com", "password": "reader-password-123", "token": token,
                   "policies": {"create": [{"policy": policy}]}}),
        )
        .await;
        (token, permission)
    }

    /// Every product, by id.
    pub async fn all_products(&self) -> Vec<Value> {
        let v = self.call(reqwest::Method::GET, "/items/products?limit=-1&sort=id", "", Value::Null).await;
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// Stops Directus and drops its database.
    pub async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(admin) = Database::connect(&self.server).await {
            let _ =
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database)).await;
            admin.close().await.ok();
        }
    }
}
