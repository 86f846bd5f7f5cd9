//! The report as people read it: one list of blocks (headings, paragraphs, tables, charts) in
//! Japanese, drawn three ways from the same blocks — the HTML mail body (charts as `cid:`
//! images), its plain-text alternative, and the archive PDF (`pdf`).
//!
//! Owns: the wording, the order of sections, which optional sections appear (only those with
//! data: no empty sections), and HTML escaping. Must not know: the store, SMTP.

pub use crate::blocks::{Block, Chart};
use anshin_engine::store::backups::BackupKind;

use crate::chart;
use crate::compute::{check_name, duration_ja, percent_text, MonthlyReport, ResourceTrend};
use crate::font::JapaneseFont;
use crate::month::Month;
use crate::pdf;
use crate::ReportError;

/// The report drawn: mail subject, HTML and text bodies, chart PNGs and the PDF.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub charts: Vec<Chart>,
    pub pdf: Vec<u8>,
}

fn table(head: &[&str], rows: Vec<Vec<String>>, widths: &[f32]) -> Block {
    Block::Table { head: head.iter().map(|s| s.to_string()).collect(), rows, widths: widths.to_vec() }
}

/// The blocks of a report; `charts` are the hosts that have a chart, in order.
pub fn blocks(r: &MonthlyReport, brand: &str, charts: &[String]) -> Vec<Block> {
    let mut b = Vec::new();
    b.push(Block::Title(format!("月次稼働レポート {}", r.month_label)));
    b.push(Block::Para(format!("{} 様", r.customer_name)));
    b.push(Block::Para(format!(
        "対象期間：{} 〜 {}（日本時間）　ご契約プラン：あんしんパック {}",
        r.period_start, r.period_end, r.plan
    )));
    if let Some(k) = &r.contract {
        let next = match (&k.next_renewal, &k.end) {
            (Some(n), _) => format!("次回更新日 {n}"),
            (None, Some(e)) => format!("{e} に終了"),
            (None, None) => String::new(),
        };
        b.push(Block::Para(format!("ご契約期間：{} から {} か月（自動更新）　{next}", k.start, k.months)));
    }
    if !r.has_data() {
        // A month nobody watched: say so plainly, and claim no availability and no incidents.
        let why = match &r.monitoring_since {
            Some(day) if day.as_str() >= r.period_end.get(..10).unwrap_or_default() => format!("監視開始: {day}"),
            Some(_) => "この期間は監視を停止していました".to_string(),
            None => "監視はまだ開始されていません".to_string(),
        };
        b.push(Block::Para(format!("この月の監視データはありません（{why}）。")));
        b.push(footer(brand));
        return b;
    }
    let mut n = 0;
    let mut heading = |b: &mut Vec<Block>, title: &str| {
        n += 1;
        b.push(Block::Heading(format!("{n}. {title}")));
    };

    heading(&mut b, "稼働率");
    b.push(Block::Para(format!(
        "監視期間：{} 〜 {}（監視時間 {}、未監視 {}）",
        r.watched_from.as_deref().unwrap_or_default(),
        r.watched_to.as_deref().unwrap_or_default(),
        duration_ja(r.watched_secs),
        if r.unwatched_secs > 0 { duration_ja(r.unwatched_secs) } else { "なし".into() },
    )));
    b.push(table(
        &["サーバー", "稼働率", "停止時間", "メンテナンス時間"],
        r.servers
            .iter()
            .map(|s| {
                vec![
                    s.label.clone(),
                    percent_text(s.percent),
                    duration_ja(s.downtime_secs),
                    if s.maintenance_secs > 0 { duration_ja(s.maintenance_secs) } else { "—".into() },
                ]
            })
            .collect(),
        &[0.3, 0.2, 0.25, 0.25],
    ));
    b.push(table(
        &["サーバー", "チェック", "稼働率", "停止時間"],
        r.servers
            .iter()
            .flat_map(|s| {
                s.checks.iter().map(|c| {
                    vec![s.label.clone(), check_name(&c.check), percent_text(c.percent), duration_ja(c.downtime_secs)]
                })
            })
            .collect(),
        &[0.3, 0.25, 0.2, 0.25],
    ));
    b.push(Block::Para(
        "稼働率 ＝（監視時間 − メンテナンス時間 − 停止時間）÷（監視時間 − メンテナンス時間）。\
         監視していなかった時間（監視開始前・監視停止中）は計算に含めていません。\
         Ping 不通（サーバーまたはネットワークの障害）の時間は、そのサーバーのすべてのチェックの停止時間に含めています。\
         サーバーの停止時間は、いずれかのチェックが停止していた時間です。"
            .into(),
    ));

    if !r.maintenance.is_empty() {
        heading(&mut b, "メンテナンス");
        b.push(table(
            &["対象", "開始", "終了", "月内の時間", "理由", "登録者"],
            r.maintenance
                .iter()
                .map(|m| {
                    vec![
                        m.target.clone(),
                        m.start.clone(),
                        m.end.clone(),
                        duration_ja(m.secs_in_month),
                        m.reason.clone(),
                        m.who.clone(),
                    ]
                })
                .collect(),
            &[0.13, 0.2, 0.2, 0.14, 0.21, 0.12],
        ));
        b.push(Block::Para("メンテナンス時間は稼働率の計算から除外しています。".into()));
    }

    heading(&mut b, "障害");
    if r.incidents.is_empty() {
        b.push(Block::Para(
            if r.unwatched_secs > 0 {
                "監視期間中の障害はありませんでした。"
            } else {
                "今月の障害はありませんでした。"
            }
            .into(),
        ));
    } else {
        let counts: Vec<String> = r.counts_by_level.iter().map(|(l, c)| format!("Lv.{l}：{c}件")).collect();
        b.push(Block::Para(format!("件数：{}（合計 {}件）", counts.join("、"), r.incidents.len())));
        if let Some(m) = r.mttr_secs {
            b.push(Block::Para(format!("平均復旧時間（MTTR）：{}", duration_ja(m))));
        }
        b.push(table(
            &["発生日時", "サーバー", "レベル", "原因（トリガー）", "継続時間", "復旧方法"],
            r.incidents
                .iter()
                .map(|i| {
                    vec![
                        i.start.clone(),
                        i.host.clone(),
                        format!("Lv.{}", i.level),
                        i.trigger.clone(),
                        i.duration_secs.map(duration_ja).unwrap_or_else(|| "継続中".into()),
                        i.recovery.japanese().to_string(),
                    ]
                })
                .collect(),
            &[0.19, 0.1, 0.07, 0.37, 0.13, 0.14],
        ));
    }

    if !charts.is_empty() {
        heading(&mut b, "リソース推移");
        b.push(Block::Para(
            "ロードアベレージ、ディスク・inode 使用率、メールキューの日ごとの最小・平均・最大です。".into(),
        ));
        for i in 0..charts.len() {
            b.push(Block::Chart(i));
        }
    }

    let activity = [("復旧対応", &r.recoveries), ("電話連絡", &r.calls), ("スポット作業（有償）", &r.spot_work)];
    for (title, lines) in activity {
        if lines.is_empty() {
            continue;
        }
        heading(&mut b, title);
        b.push(table(
            &["日時", "サーバー", "内容", "詳細"],
            lines.iter().map(|a| vec![a.at.clone(), a.host.clone(), a.what.clone(), a.detail.clone()]).collect(),
            &[0.2, 0.15, 0.25, 0.4],
        ));
    }
    if let Some(runs) = &r.backups {
        heading(&mut b, "バックアップ");
        let count = |kind: BackupKind| {
            runs.iter().filter(|x| x.kind == kind && (x.state == "ok" || x.state == "pruned")).count()
        };
        let failed = runs.iter().filter(|x| x.state == "failed" || x.state == "interrupted").count();
        b.push(Block::Para(format!(
            "取得した世代：フル {} 回、差分 {} 回{}",
            count(BackupKind::Full),
            count(BackupKind::Differential),
            if failed > 0 { format!("（失敗・中断 {failed} 回）") } else { String::new() }
        )));
        if !runs.is_empty() {
            b.push(table(
                &["開始", "サーバー", "種類", "結果", "サイズ"],
                runs.iter()
                    .map(|x| {
                        let state = match x.state.as_str() {
                            "ok" => "完了",
                            "pruned" => "完了（保存期間終了）",
                            "failed" => "失敗",
                            "interrupted" => "中断",
                            _ => "実行中",
                        };
                        let kind = if x.kind == BackupKind::Full { "フル" } else { "差分" };
                        let size = if x.state == "ok" || x.state == "pruned" {
                            format!("{:.1} MB", x.bytes as f64 / 1e6)
                        } else {
                            "—".into()
                        };
                        let at = chrono::DateTime::parse_from_rfc3339(&x.started_at)
                            .map(|t| crate::month::jst(t.with_timezone(&chrono::Utc)))
                            .unwrap_or_else(|_| x.started_at.clone());
                        vec![at, x.host.clone(), kind.into(), state.into(), size]
                    })
                    .collect(),
                &[0.25, 0.2, 0.15, 0.25, 0.15],
            ));
        }
    }
    if let Some(u) = &r.updates {
        heading(&mut b, "セキュリティアップデート");
        let jst = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| crate::month::jst(t.with_timezone(&chrono::Utc)))
                .unwrap_or_else(|_| s.to_string())
        };
        if u.applied.is_empty() {
            b.push(Block::Para("今月適用したアップデート：なし".into()));
        } else {
            b.push(Block::Para(format!("今月適用したアップデート：{} 回", u.applied.len())));
            b.push(table(
                &["完了", "サーバー", "対象", "内容"],
                u.applied
                    .iter()
                    .map(|x| {
                        let scope = if x.scope == "cms" { "CMS" } else { "OS" };
                        let what = if x.packages.is_empty() {
                            "保留中のすべて".to_string()
                        } else {
                            x.packages.replace(',', ", ")
                        };
                        let at = x.finished_at.as_deref().map(jst).unwrap_or_default();
                        vec![at, x.host.clone(), scope.into(), what]
                    })
                    .collect(),
                &[0.25, 0.2, 0.1, 0.45],
            ));
        }
        if u.pending.is_empty() {
            b.push(Block::Para("未適用のアップデート：なし".into()));
        } else {
            b.push(Block::Para(format!("未適用のアップデート：{} 件", u.pending.len())));
            b.push(table(
                &["サーバー", "ソフトウェア", "現在", "更新後", "アドバイザリ"],
                u.pending
                    .iter()
                    .map(|x| {
                        let name = match x.source.as_str() {
                            "os" => x.package.clone(),
                            "wordpress-core" => "WordPress".into(),
                            "wordpress-plugin" => format!("WordPress プラグイン {}", x.package),
                            _ => format!("WordPress テーマ {}", x.package),
                        };
                        vec![x.host.clone(), name, x.installed.clone(), x.candidate.clone(), x.advisory.clone()]
                    })
                    .collect(),
                &[0.15, 0.3, 0.18, 0.18, 0.19],
            ));
        }
    }
    if r.config_work.is_some() || !r.resource_ups.is_empty() {
        heading(&mut b, "ご依頼作業");
        if let Some(w) = &r.config_work {
            b.push(Block::Para(format!(
                "設定作業：{} 分（月 {} 分のうち。残り {} 分）{}",
                w.used_minutes,
                w.used_minutes + w.remaining_minutes,
                w.remaining_minutes,
                if w.billable_minutes > 0 {
                    format!("、有償作業 {} 分", w.billable_minutes)
                } else {
                    String::new()
                }
            )));
            b.push(table(
                &["作業日", "時間", "担当", "内容", "区分"],
                w.entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.day.clone(),
                            format!("{} 分", e.minutes),
                            e.who.clone(),
                            e.what.clone(),
                            if e.billable { "有償".into() } else { "契約内".into() },
                        ]
                    })
                    .collect(),
                &[0.15, 0.1, 0.15, 0.45, 0.15],
            ));
        }
        if !r.resource_ups.is_empty() {
            b.push(table(
                &["サーバー", "期間", "一時的なリソースアップ", "状態"],
                r.resource_ups
                    .iter()
                    .map(|u| {
                        let state = match u.state.as_str() {
                            "raised" => "増強中",
                            "restored" => "元に戻しました",
                            "cancelled" => "取消",
                            _ => "受付",
                        };
                        vec![u.host.clone(), format!("{} 〜 {}", u.from_day, u.until_day), u.what.clone(), state.into()]
                    })
                    .collect(),
                &[0.15, 0.3, 0.4, 0.15],
            ));
        }
    }
    b.push(footer(brand));
    b
}

fn footer(brand: &str) -> Block {
    Block::Para(format!(
        "本レポートは {brand} あんしんパック監視センター（NOC）が監視記録から作成しました。ご不明な点はお問い合わせください。"
    ))
}

/// HTML text with `<`, `>`, `&`, `"` and `'` escaped (every value from the fleet or the log is
/// untrusted).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML mail body.
pub fn html(blocks: &[Block], charts: &[Chart], title: &str) -> String {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">");
    h.push_str(&format!("<title>{}</title></head>\n", escape(title)));
    h.push_str(
        "<body style=\"font-family:'Noto Sans CJK JP','Hiragino Sans','Yu Gothic',Meiryo,sans-serif;\
         color:#222;max-width:900px;margin:0 auto;padding:16px\">\n",
    );
    for b in blocks {
        match b {
            Block::Title(t) => h.push_str(&format!(
                "<h1 style=\"font-size:22px;border-bottom:2px solid #1f4fa0\">{}</h1>\n",
                escape(t)
            )),
            Block::Heading(t) => {
                h.push_str(&format!("<h2 style=\"font-size:18px;margin-top:24px;color:#1f4fa0\">{}</h2>\n", escape(t)))
            }
            Block::Para(t) => h.push_str(&format!("<p style=\"font-size:14px;line-height:1.6\">{}</p>\n", escape(t))),
            Block::Table { head, rows, .. } => {
                h.push_str("<table style=\"border-collapse:collapse;font-size:13px;margin:8px 0\">\n<tr>");
                for c in head {
                    h.push_str(&format!(
                        "<th style=\"border:1px solid #aab;background:#e8eef8;padding:4px 8px;text-align:left\">{}</th>",
                        escape(c)
                    ));
                }
                h.push_str("</tr>\n");
                for r in rows {
                    h.push_str("<tr>");
                    for c in r {
                        h.push_str(&format!("<td style=\"border:1px solid #aab;padding:4px 8px\">{}</td>", escape(c)));
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</table>\n");
            }
            Block::Chart(i) => {
                if let Some(c) = charts.get(*i) {
                    h.push_str(&format!(
                        "<p><img src=\"cid:{}\" alt=\"{} リソース推移\" width=\"880\" style=\"max-width:100%\"></p>\n",
                        escape(&c.cid),
                        escape(&c.host)
                    ));
                }
            }
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// The plain-text alternative.
pub fn text(blocks: &[Block], charts: &[Chart]) -> String {
    let mut t = String::new();
    for b in blocks {
        match b {
            Block::Title(s) => t.push_str(&format!("{s}\n{}\n\n", "=".repeat(40))),
            Block::Heading(s) => t.push_str(&format!("\n■ {s}\n")),
            Block::Para(s) => t.push_str(&format!("{s}\n")),
            Block::Table { head, rows, .. } => {
                t.push_str(&format!("{}\n", head.join(" / ")));
                for r in rows {
                    t.push_str(&format!("  {}\n", r.join(" / ")));
                }
            }
            Block::Chart(i) => {
                if let Some(c) = charts.get(*i) {
                    t.push_str(&format!("（グラフ：{} のリソース推移は HTML 版をご覧ください）\n", c.host));
                }
            }
        }
    }
    t
}

/// Draws the whole report: charts, HTML, text and PDF.
pub fn render(r: &MonthlyReport, brand: &str, font: &JapaneseFont) -> Result<Rendered, ReportError> {
    let month = Month::parse(&r.month).map_err(|e| ReportError::Input(e.to_string()))?;
    let mut hosts: Vec<String> = Vec::new();
    for t in &r.trends {
        if !hosts.contains(&t.host) {
            hosts.push(t.host.clone());
        }
    }
    let mut charts = Vec::new();
    for (n, host) in hosts.iter().enumerate() {
        let trends: Vec<&ResourceTrend> = r.trends.iter().filter(|t| &t.host == host).collect();
        let png = chart::server_chart(host, &r.month_label, month.days(), &trends, font)?;
        let safe: String = host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        charts.push(Chart {
            host: host.clone(),
            cid: format!(
                "chart{n}.{}.{}@anshin.report",
                r.month,
                r.customer_id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
            filename: format!("chart-{safe}.png"),
            png,
        });
    }
    let blocks = blocks(r, brand, &hosts);
    let subject = format!("[{brand}] 月次稼働レポート {}（{} 様）", r.month_label, r.customer_name);
    Ok(Rendered {
        html: html(&blocks, &charts, &subject),
        text: text(&blocks, &charts),
        pdf: pdf::render(&blocks, &charts, font)?,
        subject,
        charts,
    })
}
