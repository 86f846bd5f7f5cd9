//! The archive PDF of a report: A4 pages with the same blocks as the mail, the Japanese font
//! embedded (subset) so it renders anywhere, and the chart PNGs placed as images.
//!
//! Owns: page layout (a top-down cursor, page breaks, column widths, wrapping and truncation by
//! an estimate of glyph widths). Must not know: where the blocks come from.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::{Data, Document};

use crate::blocks::{Block, Chart};
use crate::font::JapaneseFont;
use crate::ReportError;

const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;
const WIDTH: f32 = PAGE.0 - 2.0 * MARGIN;

/// Estimated advance of a character at a size: full width for CJK, about half otherwise.
fn advance(c: char, size: f32) -> f32 {
    if c.is_ascii() {
        size * 0.56
    } else {
        size
    }
}

fn text_width(s: &str, size: f32) -> f32 {
    s.chars().map(|c| advance(c, size)).sum()
}

/// Lines of at most `width`.
fn wrap(s: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut w = 0.0;
    for c in s.chars() {
        let a = advance(c, size);
        if w + a > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            w = 0.0;
        }
        line.push(c);
        w += a;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

struct Writer {
    pages: Vec<Vec<Op>>,
    y: f32,
}

enum Op {
    Text { x: f32, y: f32, size: f32, text: String, color: (u8, u8, u8) },
    Rect { x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8) },
    Image { x: f32, y: f32, w: f32, h: f32, chart: usize },
}

impl Writer {
    fn need(&mut self, h: f32) {
        if self.y + h > PAGE.1 - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn op(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
    }

    fn text(&mut self, x: f32, size: f32, text: &str, color: (u8, u8, u8)) {
        let y = self.y + size;
        self.op(Op::Text { x, y, size, text: text.to_string(), color });
    }
}

/// Lays out the blocks and writes the PDF.
pub fn render(blocks: &[Block], charts: &[Chart], font: &JapaneseFont) -> Result<Vec<u8>, ReportError> {
    let mut w = Writer { pages: vec![Vec::new()], y: MARGIN };
    for b in blocks {
        match b {
            Block::Title(t) => {
                w.need(40.0);
                w.text(MARGIN, 20.0, t, (31, 79, 160));
                w.y += 28.0;
                w.op(Op::Rect { x: MARGIN, y: w.y, w: WIDTH, h: 1.5, color: (31, 79, 160) });
                w.y += 10.0;
            }
            Block::Heading(t) => {
                w.need(40.0);
                w.y += 10.0;
                w.text(MARGIN, 14.0, t, (31, 79, 160));
                w.y += 22.0;
            }
            Block::Para(t) => {
                for line in wrap(t, 10.0, WIDTH) {
                    w.need(15.0);
                    w.text(MARGIN, 10.0, &line, (34, 34, 34));
                    w.y += 15.0;
                }
                w.y += 4.0;
            }
            Block::Table { head, rows, widths } => {
                let size = 8.5;
                let row = |w: &mut Writer, cells: &[String], bg: Option<(u8, u8, u8)>| {
                    let wrapped: Vec<Vec<String>> = cells
                        .iter()
                        .zip(widths)
                        .map(|(c, f)| wrap(c, size, f * WIDTH - 6.0).into_iter().take(3).collect())
                        .collect();
                    let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
                    let h = lines as f32 * (size + 3.0) + 5.0;
                    w.need(h);
                    if let Some(bg) = bg {
                        w.op(Op::Rect { x: MARGIN, y: w.y, w: WIDTH, h, color: bg });
                    }
                    let mut x = MARGIN + 3.0;
                    for (cell, f) in wrapped.iter().zip(widths) {
                        for (i, line) in cell.iter().enumerate() {
                            let y = w.y + 2.0 + i as f32 * (size + 3.0);
                            w.op(Op::Text { x, y: y + size, size, text: line.clone(), color: (34, 34, 34) });
                        }
                        x += f * WIDTH;
                    }
                    w.y += h;
                    w.op(Op::Rect { x: MARGIN, y: w.y, w: WIDTH, h: 0.5, color: (170, 170, 187) });
                };
                row(&mut w, head, Some((232, 238, 248)));
                for r in rows {
                    row(&mut w, r, None);
                }
                w.y += 8.0;
            }
            Block::Chart(i) => {
                let (cw, ch) = crate::chart::SIZE;
                let h = WIDTH * ch as f32 / cw as f32;
                w.need(h + 8.0);
                w.op(Op::Image { x: MARGIN, y: w.y, w: WIDTH, h, chart: *i });
                w.y += h + 8.0;
            }
        }
    }

    let pdf_font = Font::new(Data::from(font.data.clone()), font.index)
        .ok_or_else(|| ReportError::Pdf(format!("{}: the PDF writer cannot read this font", font.path.display())))?;
    let mut images = Vec::new();
    for c in charts {
        images.push(Image::from_png(Data::from(c.png.clone()), true).map_err(ReportError::Pdf)?);
    }
    let mut doc = Document::new();
    let total = w.pages.len();
    for (n, ops) in w.pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE.0, PAGE.1).ok_or_else(|| ReportError::Pdf("page size".into()))?;
        let mut page = doc.start_page_with(settings);
        let mut s = page.surface();
        for op in ops {
            draw(&mut s, op, &pdf_font, &images);
        }
        let footer = format!("{} / {}", n + 1, total);
        draw(
            &mut s,
            &Op::Text {
                x: PAGE.0 / 2.0 - text_width(&footer, 8.0) / 2.0,
                y: PAGE.1 - MARGIN / 2.0,
                size: 8.0,
                text: footer,
                color: (120, 120, 120),
            },
            &pdf_font,
            &images,
        );
        s.finish();
        page.finish();
    }
    doc.finish().map_err(|e| ReportError::Pdf(format!("{e:?}")))
}

fn draw(s: &mut Surface<'_>, op: &Op, font: &Font, images: &[Image]) {
    let fill = |(r, g, b): (u8, u8, u8)| Fill { paint: rgb::Color::new(r, g, b).into(), ..Default::default() };
    match op {
        Op::Text { x, y, size, text, color } => {
            s.set_fill(Some(fill(*color)));
            s.draw_text(Point::from_xy(*x, *y), font.clone(), *size, text, false, TextDirection::Auto);
        }
        Op::Rect { x, y, w, h, color } => {
            let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else { return };
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            if let Some(path) = pb.finish() {
                s.set_fill(Some(fill(*color)));
                s.draw_path(&path);
            }
        }
        Op::Image { x, y, w, h, chart } => {
            let (Some(img), Some(size)) = (images.get(*chart), Size::from_wh(*w, *h)) else { return };
            s.push_transform(&Transform::from_translate(*x, *y));
            s.draw_image(img.clone(), size);
            s.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_counts_wide_characters() {
        assert_eq!(wrap("あいうえお", 10.0, 30.0), ["あいう", "えお"]);
        assert_eq!(wrap("abcdef", 10.0, 30.0), ["abcde", "f"]);
        assert!(wrap("", 10.0, 30.0).is_empty());
    }
}
