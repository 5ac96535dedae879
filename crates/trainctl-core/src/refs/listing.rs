//! A listing as a user sees it, the one rule every listing path applies ([`view`]): objects in
//! content areas are left out (they are reached through their references), and a reference
//! (`KEY.trainctl-ref`) counts at its logical size — the size of the content it stands for —
//! read from its body, one GET per distinct body. `checkpoint::source` (checkpoint list and
//! cleanup), the watcher (with a [`RefCache`], so an idle poll reads nothing) and `s3 ls`
//! ([`shown`]) all go through it.

use super::{resolve, Ref};
use crate::error::Error;
use crate::s3::list::ObjectEntry;
use crate::s3::Connection;
use serde::Serialize;
use std::collections::HashMap;

/// Whether a view leaves the content areas out.
#[derive(Debug, Clone, Copy)]
pub enum ContentAreas<'a> {
    /// Left out: those below `below` (the listed prefix; an area the prefix itself lies in is
    /// what the user asked to see).
    Hidden { below: &'a str },
    /// Shown like any object (`s3 ls --show-content`).
    Shown,
}

/// What a user sees of one listed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Plain,
    /// A reference: its logical size, `None` when its body cannot be read (it is then shown at
    /// its stored size; downloads and materialize name the problem).
    Reference { logical_size: Option<u64> },
}

impl Seen {
    /// The size a user sees of an object listed at `stored` bytes.
    pub fn size(self, stored: u64) -> u64 {
        match self {
            Seen::Reference { logical_size: Some(n) } => n,
            _ => stored,
        }
    }
}

/// The rule (see the module documentation): `items` in order, those in content areas left out,
/// each with what a user sees of it. `listed` gives an item's full key, stored size and ETag.
/// With a `cache`, references read before are not read again (see [`RefCache`]).
pub async fn view<T>(conn: &Connection, bucket: &str, items: Vec<T>, listed: impl Fn(&T) -> resolve::Listed, areas: ContentAreas<'_>, cache: Option<&mut RefCache>) -> Vec<(T, Seen)> {
    let items: Vec<(T, resolve::Listed)> = items
        .into_iter()
        .map(|t| {
            let l = listed(&t);
            (t, l)
        })
        .filter(|(_, l)| match areas {
            ContentAreas::Hidden { below } => !super::in_content_area(below, &l.key),
            ContentAreas::Shown => true,
        })
        .collect();
    let refs: Vec<&resolve::Listed> = items.iter().map(|(_, l)| l).filter(|l| super::logical_key(&l.key).is_some()).collect();
    let mut own = RefCache::default();
    let sizes = cache.unwrap_or(&mut own).sizes(conn, bucket, &refs).await;
    items
        .into_iter()
        .map(|(t, l)| {
            let seen = match super::logical_key(&l.key) {
                Some(_) => Seen::Reference { logical_size: sizes.get(&l.key).copied() },
                None => Seen::Plain,
            };
            (t, seen)
        })
        .collect()
}

/// Most bodies and failures a [`RefCache`] remembers before it starts afresh.
const MAX_CACHED: usize = 100_000;

/// References read before, for a caller that lists the same prefix again and again (the
/// watcher): a reference is read again only when it changed. Bodies are kept by ETag (identical
/// references have identical bodies; each is still checked against its own key), failures by
/// key and ETag — so a broken reference costs one GET per change of that object, and is
/// reported once ([`RefCache::take_unreadable`]). A failure to reach the server is not kept:
/// the next listing tries again.
#[derive(Debug, Default)]
pub struct RefCache {
    bodies: HashMap<String, Ref>,
    failed: HashMap<(String, String), String>,
    /// Failures not yet taken by [`RefCache::take_unreadable`].
    fresh: Vec<String>,
}

impl RefCache {
    /// The logical size of each readable reference of `refs`, by key.
    async fn sizes(&mut self, conn: &Connection, bucket: &str, refs: &[&resolve::Listed]) -> HashMap<String, u64> {
        if self.bodies.len() + self.failed.len() > MAX_CACHED {
            self.bodies.clear();
            self.failed.clear();
        }
        let mut sizes = HashMap::new();
        let mut unread: Vec<resolve::Listed> = Vec::new();
        for r in refs {
            let Some(etag) = r.etag.as_deref() else {
                unread.push((*r).clone());
                continue;
            };
            if let Some(body) = self.bodies.get(etag) {
                let checked = Ref::parse(bucket, &r.key, &body.body());
                self.settle(r, checked, &mut sizes);
            } else if !self.failed.contains_key(&(r.key.clone(), etag.to_string())) {
                unread.push((*r).clone());
            }
        }
        if unread.is_empty() {
            return sizes;
        }
        for (r, body) in unread.iter().zip(resolve::read_all(conn, bucket, &unread).await) {
            if let (Ok(body), Some(etag)) = (&body, &r.etag) {
                self.bodies.insert(etag.clone(), body.clone());
            }
            self.settle(r, body, &mut sizes);
        }
        sizes
    }

    /// Records what reading `r` gave.
    fn settle(&mut self, r: &resolve::Listed, read: crate::error::Result<Ref>, sizes: &mut HashMap<String, u64>) {
        match read {
            Ok(body) => {
                sizes.insert(r.key.clone(), body.size);
            }
            Err(e) => {
                let message = unreadable(&e);
                let kept = e.scope() != crate::error::Scope::Connection;
                match r.etag.clone().filter(|_| kept) {
                    Some(etag) => {
                        if self.failed.insert((r.key.clone(), etag), message.clone()).is_none() {
                            self.fresh.push(message);
                        }
                    }
                    None => self.fresh.push(message),
                }
            }
        }
    }

    /// The references found unreadable since the last call, each said once per change of the
    /// object (a sentence naming the reference and why, ending in what it is counted as).
    pub fn take_unreadable(&mut self) -> Vec<String> {
        std::mem::take(&mut self.fresh)
    }
}

/// What a user is told of a reference that cannot be read.
fn unreadable(e: &Error) -> String {
    format!("{e}; counted at its stored size")
}

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

/// `page` (entries of one listing, in order) as `trainctl s3 ls` shows it: a reference as the
/// file it stands for (its logical key and size, marked); `content` keeps content areas.
pub async fn shown(conn: &Connection, bucket: &str, page: Vec<ObjectEntry>, content: bool) -> Vec<Shown> {
    let areas = if content { ContentAreas::Shown } else { ContentAreas::Hidden { below: "" } };
    view(conn, bucket, page, |o: &ObjectEntry| o.into(), areas, None)
        .await
        .into_iter()
        .map(|(o, seen)| match (seen, super::logical_key(&o.key)) {
            (Seen::Reference { logical_size }, Some(logical)) => {
                let entry = ObjectEntry { key: logical.to_string(), size: seen.size(o.size), ..o.clone() };
                Shown { entry, reference: Some(o.key), stored_size: Some(o.size), unreadable: logical_size.is_none() }
            }
            _ => Shown { entry: o, reference: None, stored_size: None, unreadable: false },
        })
        .collect()
}
