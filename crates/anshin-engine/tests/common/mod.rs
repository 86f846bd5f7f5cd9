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
