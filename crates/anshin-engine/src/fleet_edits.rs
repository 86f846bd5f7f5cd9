//! A console's edit of the fleet file (issue 13, contract §9.1): the revision it was made against
//! checked, who may make it (a plan or a contract, and so adding or removing a customer: an
//! admin), the text edited by `anshin_core::fleet_edit` (comments and layout kept, the file's own
//! validation and messages), written atomically beside the file (its permissions and owner
//! kept), then applied by a reload (`Console::reload_fleet`): its `fleet_reloaded` audit entry names
//! the editor and what changed. One edit at a time; a reload the engine refuses puts the file back.
//!
//! Owns: that sequence, its refusals and their codes, and the route of an edit on the console API
//! (`route`, also what the desktop shell sends a remote engine).
//! Must not know: transports (the API and the desktop shell call this), how consoles draw.

use std::io::Write;
use std::path::{Path, PathBuf};

use anshin_core::fleet_edit::{self, EditError, FleetEdit, FleetEditRequest, FleetEdited, FleetSource};
use serde_json::{json, Value};

use crate::engine::{Console, ReloadError};

/// Edits are made one at a time: the second waits, then finds the revision moved (`stale`).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why an edit was not made (nothing changed, in the file or in the engine).
#[derive(Debug, thiserror::Error)]
pub enum EditRefusal {
    #[error("this engine was not started from a fleet file: there is nothing to edit")]
    NoFile,
    /// The file is not the one the edit was made against.
    #[error("the fleet file changed since it was read (the edit was made against revision {0}): read it again and repeat the edit")]
    Stale(String),
    #[error("{0}")]
    Forbidden(String),
    /// The edit itself: not found, invalid (the parser's `FILE:LINE:COL` lines), …
    #[error("{0}")]
    Edit(EditError),
    #[error("{0}")]
    Io(String),
    /// Written and valid, but the engine did not take it (the file was put back).
    #[error("{0}")]
    Reload(ReloadError),
}

impl EditRefusal {
    /// The code consoles react to: `stale`, `forbidden`, `invalid`, `not_found`, `has_servers`, …
    pub fn code(&self) -> &'static str {
        match self {
            EditRefusal::NoFile => "no_file",
            EditRefusal::Stale(_) => "stale",
            EditRefusal::Forbidden(_) => "forbidden",
            EditRefusal::Edit(e) => e.code(),
            EditRefusal::Io(_) => "io",
            EditRefusal::Reload(ReloadError::Invalid(_)) => "invalid",
            EditRefusal::Reload(ReloadError::Stopped) => "stopped",
            EditRefusal::Reload(_) => "refused",
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            EditRefusal::Stale(_) | EditRefusal::NoFile => 409,
            EditRefusal::Forbidden(_) => 403,
            EditRefusal::Edit(EditError::UnknownCustomer(_) | EditError::UnknownServer(_)) => 404,
            EditRefusal::Edit(EditError::CustomerHasServers { .. }) => 409,
            EditRefusal::Edit(_) => 400,
            EditRefusal::Io(_) => 500,
            EditRefusal::Reload(ReloadError::Invalid(_)) => 400,
            EditRefusal::Reload(ReloadError::Stopped) => 503,
            EditRefusal::Reload(_) => 409,
        }
    }

    /// `{code, message}`, as every console API refusal.
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code(), "message": self.to_string() })
    }
}

/// What a non-admin is told when an edit touches a contract.
pub const NEEDS_ADMIN: &str = "a customer's plan and contract (and adding or removing a customer) are changed with an admin token (tokens file: \"admin TOKEN NAME\")";

/// The fleet file's customers and servers as consoles edit them, with its revision.
pub async fn source(console: &Console) -> Result<FleetSource, EditRefusal> {
    let path = console.fleet_path().ok_or(EditRefusal::NoFile)?;
    let (text, file) = read(path).await?;
    fleet_edit::source(&text, &file).map_err(EditRefusal::Edit)
}

/// Makes `request`'s edit for `name` (an admin when `admin`): the file's new revision and what the
/// reload changed, or why nothing changed.
pub async fn edit(
    console: &Console,
    request: &FleetEditRequest,
    name: &str,
    admin: bool,
) -> Result<FleetEdited, EditRefusal> {
    let path = console.fleet_path().ok_or(EditRefusal::NoFile)?;
    let _one = ONE_AT_A_TIME.lock().await;
    let (text, file) = read(path.clone()).await?;
    if fleet_edit::revision(&text) != request.revision {
        return Err(EditRefusal::Stale(request.revision.clone()));
    }
    if !admin && touches_contract(&text, &file, &request.edit) {
        return Err(EditRefusal::Forbidden(NEEDS_ADMIN.to_string()));
    }
    let edited = fleet_edit::apply(&text, &file, &request.edit).map_err(EditRefusal::Edit)?;
    write(path.clone(), edited.clone()).await?;
    tracing::info!(by = name, edit = %request.edit.describe(), "fleet file edited from a console");
    match console.reload_fleet(name).await {
        Ok(summary) => Ok(FleetEdited { revision: fleet_edit::revision(&edited), summary }),
        Err(e) => {
            // The engine runs the fleet it had: so does the file again.
            if let Err(back) = write(path, text).await {
                tracing::error!(error = %back, "the fleet file could not be put back after a refused reload");
            }
            Err(EditRefusal::Reload(e))
        }
    }
}

/// Whether the edit changes a plan or a contract: adding or removing a customer does, and a
/// change whose plan or term differs from the file's.
fn touches_contract(text: &str, file: &str, edit: &FleetEdit) -> bool {
    match edit {
        FleetEdit::AddCustomer { .. } | FleetEdit::RemoveCustomer { .. } => true,
        FleetEdit::ChangeCustomer { id, customer } => {
            let before =
                fleet_edit::source(text, file).ok().and_then(|s| s.customers.into_iter().find(|c| c.id == *id));
            // An unknown id changes nothing: the edit answers not_found.
            before.is_some_and(|b| customer.changes_contract(Some(&b)))
        }
        FleetEdit::AddServer { .. } | FleetEdit::ChangeServer { .. } | FleetEdit::RemoveServer { .. } => false,
    }
}

/// The route of an edit on the console API: method, path (without the leading `/`), body.
pub fn route(request: &FleetEditRequest) -> (&'static str, String, Value) {
    let seg = |s: &str| percent_segment(s);
    let revision = &request.revision;
    match &request.edit {
        FleetEdit::AddCustomer { customer } => {
            ("POST", "api/v1/fleet/customers".into(), json!({ "revision": revision, "customer": customer }))
        }
        FleetEdit::ChangeCustomer { id, customer } => (
            "PUT",
            format!("api/v1/fleet/customers/{}", seg(id)),
            json!({ "revision": revision, "customer": customer }),
        ),
        FleetEdit::RemoveCustomer { id } => {
            ("DELETE", format!("api/v1/fleet/customers/{}", seg(id)), json!({ "revision": revision }))
        }
        FleetEdit::AddServer { server } => {
            ("POST", "api/v1/fleet/servers".into(), json!({ "revision": revision, "server": server }))
        }
        FleetEdit::ChangeServer { label, server } => {
            ("PUT", format!("api/v1/fleet/servers/{}", seg(label)), json!({ "revision": revision, "server": server }))
        }
        FleetEdit::RemoveServer { label } => {
            ("DELETE", format!("api/v1/fleet/servers/{}", seg(label)), json!({ "revision": revision }))
        }
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn percent_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The file's text and the name its diagnostics give it (as the engine reads it).
async fn read(path: PathBuf) -> Result<(String, String), EditRefusal> {
    let name = path.display().to_string();
    let text = tokio::task::spawn_blocking(move || std::fs::read_to_string(&path))
        .await
        .map_err(|e| EditRefusal::Io(e.to_string()))?
        .map_err(|e| EditRefusal::Io(format!("{name}: cannot read the fleet file: {e}")))?;
    Ok((text, name))
}

async fn write(path: PathBuf, text: String) -> Result<(), EditRefusal> {
    let name = path.display().to_string();
    tokio::task::spawn_blocking(move || write_atomically(&path, &text))
        .await
        .map_err(|e| EditRefusal::Io(e.to_string()))?
        .map_err(|e| EditRefusal::Io(format!("{name}: cannot write the fleet file: {e}")))
}

/// Replaces the file's contents in one step: a temporary file in the same folder, with the
/// file's permissions (and owner, where allowed), synced, renamed over it. A symbolic link is
/// followed: its target is replaced, the link stays.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "fleet".into());
    let meta = std::fs::metadata(&target)?;
    let tmp = dir.join(format!(".{name}.edit-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.set_permissions(meta.permissions())?;
        // Only root may give a file away; anyone else keeps writing as themselves.
        let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename itself survives a crash once the folder is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_write_replaces_the_contents_and_keeps_the_permissions_and_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.toml");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn each_edit_has_its_route() {
        let server = anshin_core::fleet_edit::ServerEdit { label: "web 1".into(), ..Default::default() };
        let req = |edit| FleetEditRequest { revision: "r".into(), edit };
        let (m, p, b) = route(&req(FleetEdit::ChangeServer { label: "web 1".into(), server: server.clone() }));
        assert_eq!((m, p.as_str()), ("PUT", "api/v1/fleet/servers/web%201"));
        assert_eq!(b["revision"], "r");
        assert_eq!(b["server"]["label"], "web 1");
        let (m, p, b) = route(&req(FleetEdit::RemoveServer { label: "db01".into() }));
        assert_eq!((m, p.as_str(), b), ("DELETE", "api/v1/fleet/servers/db01", json!({"revision": "r"})));
        let (m, p, _) = route(&req(FleetEdit::AddCustomer { customer: Default::default() }));
        assert_eq!((m, p.as_str()), ("POST", "api/v1/fleet/customers"));
    }

    #[test]
    fn only_plans_contracts_and_customers_coming_or_going_need_an_admin() {
        let text = "[noc]\n\n[[customer]]\nid = \"c1\"\nname = \"A\"\nplan = \"60\"\nnotify = [\"a@example.jp\"]\n";
        let source = fleet_edit::source(text, "f").unwrap();
        let c1 = source.customers[0].clone();
        let phone = FleetEdit::ChangeCustomer {
            id: "c1".into(),
            customer: anshin_core::fleet_edit::CustomerEdit { phones: vec!["03-0000-0001".into()], ..c1.clone() },
        };
        assert!(!touches_contract(text, "f", &phone));
        let plan = FleetEdit::ChangeCustomer {
            id: "c1".into(),
            customer: anshin_core::fleet_edit::CustomerEdit { plan: "150".into(), ..c1.clone() },
        };
        assert!(touches_contract(text, "f", &plan));
        assert!(touches_contract(text, "f", &FleetEdit::RemoveCustomer { id: "c1".into() }));
        assert!(touches_contract(text, "f", &FleetEdit::AddCustomer { customer: c1 }));
        assert!(!touches_contract(text, "f", &FleetEdit::RemoveServer { label: "x".into() }));
    }
}
