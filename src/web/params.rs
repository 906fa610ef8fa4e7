//! `Params<T>`: the query string of a page or an API call, read into `T`.
//!
//! Used in place of actix's `web::Query` so that a wrong value is refused the
//! same way everywhere: the parameter is named (found with
//! `serde_path_to_error`), and the refusal is the front end's own — a 400
//! `invalid_query` JSON error under `/api` and `/hub`, a 400 page otherwise.
//! Numbers in `T` are `domain::query::Bounded` types, so nothing a client
//! types can overflow later.
use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::de::DeserializeOwned;

use crate::domain::query::QueryError;

pub struct Params<T>(pub T);

impl<T> Params<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Params<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Reads a query string into `T`, naming the parameter at fault.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, QueryError> {
    let de = serde_html_form::Deserializer::from_bytes(query.as_bytes());
    serde_path_to_error::deserialize(de).map_err(|e| {
        let parameter = e.path().to_string();
        let parameter = if parameter == "." || parameter.is_empty() { "query".to_owned() } else { parameter };
        let inner = e.into_inner().to_string();
        let message = if inner.starts_with("must be") {
            format!("{parameter} {inner}")
        } else {
            format!("{parameter}: {inner}.")
        };
        QueryError { parameter, message }
    })
}

/// The refusal of a query, in the format of the front end that was asked.
pub fn refusal(req: &HttpRequest, e: QueryError) -> actix_web::Error {
    let path = req.path();
    if path.starts_with("/api/") || path.starts_with("/hub/") {
        crate::api::ApiError::InvalidQuery { parameter: e.parameter, message: e.message }.into()
    } else {
        crate::web::errors::AppError::InvalidQuery(e.message).into()
    }
}

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req.query_string()).map(Params).map_err(|e| refusal(req, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::query::{Offset, Page};

    #[derive(serde::Deserialize, Debug)]
    struct Q {
        #[serde(default)]
        q: String,
        page: Option<Page>,
        offset: Option<Offset>,
    }

    #[test]
    fn a_wrong_number_is_refused_by_name() {
        let q: Q = parse("q=x&page=3").unwrap();
        assert_eq!((q.q.as_str(), q.page.map(Page::get), q.offset), ("x", Some(3), None));
        let e = parse::<Q>("q=x&page=18446744073709551615").unwrap_err();
        assert_eq!(e.parameter, "page");
        assert_eq!(e.message, "page must be a whole number from 1 to 1,000,000,000.");
        let e = parse::<Q>("offset=9223372036854775808").unwrap_err();
        assert_eq!(
            (e.parameter.as_str(), e.message.as_str()),
            ("offset", "offset must be a whole number from 0 to 1,000,000,000,000.")
        );
    }
}
