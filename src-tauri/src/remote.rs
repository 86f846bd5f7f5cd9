//! The remote backend: this window is a console of an `anshin serve` elsewhere
//! (`--connect URL --token T`). The feed comes over its WebSocket, requests over HTTPS (or HTTP
//! on loopback); the window sees the same messages as with an embedded engine.
//!
//! Owns: the connection, its reconnection (backoff 1 s → 10 s, spread ±50 %, forever) and the `connection`
//! messages that tell the window whether what it shows is live.
//! Must not: decide anything; it relays.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, Utc};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A GET without parameters.
pub const NO_QUERY: &[(&str, &str)] = &[];
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Three missed heartbeats (the feed sends one at least every 5 s).
const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// A console of a remote engine.
pub struct Remote {
    base: reqwest::Url,
    token: String,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// Trust: the system's roots, plus a private CA file (a NOC's own certificate) when given.
fn tls_config(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = ca {
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("{}: cannot read the CA certificate", ca.display()))?
        {
            roots.add(cert.with_context(|| format!("{}: not a PEM certificate", ca.display()))?)?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Remote {
    /// Checks the URL and the token (one request to `whoami`) before the window opens, so a
    /// typo is an error message, not an empty window.
    pub async fn connect(url: &str, token: String, ca: Option<&std::path::Path>) -> Result<(Remote, String)> {
        let base = reqwest::Url::parse(url).with_context(|| format!("--connect {url}: not a URL"))?;
        match base.scheme() {
            "https" => {}
            "http" if base.host_str().is_some_and(is_loopback_host) => {}
            "http" => bail!("--connect {url}: plain http only to this machine (127.0.0.1); use https"),
            other => bail!("--connect {url}: unsupported scheme {other}: use https://HOST:PORT"),
        }
        let tls = tls_config(ca)?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tls_backend_preconfigured(tls.clone())
            .build()
            .context("cannot set up the HTTP client")?;
        let remote = Remote { base, token, http, tls: Arc::new(tls) };
        let who: Value = remote.get("api/v1/whoami", NO_QUERY).await?;
        let role = who.get("role").and_then(Value::as_str).unwrap_or("viewer").to_string();
        Ok((remote, role))
    }

    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// GET an API route as JSON; a 401 says the token is wrong.
    pub async fn get<T: serde::de::DeserializeOwned, Q: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T> {
        let (url, text) = self.get_text(path, query).await?;
        serde_json::from_str(&text).with_context(|| format!("{url}: unexpected answer"))
    }

    /// GET an API route's body as text (a report preview is HTML), with the URL asked.
    pub async fn get_text<Q: serde::Serialize + ?Sized>(&self, path: &str, query: &Q) -> Result<(String, String)> {
        let url = self.base.join(path)?;
        let resp = self
            .http
            .get(url.clone())
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match status {
            s if s.is_success() => Ok((url.to_string(), text)),
            reqwest::StatusCode::UNAUTHORIZED => bail!("{url}: the token was refused (401): check --token"),
            s => bail!("{url}: {s}: {text}"),
        }
    }

    /// POST to an action route; the engine's refusal (403 viewer, 409 taken) comes back as text.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = self.base.join(path)?;
        let resp = self
            .http
            .post(url.clone())
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or_default();
        if status.is_success() {
            return Ok(answer);
        }
        let message = answer.get("message").and_then(Value::as_str).unwrap_or("refused");
        bail!("{status}: {message}")
    }

    /// POST an action; a refusal comes back as the engine's `{code, message}` (and `recovery`
    /// for `busy`), so the window can react to the code as with the embedded engine.
    pub async fn act(&self, path: &str, body: &Value) -> std::result::Result<Value, Value> {
        self.send("POST", path, Some(body)).await
    }

    /// Any request with a JSON answer (`GET`, `POST`, `PUT`, `DELETE`); a refusal comes back
    /// as the engine's `{code, message}`.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> std::result::Result<Value, Value> {
        let url = self.base.join(path).map_err(|e| json!({"code": "invalid", "message": e.to_string()}))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| json!({"code": "invalid", "message": e.to_string()}))?;
        let mut request = self.http.request(method, url.clone()).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| json!({"code": "unreachable", "message": format!("cannot reach {url}: {e}")}))?;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or_default();
        if status.is_success() {
            return Ok(answer);
        }
        match answer.get("code") {
            Some(_) => Err(answer),
            None => Err(json!({"code": "refused", "message": format!("{url}: {status}")})),
        }
    }

    /// Relays the remote feed (and `connection` messages) until shutdown, reconnecting forever.
    pub fn spawn_feed(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        tokio::spawn(async move {
            let mut backoff = BACKOFF_FIRST;
            let mut down_since = now();
            loop {
                let session = tokio::select! {
                    r = me.run_session(&tx, &mut backoff) => r,
                    _ = shutdown.changed() => return,
                };
                if tx.is_closed() {
                    return;
                }
                let message = match session {
                    Ok(()) => "the engine closed the connection".to_string(),
                    Err(e) => format!("{e:#}"),
                };
                tracing::warn!(%message, "remote engine disconnected");
                if backoff == BACKOFF_FIRST {
                    down_since = now();
                }
                let _ = tx
                    .send(json!({"type": "connection", "connected": false, "since": down_since, "message": message}))
                    .await;
                tokio::select! {
                    _ = tokio::time::sleep(jittered(backoff)) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        });
        rx
    }

    async fn run_session(&self, tx: &mpsc::Sender<Value>, backoff: &mut Duration) -> Result<()> {
        let mut url = self.base.join("api/v1/events")?;
        url.set_scheme(if self.base.scheme() == "https" { "wss" } else { "ws" }).ok();
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert("Authorization", HeaderValue::from_str(&format!("Bearer {}", self.token))?);
        let connector = if url.scheme() == "wss" { Connector::Rustls(self.tls.clone()) } else { Connector::Plain };
        let (mut ws, _) = tokio::time::timeout(
            REQUEST_TIMEOUT,
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector)),
        )
        .await
        .context("connecting timed out")?
        .context("cannot open the event stream")?;
        *backoff = BACKOFF_FIRST;
        let _ = tx.send(json!({"type": "connection", "connected": true, "since": now(), "message": ""})).await;
        loop {
            // The engine speaks at least every few seconds (heartbeat deltas): silence means a
            // frozen engine or a dead link, which must not look live.
            let frame = match tokio::time::timeout(SILENCE_LIMIT, ws.next()).await {
                Err(_) => bail!("no message from the engine for {} s", SILENCE_LIMIT.as_secs()),
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => frame,
            };
            match frame.context("the event stream broke")? {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).context("the engine sent something unreadable")?;
                    if tx.send(value).await.is_err() {
                        return Ok(());
                    }
                }
                Message::Close(_) => return Ok(()),
                _ => {}
            }
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A reconnection wait spread by ±50 % at random, so that every console losing the engine at
/// once (an engine restart) does not come back in the same instant.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(0.5 + rand::random::<f64>())
}
