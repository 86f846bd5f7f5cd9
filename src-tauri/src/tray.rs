//! The tray icon: one look tells the worst open level (a coloured disc with the level's shape),
//! its tooltip counts hosts per level; its menu shows the window or quits.
//!
//! Owns: drawing the icon and the tooltip text. Must not: compute levels (the mirror does).

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager};

use crate::mirror::Worst;

const SIZE: u32 = 32;

/// Zabbix-style colours: OK green, Lv.2 yellow, Lv.3 orange, Lv.4 red, Lv.5 deep red.
fn colour(level: Option<u8>) -> [u8; 3] {
    match level {
        None => [0x2e, 0xa0, 0x43],
        Some(2) => [0xf2, 0xc0, 0x1e],
        Some(3) => [0xf2, 0x8c, 0x28],
        Some(4) => [0xe0, 0x3c, 0x31],
        _ => [0x9b, 0x00, 0x3a],
    }
}

/// A disc in the level's colour; problems get a white bar (so colour is never the only sign).
pub fn icon(level: Option<u8>) -> Image<'static> {
    let [r, g, b] = colour(level);
    let mut rgba = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    let c = (SIZE as f32 - 1.0) / 2.0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (dx, dy) = (x as f32 - c, y as f32 - c);
            let inside = dx * dx + dy * dy <= c * c;
            let bar = level.is_some() && dx.abs() <= 2.5 && (dy.abs() <= 9.0) && !(4.0..=6.0).contains(&dy);
            let px = match (inside, bar) {
                (false, _) => [0, 0, 0, 0],
                (true, true) => [255, 255, 255, 255],
                (true, false) => [r, g, b, 255],
            };
            rgba.extend_from_slice(&px);
        }
    }
    Image::new_owned(rgba, SIZE, SIZE)
}

/// "Anshin NOC — Lv.5×1 Lv.4×2" or "Anshin NOC — 異常なし".
pub fn summary(worst: &Worst) -> String {
    let parts: Vec<String> =
        (2..=5).rev().filter(|&l| worst.counts[l] > 0).map(|l| format!("Lv.{l}×{}", worst.counts[l])).collect();
    if parts.is_empty() {
        "Anshin NOC — 異常なし".into()
    } else {
        format!("Anshin NOC — {}", parts.join(" "))
    }
}

/// Creates the tray icon. A desktop without a tray (or without libayatana-appindicator) only
/// loses the icon: the error is returned for a log line.
pub fn create(app: &AppHandle) -> tauri::Result<TrayIcon> {
    let show = MenuItem::with_id(app, "show", "ウィンドウを表示", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "終了", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &quit])?;
    TrayIconBuilder::with_id("anshin")
        .icon(icon(None))
        .tooltip(summary(&Worst::default()))
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "show" => {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.unminimize();
                    let _ = w.show();
                    let _ = w.set_focus();
                }
            }
            "quit" => app.exit(0),
            _ => {}
        })
        .build(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tooltip_counts_levels_worst_first() {
        let w = Worst { level: Some(5), counts: [0, 0, 0, 2, 0, 1] };
        assert_eq!(summary(&w), "Anshin NOC — Lv.5×1 Lv.3×2");
        assert_eq!(summary(&Worst::default()), "Anshin NOC — 異常なし");
        assert_eq!(icon(Some(4)).rgba().len(), (SIZE * SIZE * 4) as usize);
    }
}
