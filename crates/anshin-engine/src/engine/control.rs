//! The engine's local control socket: `STORE.sock` beside the store (a Unix socket, mode 0600),
//! through which `anshin backup` and `anshin restore` ask a running engine on the same store to
//! act (contract §7: the same action path as the consoles'), instead of running a second,
//! uncoordinated job beside the engine's own.
//!
//! One JSON line each way: `{"by": NAME, "action": ActionRequest}` →
//! `{"ok": ActionDone}` or `{"error": {"code", "message"}}`. Who may ask: the socket's mode (the
//! engine's user) and the peer's uid (the engine's own or root), checked on every connection.
//! Every connection has a deadline and a size cap; nothing on the socket can delay the decider
//! beyond an ordinary console action.
//!
//! Owns: the socket's path, its lifetime (a stale file from a killed engine is replaced; a live
//! one of another engine is left alone), the line protocol, the client side (`ask`).
//! Must not know: what the actions do (the decider), HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::Console;
use crate::action::{ActionDone, ActionRequest};

/// The longest request line read.
const MAX_LINE: u64 = 64 * 1024;
/// A connection's whole exchange: the request line, the decider's answer, the reply.
const DEADLINE: Duration = Duration::from_secs(30);

/// `STORE.sock` for the store at `db` (`/var/lib/anshin/log.db` → `/var/lib/anshin/log.db.sock`).
pub fn socket_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".sock");
    PathBuf::from(name)
}

#[derive(Debug, Serialize, Deserialize)]
struct Ask {
    by: String,
    action: ActionRequest,
}

/// The engine's answer, as the client reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// What the engine did (`ActionDone` as JSON).
    Ok(serde_json::Value),
    Error {
        code: String,
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// No engine listens on this store (no socket, or a stale one).
    #[error("no engine runs on this store")]
    NoEngine,
    #[error("the engine's control socket {}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
}

/// Listens on `path` until shutdown. A socket file there that nobody answers (left by a killed
/// engine) is replaced; one that answers belongs to another engine on the same store: left
/// alone, with a warning, and this engine has no control socket.
pub async fn serve(path: PathBuf, console: Console, mut shutdown: watch::Receiver<bool>) {
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            tracing::warn!(socket = %path.display(), "another engine answers on this store's control socket: this one has none");
            return;
        }
        let _ = std::fs::remove_file(&path);
    }
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(socket = %path.display(), error = %e, "the control socket cannot be made: `anshin backup`/`restore` will run on their own");
            return;
        }
    };
    // Only the engine's user may connect (the peer's uid is checked on each connection too).
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    // The socket is the engine's own file: its owner is the engine's user.
    let me = std::fs::metadata(&path).map(|m| m.uid()).unwrap_or(0);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let console = console.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(DEADLINE, answer(stream, console, me)).await;
        });
    }
    let _ = std::fs::remove_file(&path);
}

async fn answer(stream: UnixStream, console: Console, me: u32) -> std::io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    let reply = if uid != me && uid != 0 {
        Answer::Error { code: "forbidden".into(), message: format!("uid {uid} may not act through this engine") }
    } else {
        let mut line = String::new();
        BufReader::new(read.take(MAX_LINE)).read_line(&mut line).await?;
        match serde_json::from_str::<Ask>(&line) {
            Err(e) => Answer::Error { code: "invalid".into(), message: format!("not a request: {e}") },
            Ok(ask) => {
                let by = if ask.by.trim().is_empty() { format!("uid {uid}") } else { ask.by };
                match console.act(ask.action, &by).await {
                    Ok(done) => Answer::Ok(serde_json::to_value::<&ActionDone>(&done).unwrap_or_default()),
                    Err(e) => Answer::Error { code: e.code().into(), message: e.to_string() },
                }
            }
        }
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// Asks the engine running on the store at `db` to act for `by`. [`AskError::NoEngine`] when
/// none runs there (the caller then acts itself).
pub async fn ask(db: &Path, by: &str, action: ActionRequest) -> Result<Answer, AskError> {
    let path = socket_path(db);
    let io = |e: std::io::Error| AskError::Io { path: path.clone(), detail: e.to_string() };
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Err(AskError::NoEngine)
        }
        Err(e) => return Err(io(e)),
    };
    let exchange = async {
        let (read, mut write) = stream.into_split();
        let mut text = serde_json::to_string(&Ask { by: by.to_string(), action }).map_err(std::io::Error::other)?;
        text.push('\n');
        write.write_all(text.as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(read.take(MAX_LINE)).read_line(&mut line).await?;
        serde_json::from_str::<Answer>(&line).map_err(std::io::Error::other)
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Ok(answer) => answer.map_err(io),
        Err(_) => Err(io(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 30 s"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_sits_beside_the_store() {
        assert_eq!(socket_path(Path::new("/var/lib/anshin/log.db")), Path::new("/var/lib/anshin/log.db.sock"));
        assert_eq!(socket_path(Path::new("log.db")), Path::new("log.db.sock"));
    }

    #[test]
    fn answers_read_back() {
        let ok = Answer::Ok(serde_json::json!({"host": "web01"}));
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(text, r#"{"ok":{"host":"web01"}}"#);
        assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), ok);
        let err = Answer::Error { code: "not_included".into(), message: "x".into() };
        let text = serde_json::to_string(&err).unwrap();
        assert_eq!(text, r#"{"error":{"code":"not_included","message":"x"}}"#);
    }
}
