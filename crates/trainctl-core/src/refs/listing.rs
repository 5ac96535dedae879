//! A listing as a user reads it (`trainctl s3 ls`): a reference (`KEY.trainctl-ref`) is shown
//! as the file it stands for — its logical key and size, marked as a reference — and content
//! areas are left out unless asked for (their objects are reached through references). One GET
//! per distinct reference body on the page.

use super::resolve;
use crate::s3::list::ObjectEntry;
use crate::s3::Connection;
use serde::Serialize;

/// One listed entry as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shown {
    /// The entry; for a reference its logical key and, when its body reads, its logical size.
    #[serde(flatten)]
    pub entry: ObjectEntry,
    /// A reference: its own key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A reference: the bytes it takes itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_size: Option<u64>,
    /// A reference whose body could not be read (shown at its stored size).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
}

/// `page` (entries of one listing, in order) as shown; `content` keeps content areas.
pub async fn shown(conn: &Connection, bucket: &str, page: Vec<ObjectEntry>, content: bool) -> Vec<Shown> {
    let page: Vec<ObjectEntry> = page.into_iter().filter(|o| content || !super::in_content_area("", &o.key)).collect();
    let refs: Vec<resolve::Listed> = page.iter().filter(|o| !o.is_prefix && super::logical_key(&o.key).is_some()).map(Into::into).collect();
    let sizes = if refs.is_empty() { Default::default() } else { resolve::logical_sizes(conn, bucket, &refs).await };
    page.into_iter()
        .map(|o| match super::logical_key(&o.key).filter(|_| !o.is_prefix) {
            Some(logical) => {
                let size = sizes.get(&o.key).copied();
                let entry = ObjectEntry { key: logical.to_string(), size: size.unwrap_or(o.size), ..o.clone() };
                Shown { entry, reference: Some(o.key), stored_size: Some(o.size), unreadable: size.is_none() }
            }
            None => Shown { entry: o, reference: None, stored_size: None, unreadable: false },
        })
        .collect()
}
