//! Tauri commands: thin wrappers that read the backend and hand back DTOs.
//!
//! Must not: compute anything the engine or core already knows.

use std::sync::Arc;

use tauri::State;

use crate::backend::Backend;
use crate::dto::{AppInfo, ServerDto};

/// Every server and gateway with its checks, in fleet order.
#[tauri::command]
pub fn servers(backend: State<'_, Arc<Backend>>) -> Vec<ServerDto> {
    backend.servers().into_iter().map(ServerDto::from).collect()
}

/// Where the data comes from (demo or a fleet file) and which store is used.
#[tauri::command]
pub fn app_info(backend: State<'_, Arc<Backend>>) -> AppInfo {
    backend.info().clone()
}
