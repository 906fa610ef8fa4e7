use super::*;

/// An HTTP client for one source: its origin, its secrets (scrubbed from
/// every message), the operator's policy.
pub struct Outbound {
    pub(super) client: reqwest::Client,
    pub(super) policy: Arc<Policy>,
    pub(super) origin: (String, String, Option<u16>),
    pub(super) secrets: Vec<String>,
}

impl Outbound {
    pub fn new(policy: Arc<Policy>, base: &Url, secrets: Vec<String>) -> Result<Outbound, ConnectorError> {
        let origin = origin_of(base);
        let (p, o) = (policy.clone(), origin.clone());
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(blocked(format!("More than {MAX_REDIRECTS} redirects.")));
            }
            match check_target(&p, &o, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(Arc::new(GuardedResolver { allow_private: policy.allow_private }))
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("keyhub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ConnectorError::config("The HTTP client could not be set up."))?;
        Ok(Outbound { client, policy, origin, secrets })
    }

    /// Whether `url` is on the source's own origin (scheme, host, port).
    pub fn is_source_origin(&self, url: &Url) -> bool {
        origin_of(url) == self.origin
    }

    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// GETs `url` with `headers` and returns its JSON, or a classified error.
    pub async fn get_json(&self, url: &Url, headers: &[(String, String)]) -> Result<Value, ConnectorError> {
        let answer = self.get(url, headers).await?;
        answer.json(self)
    }

    /// GETs `url` with `headers`: a successful answer's headers and body
    /// (read within the size limit), or a classified error with the
    /// provider's own words.
    pub async fn get(&self, url: &Url, headers: &[(String, String)]) -> Result<Answer, ConnectorError> {
        let mut req = self.client.get(url.clone()).header("Accept", "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let answer = self.exchange(req, url).await?;
        if !(200..300).contains(&answer.status) {
            let class = match answer.status {
                401 => ErrorClass::Unauthorized,
                403 => ErrorClass::Forbidden,
                404 | 410 => ErrorClass::NotFound,
                429 => ErrorClass::RateLimited,
                500..=599 => ErrorClass::ServerError,
                _ => ErrorClass::Rejected,
            };
            let retry_after = answer.header("retry-after").and_then(parse_retry_after);
            return Err(ConnectorError {
                class,
                status: Some(answer.status),
                message: format!("The service answered {} to GET {}.", answer.status, self.shown(url)),
                provider_message: provider_message(&answer.body, &self.secrets),
                retry_after: if class == ErrorClass::RateLimited { retry_after } else { None },
            });
        }
        Ok(answer)
    }

    /// POSTs `body` (JSON) to `url` with `headers`: the answer whatever its
    /// status (a webhook delivery records it), or a classified transport error.
    pub async fn post(&self, url: &Url, headers: &[(String, String)], body: Vec<u8>) -> Result<Answer, ConnectorError> {
        let mut req = self.client.post(url.clone()).header("Content-Type", "application/json").body(body);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        self.exchange(req, url).await
    }

    /// Sends `req` to `url` under the policy: the target checked before, the
    /// address connected checked after, the body read within the size limit.
    async fn exchange(&self, req: reqwest::RequestBuilder, url: &Url) -> Result<Answer, ConnectorError> {
        check_target(&self.policy, &self.origin, url)?;
        let mut res = req.send().await.map_err(|e| self.transport(e, url.scheme() == "https"))?;
        // The address actually connected (the resolver already filtered; a
        // second look costs nothing).
        if let Some(addr) = res.remote_addr() {
            if !self.policy.allow_private && !is_public(addr.ip()) {
                return Err(blocked(format!("{} is not a public address.", addr.ip().to_canonical())));
            }
            let own = self.policy.own_port == Some(addr.port()) && addr.ip().to_canonical().is_loopback();
            if own && origin_of(res.url()) != self.origin {
                return Err(blocked("keyhub's own address is not a target here."));
            }
        }
        let status = res.status();
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.policy.max_bytes {
                        return Err(ConnectorError::new(
                            ErrorClass::TooLarge,
                            format!("The answer is larger than {} MB.", self.policy.max_bytes / (1024 * 1024)),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport(e, false)),
            }
        }
        Ok(Answer { url: res.url().clone(), status: status.as_u16(), headers: res.headers().clone(), body })
    }

    /// A URL fit for a message: path only, no query (a key may be in it).
    pub fn shown(&self, url: &Url) -> String {
        scrub(url.path(), &self.secrets)
    }

    /// Classifies a transport failure by walking its causes.
    pub(super) fn transport(&self, e: reqwest::Error, https: bool) -> ConnectorError {
        let mut class = if e.is_timeout() { Some(ErrorClass::Timeout) } else { None };
        let mut detail: Option<String> = None;
        // A TLS handshake with a plain-HTTP port ends in garbage or an early close.
        let mut handshake_broken = false;
        let mut examine = |err: &(dyn std::error::Error + 'static)| -> Option<ConnectorError> {
            if let Some(c) = err.downcast_ref::<ConnectorError>() {
                return Some(c.clone());
            }
            if err.downcast_ref::<BlockedAddress>().is_some() {
                class = Some(ErrorClass::Blocked);
                detail = Some(err.to_string());
            } else if err.downcast_ref::<DnsFailed>().is_some() {
                class = class.or(Some(ErrorClass::DnsFailure));
                detail = Some(err.to_string());
            } else if err.downcast_ref::<rustls::Error>().is_some() {
                class = class.or(Some(ErrorClass::TlsFailure));
                detail = Some(format!("TLS: {err}"));
            } else if let Some(io) = err.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => class = class.or(Some(ErrorClass::ConnectionRefused)),
                    std::io::ErrorKind::TimedOut => class = class.or(Some(ErrorClass::Timeout)),
                    std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::ConnectionReset => handshake_broken = true,
                    _ => {}
                }
            }
            None
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cause {
            if let Some(c) = examine(err) {
                return c;
            }
            // io::Error hides its inner error from `source()`: look inside.
            if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
                if let Some(c) = examine(inner) {
                    return c;
                }
                cause = inner.source();
                continue;
            }
            cause = err.source();
        }
        let is_redirect = e.is_redirect();
        let text = e.without_url().to_string().to_ascii_lowercase();
        let class = class.unwrap_or(
            if text.contains("tls")
                || text.contains("certificate")
                || text.contains("handshake")
                || (https && handshake_broken)
            {
                ErrorClass::TlsFailure
            } else if is_redirect {
                ErrorClass::Blocked
            } else {
                ErrorClass::ConnectionRefused
            },
        );
        let message = match class {
            ErrorClass::Timeout => format!("No answer within {} seconds.", self.policy.timeout.as_secs()),
            _ => detail.map(|d| scrub(&d, &self.secrets)).unwrap_or_else(|| class.title().to_owned()),
        };
        ConnectorError::new(class, message)
    }
}

/// An answer: where it came from (after redirects), its status, headers and
/// body (`get` returns only successful ones).
pub struct Answer {
    pub url: Url,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, or `not_json` with its start as the provider's words.
    pub fn json(&self, client: &Outbound) -> Result<Value, ConnectorError> {
        self.json_from(client, &self.body)
    }

    /// `body` (this answer's, perhaps rewritten) as JSON.
    pub fn json_from(&self, client: &Outbound, body: &[u8]) -> Result<Value, ConnectorError> {
        serde_json::from_slice(body).map_err(|_| ConnectorError {
            class: ErrorClass::NotJson,
            status: Some(self.status),
            message: format!("GET {} did not answer JSON.", client.shown(&self.url)),
            provider_message: provider_message(&self.body[..self.body.len().min(300)], &client.secrets),
            retry_after: None,
        })
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `Retry-After` as seconds (a number, or an HTTP date from now).
pub(super) fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    v.parse::<u64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc2822(v)
            .ok()
            .map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().max(0) as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a} is public");
        }
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::7f00:1",
            "::10.0.0.1",
            "::169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a} is not public");
        }
    }

    #[test]
    fn odd_spellings_are_normalised_then_refused() {
        let policy = Policy::default();
        let origin = ("http".to_owned(), "example.com".to_owned(), Some(80));
        for raw in [
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:0:127.0.0.1]/",
        ] {
            let url = parse_url(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let err = check_target(&policy, &origin, &url).expect_err(raw);
            assert_eq!(err.class, ErrorClass::Blocked, "{raw}");
        }
        for raw in [
            "javascript:alert(1)",
            "data:text/plain,x",
            "file:///etc/passwd",
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://a@example.com/",
            "example.com",
        ] {
            assert!(parse_url(raw).is_err(), "{raw} refused");
        }
        assert!(check_target(&policy, &origin, &parse_url("https://example.com/x").unwrap()).is_ok());
    }

    #[test]
    fn ports_of_other_protocols_are_refused_whatever_the_host() {
        let open = Policy { allow_private: true, ..Policy::default() };
        let origin = ("http".to_owned(), "example.com".to_owned(), Some(80));
        for raw in [
            "http://example.com:22/",
            "https://example.com:25/",
            "http://127.0.0.1:6379/",
            "http://[::1]:5432/",
            "http://example.com:0/",
        ] {
            let err = parse_url(raw).expect_err(raw);
            assert_eq!(err.class, ErrorClass::Blocked, "{raw}");
            assert!(err.message.starts_with("Port "), "{raw}: {}", err.message);
            // A redirect there is refused too (the URL parsed by hand, as a redirect arrives).
            let url = Url::parse(raw).unwrap();
            assert_eq!(check_target(&open, &origin, &url).unwrap_err().class, ErrorClass::Blocked, "{raw}");
        }
        for raw in ["http://example.com/", "https://example.com/", "http://example.com:8080/", "http://127.0.0.1:8001/"]
        {
            let url = parse_url(raw).unwrap();
            assert!(check_target(&open, &origin, &url).is_ok(), "{raw}");
        }
    }

    #[test]
    fn own_listener_only_as_the_configured_source() {
        let policy = Policy { allow_private: true, own_port: Some(8080), ..Policy::default() };
        let other = ("http".to_owned(), "127.0.0.1".to_owned(), Some(9000));
        let own = ("http".to_owned(), "127.0.0.1".to_owned(), Some(8080));
        let url = parse_url("http://127.0.0.1:8080/api/v1/me").unwrap();
        assert_eq!(check_target(&policy, &other, &url).unwrap_err().class, ErrorClass::Blocked);
        assert!(check_target(&policy, &own, &url).is_ok());
        assert!(
            check_target(&policy, &other, &parse_url("http://127.0.0.1:9000/").unwrap()).is_ok(),
            "allowed private"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
