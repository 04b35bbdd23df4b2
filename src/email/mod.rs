//! Emails as people see them: the branding, what a template is filled with (`EmailView`), the askama
//! templates under `templates/email/<name>/` (subject, HTML body, plain-text body, one shared
//! layout), the MIME message that carries them with an invite or a receipt PDF, and that PDF.

pub mod brand;
pub mod mime;
pub mod pdf;
pub mod render;
pub mod sample;
pub mod view;

pub use brand::Brand;
pub use render::{render, Rendered};
pub use view::{DigestItem, EmailView};

use crate::config::Settings;
use crate::domain::email::EmailTemplate;

/// The `email-preview` command: `name` rendered with sample data (its `part`: html, text or subject),
/// or without a name the list of templates.
pub fn preview(settings: &Settings, name: Option<&str>, part: &str) -> anyhow::Result<String> {
    let Some(name) = name else {
        let mut list: Vec<&str> = EmailTemplate::ALL.iter().map(|t| t.as_str()).collect();
        list.push("");
        return Ok(list.join("\n"));
    };
    let template: EmailTemplate = name
        .parse()
        .map_err(|_| anyhow::anyhow!("no template {name:?}; run without a name to list them"))?;
    let brand = Brand::from_settings(settings);
    let rendered = render(
        template,
        &sample::sample(template),
        &brand,
        &render::Tracking::none(),
    )?;
    Ok(match part {
        "html" => rendered.html,
        "text" => rendered.text,
        "subject" => rendered.subject + "\n",
        other => anyhow::bail!("--part {other:?}: use html, text or subject"),
    })
}
