//! Helpers the engine's integration tests share: real loopback peers.
#![allow(dead_code)]

pub mod sshd_fleet;

/// A loopback listener that greets every connection with `text` (and hangs up); returns its port.
pub async fn greeter(text: &'static [u8]) -> u16 {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(text).await;
            });
        }
    });
    port
}

/// A clock a test moves (the engine reads it for every decision).
pub struct TestClock(pub std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl anshin_engine::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub fn set(&self, t: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().unwrap() = t;
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// The next event `pick` accepts, within `secs` seconds.
pub async fn next<T>(
    events: &mut tokio::sync::broadcast::Receiver<anshin_engine::EngineEvent>,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&anshin_engine::EngineEvent) -> Option<T>,
) -> T {
    use tokio::sync::broadcast::error::RecvError;
    let found = tokio::time::timeout(std::time::Duration::from_secs(secs), async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended waiting for {what}: {e}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} within {secs} s"))
}

/// Polls `probe` every 100 ms until it returns something, for at most `secs` seconds (then
/// fails naming `what`).
pub async fn wait_until<T>(secs: u64, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(t) = probe() {
            return t;
        }
        assert!(tokio::time::Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
