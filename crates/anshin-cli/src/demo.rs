//! `anshin demo`: simulated servers on loopback plus the real engine on the demo fleet file.
//! The engine is not told it is a demo; it reads the fleet file like any other.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

pub async fn run(_db: Option<PathBuf>, _json: bool) -> Result<ExitCode> {
    anyhow::bail!("the demo fleet is not built yet")
}
