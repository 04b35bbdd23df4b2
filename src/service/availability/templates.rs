//! Saved weekly patterns a mentor can apply again.

use chrono::Weekday;

use super::{Availability, AvailabilityService, Template};
use crate::auth::Principal;
use crate::domain::weekly::{TimeRange, MAX_TEMPLATES};
use crate::error::{AppError, AppResult};
use crate::service::store::availability::{
    all_blocks, count_templates, delete_template, insert_template, owned_template, replace_blocks,
    template_from_row, template_named, templates_of, update_template,
};
use crate::service::store::settings::lock_mentor;

/// The longest template name, in characters.
const MAX_TEMPLATE_NAME: usize = 100;

impl AvailabilityService {
    /// Saves the current weekly blocks under `name`, replacing a template of the same name.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id), err(level = "debug"))]
    pub async fn save_template(&self, p: &Principal, name: &str) -> AppResult<Template> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TEMPLATE_NAME {
            return Err(AppError::bad_input(
                "name",
                format!("must be 1 to {MAX_TEMPLATE_NAME} characters"),
            ));
        }
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let blocks: Vec<(Weekday, TimeRange)> = all_blocks(&tx.txn, &mentor.id)
            .await?
            .into_iter()
            .map(|b| (b.weekday, b.range))
            .collect();
        let now = self.clock.now();
        let id = match template_named(&tx.txn, &mentor.id, name).await? {
            Some(row) => {
                update_template(&tx.txn, &row.id, &blocks, now).await?;
                row.id
            }
            None => {
                if count_templates(&tx.txn, &mentor.id).await? >= MAX_TEMPLATES as u64 {
                    return Err(AppError::bad_input(
                        "name",
                        format!("you already have {MAX_TEMPLATES} templates; delete one first"),
                    ));
                }
                insert_template(&tx.txn, &mentor.id, name, &blocks, now).await?
            }
        };
        tx.commit().await?;
        Ok(Template {
            id,
            name: name.to_string(),
            blocks,
        })
    }

    /// Replaces the weekly blocks with the template's.
    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, template_id = %id), err(level = "debug"))]
    pub async fn apply_template(&self, p: &Principal, id: &str) -> AppResult<Availability> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        lock_mentor(&tx.txn, &mentor, self.clock.now()).await?;
        let saved = template_from_row(owned_template(&tx.txn, &mentor.id, id).await?)?;
        replace_blocks(&tx.txn, &mentor.id, saved.blocks).await?;
        tx.commit().await?;
        self.changed(&mentor.id).await
    }

    pub async fn templates(&self, p: &Principal) -> AppResult<Vec<Template>> {
        let mentor = self.acting_mentor(p).await?;
        templates_of(self.db.conn(), &mentor.id).await
    }

    #[tracing::instrument(skip_all, fields(mentor_id = %p.user_id, template_id = %id), err(level = "debug"))]
    pub async fn delete_template(&self, p: &Principal, id: &str) -> AppResult<()> {
        let mentor = self.acting_mentor(p).await?;
        let tx = self.db.begin_write().await?;
        owned_template(&tx.txn, &mentor.id, id).await?;
        delete_template(&tx.txn, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
