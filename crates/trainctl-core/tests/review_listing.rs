//! The review listing engine on real servers (moto and Garage): levels, ranges and wide-level
//! pieces must count every key exactly once, whatever the concurrency. The layout mixes what
//! the engine treats differently: a level wider than one page of sub-prefixes, a directory of
//! more than one page of keys, direct objects sorting between sub-prefixes (`w0500.txt`,
//! `w0500` next to `w0500/`), a directory marker key equal to its prefix, objects at the root,
//! deep nesting, and keys with spaces, unicode and punctuation. Totals are checked against a
//! brute-force sum of a plain listing.

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use std::collections::BTreeMap;
use trainctl_core::event::{CollectSink, Event};
use trainctl_core::review::{self, ReviewOptions};
use trainctl_core::s3::{list, Connection, S3Url};
use trainctl_testkit::S3Server;
use tokio_util::sync::CancellationToken;

mod common;

fn servers() -> Vec<&'static S3Server> {
    let mut v = vec![trainctl_testkit::shared_moto()];
    v.extend(trainctl_testkit::shared_garage_or_skip());
    v
}

fn layout() -> Vec<String> {
    let mut k: Vec<String> = Vec::new();
    // A level wider than one LIST page of sub-prefixes, with direct objects between them.
    k.extend((0..1050).map(|i| format!("wide/w{i:04}/x.bin")));
    k.extend(["wide/w0500.txt", "wide/w0500", "wide/w0500-b/y", "wide/w0999.z/q", "wide/a-first"].map(String::from));
    // One directory of more than one page of keys.
    k.extend((0..1100).map(|i| format!("huge/h/part-{i:05}")));
    k.push("huge/tiny/one".into());
    // A run whose checkpoints land in different ranges.
    k.extend((1..=40).flat_map(|s| [format!("runs/exp/checkpoint-{s}/model.bin"), format!("runs/exp/checkpoint-{s}/state.json")]));
    k.push("runs/exp/log.txt".into());
    // Root objects, deep nesting, odd characters, a directory marker.
    k.extend(["a.txt", "z", "deep/1/2/3/4/5/6/7/8/9/10/11/leaf", "deep/1/x"].map(String::from));
    k.extend(["odd/dir with space/ü.bin", "odd/a/", "odd/a/x", "odd/a.b/x", "odd/a-/y", "odd/a", "odd/+plus=eq#h%25/k", "odd/日本/データ"].map(String::from));
    k
}

/// Distinct, key-dependent sizes, so a key counted twice or missed changes the byte total.
fn size_of(key: &str) -> usize {
    1 + key.bytes().map(usize::from).sum::<usize>() % 61
}

async fn put_all(conn: &Connection, bucket: &str, keys: Vec<String>) {
    futures::stream::iter(keys)
        .map(|k| {
            let c = conn.client.clone();
            let b = bucket.to_string();
            async move {
                let body = vec![1u8; size_of(&k)];
                c.put_object().bucket(b).key(&k).body(ByteStream::from(body)).send().await.unwrap_or_else(|e| panic!("put {k}: {e:?}"))
            }
        })
        .buffer_unordered(48)
        .collect::<Vec<_>>()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn review_counts_every_key_once_across_levels_ranges_and_wide_pieces() {
    for server in servers() {
        let conn = common::connection_as(server, server.kind().name());
        let bucket = server.new_bucket("revrange");
        put_all(&conn, &bucket, layout()).await;
        let all = list::collect_objects(&conn, &bucket, "", None).await.unwrap();
        assert_eq!(all.len(), layout().len(), "{:?}: every key stored", server.kind());
        let brute_bytes: u64 = all.iter().map(|o| o.size).sum();
        let mut brute_top: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for o in &all {
            let top = o.key.find('/').map(|i| o.key[..=i].to_string()).unwrap_or_else(|| review::TOP_LEVEL.to_string());
            let e = brute_top.entry(top).or_default();
            e.0 += 1;
            e.1 += o.size;
        }

        let url = S3Url::parse(&format!("s3://{bucket}/")).unwrap();
        let mut reference = None;
        for concurrency in [1, 3, 8, 32] {
            let opts = ReviewOptions { concurrency, ..ReviewOptions::default() };
            let sink = CollectSink::default();
            let r = review::review(&conn, &url, &opts, &sink, &CancellationToken::new()).await.unwrap();
            let ctx = format!("{:?} concurrency {concurrency}", server.kind());
            assert_eq!((r.totals.objects, r.totals.bytes), (all.len() as u64, brute_bytes), "{ctx}");
            let by_prefix: BTreeMap<String, (u64, u64)> = r.by_prefix.iter().map(|g| (g.name.clone(), (g.objects, g.bytes))).collect();
            assert_eq!(by_prefix, brute_top, "{ctx}");
            let exp = r.by_run.iter().find(|x| x.run == "runs/exp/").unwrap_or_else(|| panic!("{ctx}: run found in {:?}", r.by_run));
            assert_eq!((exp.checkpoints, exp.checkpoint_objects, exp.total.objects), (40, 80, 81), "{ctx}");
            assert_eq!(exp.checkpoint_sizes.iter().map(|c| c.step.unwrap()).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>(), "{ctx}");
            // Ranges, not one LIST per directory: the 1,050 small directories are not 1,050 units.
            let units = sink.events().iter().rev().find_map(|e| if let Event::ReviewProgress { units_total, .. } = e { Some(*units_total) } else { None }).unwrap();
            eprintln!("{ctx}: {units} listing units");
            assert!(units <= 4 * concurrency as u64 + 20, "{ctx}: {units} listing units");
            let same = (r.totals.clone(), r.by_prefix.clone(), r.by_run.clone(), r.largest_prefixes.clone(), r.largest_objects.clone());
            match &reference {
                None => reference = Some(same),
                Some(first) => assert!(*first == same, "{ctx}: the same report at every concurrency"),
            }
        }

        // Below the root: only that prefix, relative names.
        let sub = S3Url::parse(&format!("s3://{bucket}/wide")).unwrap();
        let r = review::review(&conn, &sub, &ReviewOptions { concurrency: 8, ..ReviewOptions::default() }, &trainctl_core::event::NullSink, &CancellationToken::new()).await.unwrap();
        let wide: Vec<_> = all.iter().filter(|o| o.key.starts_with("wide/")).collect();
        assert_eq!((r.totals.objects, r.totals.bytes), (wide.len() as u64, wide.iter().map(|o| o.size).sum::<u64>()));
        assert_eq!(r.by_prefix.iter().find(|g| g.name == review::TOP_LEVEL).map(|g| g.objects), Some(3), "w0500.txt, w0500, a-first");
    }
}
