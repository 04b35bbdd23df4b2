//! The embedded default: each text written as `DATA_DIR/sms/{id}.txt` (a `To:` line, a blank line,
//! the body), under a temporary name then renamed, so a reader never sees half a text.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Accepted, OutgoingText, TextError, Texter};

pub struct FileTexter {
    dir: PathBuf,
}

impl FileTexter {
    pub fn new(dir: PathBuf) -> Self {
        FileTexter { dir }
    }

    fn path(&self, id: &str) -> Result<PathBuf, TextError> {
        let safe = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !safe {
            return Err(TextError::Refused {
                code: 0,
                message: format!("{id:?} cannot name a file"),
            });
        }
        Ok(self.dir.join(format!("{id}.txt")))
    }
}

fn accepted(id: &str) -> Accepted {
    Accepted {
        sid: format!("file-{id}"),
        status: "sent".into(),
    }
}

#[async_trait]
impl Texter for FileTexter {
    async fn send(&self, text: &OutgoingText<'_>) -> Result<Accepted, TextError> {
        let path = self.path(text.id)?;
        let failed =
            |e: std::io::Error| TextError::NotTaken(format!("writing {}: {e}", path.display()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(failed)?;
        let partial = self.dir.join(format!(".{}.txt.partial", text.id));
        let content = format!("To: {}\n\n{}\n", text.to, text.body);
        tokio::fs::write(&partial, content).await.map_err(failed)?;
        tokio::fs::rename(&partial, &path).await.map_err(failed)?;
        tracing::info!(sms_id = text.id, path = %path.display(), "text written to the sms directory");
        Ok(accepted(text.id))
    }

    async fn find(
        &self,
        id: &str,
        _to: &str,
        _body: &str,
        _since: DateTime<Utc>,
    ) -> Result<Option<Accepted>, TextError> {
        let path = self.path(id)?;
        Ok(tokio::fs::try_exists(&path)
            .await
            .unwrap_or(false)
            .then(|| accepted(id)))
    }
}
