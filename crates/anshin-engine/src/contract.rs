//! The console contract as files for consoles, derived from the Rust types the engine
//! serializes: TypeScript declarations (ts-rs) that the UI imports, committed under
//! `ui/src/lib/backend/generated/`, and the OpenAPI document of the console API (`api::openapi`).
//!
//! The UI builds before cargo, so the TypeScript is committed, not generated during a build; a
//! test regenerates it in memory and fails when the committed file differs (`make
//! contract-types` refreshes it).
//!
//! Owns: which types make the contract and how they are written into one file.
//! Must not know: how consoles draw them, transports.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use ts_rs::{Config, TypeVisitor, TS};

/// Set to `1` to write the generated files instead of comparing them (`make contract-types`).
pub const REFRESH_VAR: &str = "ANSHIN_REFRESH_CONTRACT";

/// The command that refreshes every generated file of the contract.
pub const REFRESH_COMMAND: &str = "make contract-types";

/// Where the generated TypeScript lives, from the workspace root.
pub const GENERATED_DIR: &str = "ui/src/lib/backend/generated";

/// One TypeScript file of declarations: every type added and every type it refers to, each
/// declared once, in name order (so the file changes only when a type does).
pub struct TsFile {
    config: Config,
    seen: HashSet<TypeId>,
    decls: BTreeMap<String, String>,
    /// Types declared in another generated file, by the module they are imported from.
    imported: BTreeMap<String, String>,
    imports: BTreeMap<String, BTreeSet<String>>,
}

impl std::fmt::Debug for TsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsFile").field("decls", &self.decls.keys()).finish_non_exhaustive()
    }
}

impl Default for TsFile {
    fn default() -> Self {
        TsFile::new()
    }
}

impl TsFile {
    pub fn new() -> TsFile {
        // Ids, counts and byte sizes fit a JavaScript number; `bigint` would not parse from JSON.
        let config = Config::new().with_large_int("number");
        TsFile {
            config,
            seen: HashSet::new(),
            decls: BTreeMap::new(),
            imported: BTreeMap::new(),
            imports: BTreeMap::new(),
        }
    }

    /// Types of `other` are imported from `module` (`./engine`) instead of declared again.
    pub fn importing(mut self, module: &str, other: &TsFile) -> TsFile {
        for name in other.decls.keys() {
            self.imported.insert(name.clone(), module.to_string());
        }
        self
    }

    /// Declares `T` and, recursively, every type it refers to.
    pub fn add<T: TS + ?Sized + 'static>(&mut self) -> &mut TsFile {
        if T::output_path().is_none() || !self.seen.insert(TypeId::of::<T>()) {
            return self;
        }
        let name = T::ident(&self.config);
        if let Some(module) = self.imported.get(&name) {
            self.imports.entry(module.clone()).or_default().insert(name);
            return self;
        }
        let mut decl = T::docs().unwrap_or_default();
        decl.push_str("export ");
        decl.push_str(&T::decl(&self.config));
        if let Some(other) = self.decls.insert(name.clone(), decl) {
            // Two Rust types of one name would silently replace each other in the file.
            panic!("two contract types are named {name}: rename one (#[ts(rename = \"…\")])\n{other}");
        }
        T::visit_dependencies(&mut Visit(self));
        self
    }

    /// The file's text, `header` (comment lines) first.
    pub fn render(&self, header: &str) -> String {
        let mut out = String::from(header);
        for (module, names) in &self.imports {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            out.push_str(&format!("import type {{ {} }} from '{module}';\n", names.join(", ")));
        }
        for decl in self.decls.values() {
            out.push('\n');
            out.push_str(decl.trim_end());
            out.push('\n');
        }
        out
    }
}

struct Visit<'a>(&'a mut TsFile);

impl TypeVisitor for Visit<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        self.0.add::<T>();
    }
}

/// The comment every generated file starts with.
pub fn header(source: &str) -> String {
    format!(
        "// The console contract, generated from the Rust types by {source}.\n\
         // Do not edit: change the Rust type, then run `{REFRESH_COMMAND}`.\n"
    )
}

/// Every shape the engine sends to consoles (views, feed messages, events, actions and their
/// answers, errors, the reads beside the view).
pub fn engine_types() -> TsFile {
    use crate::{action, api, feed, reads, review_query, store, view};
    let mut f = TsFile::new();
    f.add::<feed::ConsoleMessage<'static>>()
        .add::<view::ServerView>()
        .add::<view::Health>()
        .add::<view::CustomerView>()
        .add::<crate::catalogue::Catalogue>()
        .add::<crate::event::EngineEvent>()
        .add::<action::ActionRequest>()
        .add::<action::ActionDone>()
        .add::<api::ApiError>()
        .add::<api::BusyAnswer>()
        .add::<api::Caller>()
        .add::<store::IncidentRecord>()
        .add::<store::samples::Sample>()
        .add::<store::recovery::RecoveryRecord>()
        .add::<store::reports::ReportRecord>()
        .add::<review_query::ReviewQuery>()
        .add::<review_query::ReviewRow>()
        .add::<reads::Escalation>()
        .add::<reads::AuditPage>()
        .add::<action::MaintenanceWindow>()
        .add::<store::ledger::ResourceUpRecord>()
        .add::<store::ledger::ConfigWorkMonth>()
        .add::<store::backups::BackupRun>()
        .add::<store::updates::PendingUpdateRow>()
        .add::<store::updates::UpdateRun>()
        .add::<store::updates::UpdateScanRecord>()
        .add::<anshin_core::fleet_edit::FleetSource>()
        .add::<anshin_core::fleet_edit::FleetEditRequest>()
        .add::<anshin_core::fleet_edit::FleetEdited>();
    f
}

/// The generated file of the engine's types.
pub fn engine_typescript() -> String {
    engine_types().render(&header("anshin-engine `contract::engine_types`"))
}

/// The workspace's root (two levels above a crate's manifest).
pub fn workspace_root(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../..")
}

/// True when the generated files are to be written (`ANSHIN_REFRESH_CONTRACT=1`).
pub fn refresh_requested() -> bool {
    std::env::var(REFRESH_VAR).as_deref() == Ok("1")
}

/// Compares a generated file with the committed one, or writes it when `refresh`. The error
/// names the file and how to refresh it.
pub fn check_generated(root: &Path, relative: &str, generated: &str, refresh: bool) -> Result<(), String> {
    let path = root.join(relative);
    if refresh {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(&path, generated).map_err(|e| format!("{relative}: {e}"));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return Ok(());
    }
    let first = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
    let line = first.unwrap_or_else(|| committed.lines().count().min(generated.lines().count())) + 1;
    let (was, now) = (committed.lines().nth(line - 1).unwrap_or(""), generated.lines().nth(line - 1).unwrap_or(""));
    Err(format!(
        "{relative} is stale: the Rust types of the console contract changed and the generated file was not refreshed.\n\
         First difference at line {line}:\n  committed: {was}\n  generated: {now}\n\
         Refresh it with `{REFRESH_COMMAND}` (or `{REFRESH_VAR}=1 cargo test -p anshin-engine -p anshin-report --lib contract`) and commit it."
    ))
}

/// Panics, naming the file and how to refresh it, when `generated/NAME` is not `generated` (or
/// writes it with [`REFRESH_VAR`]`=1`): the test of each crate that generates a file.
pub fn assert_current(name: &str, generated: &str) {
    let root = workspace_root(env!("CARGO_MANIFEST_DIR"));
    if let Err(e) = check_generated(&root, &format!("{GENERATED_DIR}/{name}"), generated, refresh_requested()) {
        panic!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_typescript_is_current() {
        assert_current("engine.ts", &engine_typescript());
    }

    /// The catalogue's data as a file too (`generated/catalogue.json`): UI unit tests and the
    /// perf page's generator read it instead of keeping their own copy of the contract's tables.
    #[test]
    fn the_committed_catalogue_is_current() {
        let json = serde_json::to_string_pretty(&crate::catalogue::Catalogue::current()).expect("serializable");
        assert_current("catalogue.json", &format!("{json}\n"));
    }

    #[test]
    fn a_changed_file_is_named_with_its_first_difference() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.ts"), "// a\nexport type A = { b: number };\n").unwrap();
        let e = check_generated(dir.path(), "x.ts", "// a\nexport type A = { c: number };\n", false).unwrap_err();
        assert!(e.starts_with("x.ts is stale"), "{e}");
        assert!(e.contains("line 2") && e.contains("{ c: number }") && e.contains(REFRESH_COMMAND), "{e}");
        assert!(check_generated(dir.path(), "missing.ts", "x", false).unwrap_err().contains("missing.ts is stale"));
    }

    #[test]
    fn every_type_is_declared_once_and_large_numbers_are_numbers() {
        let ts = engine_typescript();
        assert!(!ts.contains("bigint"), "an integer became a bigint");
        for name in ["ServerView", "ConsoleMessage", "EngineEvent", "ActionRequest", "ActionDone", "ApiError"] {
            assert_eq!(ts.matches(&format!("export type {name} =")).count(), 1, "{name}");
        }
    }
}
