//! Cursor pagination shared by every listing: a page size from 1 to [`MAX_PAGE`], cursors that are
//! opaque to clients (hex of the last item's sort key).

use crate::error::{AppError, AppResult};

/// The largest page a client may ask for.
pub const MAX_PAGE: i32 = 100;

/// One page: each item with its cursor, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next: bool,
}

pub fn page_size(first: i32) -> AppResult<u64> {
    if (1..=MAX_PAGE).contains(&first) {
        Ok(first as u64)
    } else {
        Err(AppError::bad_input(
            "first",
            format!("must be between 1 and {MAX_PAGE} (got {first})"),
        ))
    }
}

pub fn encode_cursor(key: &str) -> String {
    hex::encode(key)
}

pub fn decode_cursor(cursor: &str) -> AppResult<String> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AppError::bad_input("after", "not a cursor this API gave out"))
}

pub fn page_of<M, T>(rows: Vec<M>, size: u64, key: impl Fn(&M) -> String) -> AppResult<Page<T>>
where
    T: TryFrom<M, Error = AppError>,
{
    let has_next = rows.len() as u64 > size;
    let items = rows
        .into_iter()
        .take(size as usize)
        .map(|m| {
            let cursor = encode_cursor(&key(&m));
            T::try_from(m).map(|t| (cursor, t))
        })
        .collect::<AppResult<_>>()?;
    Ok(Page { items, has_next })
}
