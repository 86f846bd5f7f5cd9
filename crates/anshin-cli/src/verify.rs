//! `anshin incidents --verify`: checks the audit log's hash chain (every entry's hash, no entry
//! missing, the head at the last entry) and says so in one line.
//!
//! Exit codes: 0 intact, 1 broken (the first problem is printed), 2 the file cannot be read as a
//! log (like `anshin incidents`).

use std::path::Path;
use std::process::ExitCode;

use anshin_engine::Store;
use anyhow::Result;

pub fn run(db: &Path) -> Result<ExitCode> {
    let store = match Store::open_read_only(db) {
        Ok(s) => s,
        Err(e) => {
            crate::output::note(&format!("anshin: {e}"));
            return Ok(ExitCode::from(2));
        }
    };
    Ok(match store.verify_chain() {
        Ok(report) if report.ok => {
            crate::output::text(&format!("audit log OK: {} entries, chain intact", report.entries))?;
            if let Some(hash) = &report.last_hash {
                crate::output::text(&format!("head: {hash} (note it elsewhere to anchor the log)"))?;
            }
            ExitCode::SUCCESS
        }
        Ok(report) => {
            let error = report.error.unwrap_or_else(|| "the chain does not verify".into());
            let entries =
                if report.entries == 1 { "1 entry".to_string() } else { format!("{} entries", report.entries) };
            crate::output::text(&format!("audit log BROKEN ({entries}): {error}"))?;
            ExitCode::from(1)
        }
        Err(e) => {
            crate::output::note(&format!("anshin: cannot verify {}: {e}", db.display()));
            ExitCode::from(1)
        }
    })
}
