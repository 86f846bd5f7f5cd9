//! Reading a fleet file from disk: the one place that turns a path into a validated `Fleet`
//! with its SSH paths made absolute (relative to the file's folder).
//! Must not know: how diagnostics are shown (the CLI prints them, the desktop too).

use std::path::Path;

use anshin_core::fleet::{self, ParsedFleet};

/// Reads, validates and resolves a fleet file. On failure, the lines to show the operator:
/// `FILE:LINE:COL: message` per problem, or why the file cannot be read.
pub fn load(path: &Path) -> Result<ParsedFleet, Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: cannot read the fleet file: {e}")])?;
    let mut parsed =
        fleet::parse(&text, &name).map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parsed.fleet.resolve_paths(&std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()));
    Ok(parsed)
}
