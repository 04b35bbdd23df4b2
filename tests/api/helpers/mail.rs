//! The outbox as the database holds it.

use mentor_scheduler::entity::email_notification as email;
use sea_orm::{EntityTrait, QueryOrder};

use super::TestApp;

pub async fn emails(app: &TestApp) -> Vec<email::Model> {
    email::Entity::find()
        .order_by_asc(email::Column::Id)
        .all(app.services.db.conn())
        .await
        .unwrap()
}
