//! The receipt PDF (`invoice.pdf`): one A4 page in the brand's colour with the spec's variables
//! (amount, date, frequency, next billing date), the period and sessions it pays for, and the
//! mentor and student. Written with `pdf-writer` (Typst's low-level PDF writer) and the standard
//! Helvetica fonts every reader has, so nothing is embedded: text outside WinAnsi (Latin-1) shows
//! as `?`.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// What a receipt says, already formatted for its reader.
#[derive(Debug, Clone, Default)]
pub struct Receipt {
    pub brand: String,
    /// `#rrggbb`.
    pub color: String,
    pub support_email: String,
    pub number: String,
    pub student: String,
    pub student_email: String,
    pub mentor: String,
    pub subject: String,
    pub amount: String,
    pub paid_on: String,
    pub period: String,
    pub frequency: String,
    pub next_billing: String,
    pub sessions: Vec<String>,
    /// Set when part of it was refunded.
    pub refunded: Option<String>,
}

/// The most session lines printed (a week holds at most three; a long list is cut).
const MAX_SESSION_LINES: usize = 12;

/// Text as WinAnsi bytes (Latin-1 passes, anything else is `?`).
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c as u32 {
            0x20..=0x7e | 0xa0..=0xff => c as u8,
            _ => b'?',
        })
        .collect()
}

fn rgb(hex: &str) -> (f32, f32, f32) {
    let hex = hex.trim_start_matches('#');
    let part = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0x33) as f32
            / 255.0
    };
    (part(0), part(2), part(4))
}

pub fn receipt_pdf(r: &Receipt) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page = Ref::new(3);
    let regular = Ref::new(4);
    let bold = Ref::new(5);
    let content_id = Ref::new(6);
    let (regular_name, bold_name) = (Name(b"F1"), Name(b"F2"));

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, 595.0, 842.0))
        .parent(tree)
        .contents(content_id);
    p.resources()
        .fonts()
        .pair(regular_name, regular)
        .pair(bold_name, bold);
    p.finish();
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));

    let mut c = Content::new();
    let (red, green, blue) = rgb(&r.color);
    // The brand band.
    c.set_fill_rgb(red, green, blue);
    c.rect(0.0, 772.0, 595.0, 70.0);
    c.fill_nonzero();
    let text = |c: &mut Content, font: Name, size: f32, x: f32, y: f32, s: &str| {
        c.begin_text();
        c.set_font(font, size);
        c.next_line(x, y);
        c.show(Str(&win_ansi(s)));
        c.end_text();
    };
    c.set_fill_rgb(1.0, 1.0, 1.0);
    text(&mut c, bold_name, 22.0, 50.0, 798.0, &r.brand);
    c.set_fill_rgb(0.1, 0.1, 0.1);
    text(&mut c, bold_name, 18.0, 50.0, 730.0, "Payment receipt");
    text(
        &mut c,
        regular_name,
        10.0,
        50.0,
        712.0,
        &format!("Receipt {}", r.number),
    );

    let mut y = 670.0;
    let mut row = |c: &mut Content, label: &str, value: &str| {
        text(c, bold_name, 11.0, 50.0, y, label);
        text(c, regular_name, 11.0, 200.0, y, value);
        y -= 20.0;
    };
    row(&mut c, "Amount paid", &r.amount);
    row(&mut c, "Paid on", &r.paid_on);
    row(&mut c, "Frequency", &r.frequency);
    row(&mut c, "Period", &r.period);
    row(&mut c, "Next billing date", &r.next_billing);
    if let Some(refunded) = &r.refunded {
        row(&mut c, "Refunded", refunded);
    }
    row(&mut c, "Subject", &r.subject);
    row(&mut c, "Mentor", &r.mentor);
    row(
        &mut c,
        "Student",
        &format!("{} <{}>", r.student, r.student_email),
    );

    y -= 10.0;
    text(&mut c, bold_name, 12.0, 50.0, y, "Sessions covered");
    y -= 20.0;
    if r.sessions.is_empty() {
        text(&mut c, regular_name, 11.0, 60.0, y, "None in this period");
        y -= 18.0;
    }
    for s in r.sessions.iter().take(MAX_SESSION_LINES) {
        text(&mut c, regular_name, 11.0, 60.0, y, s);
        y -= 18.0;
    }
    if r.sessions.len() > MAX_SESSION_LINES {
        let more = format!("and {} more", r.sessions.len() - MAX_SESSION_LINES);
        text(&mut c, regular_name, 11.0, 60.0, y, &more);
    }
    text(
        &mut c,
        regular_name,
        9.0,
        50.0,
        40.0,
        &format!("Questions? {}", r.support_email),
    );
    pdf.stream(content_id, &c.finish());
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_is_a_pdf_with_its_text() {
        let bytes = receipt_pdf(&Receipt {
            brand: "Mentor".into(),
            color: "#4f46e5".into(),
            amount: "USD 80.00".into(),
            student: "Zoë".into(),
            sessions: vec!["Monday 5 January 2026, 09:00 GMT (Europe/London)".into()],
            ..Receipt::default()
        });
        assert!(bytes.starts_with(b"%PDF-"));
        let body = String::from_utf8_lossy(&bytes);
        assert!(body.contains("/Helvetica"));
        assert!(body.contains("%%EOF"));
    }

    #[test]
    fn text_outside_latin_1_is_replaced() {
        assert_eq!(win_ansi("Zoë 東京"), b"Zo\xeb ??".to_vec());
    }

    #[test]
    fn colours_read_from_hex_with_a_fallback() {
        assert_eq!(rgb("#ff0000"), (1.0, 0.0, 0.0));
        let (r, _, _) = rgb("#zz0000");
        assert!((r - 0x33 as f32 / 255.0).abs() < f32::EPSILON);
    }
}
