//! The kit's servers really start, serve S3, and keep tests apart.

use trainctl_testkit::{allow_skip, shared_garage_or_skip, shared_moto, start_moto, Kind, S3Server};

fn exercise(server: &S3Server) {
    let bucket = server.new_bucket("kit smoke");
    server.put_object(&bucket, "dir/a.bin", b"alpha".to_vec());
    server.put_object(&bucket, "dir/sub/b.bin", vec![7u8; 10_000]);
    server.put_object(&bucket, "other", b"".to_vec());
    assert_eq!(server.list_keys(&bucket, "dir/"), vec!["dir/a.bin", "dir/sub/b.bin"]);
    assert_eq!(server.get_object(&bucket, "dir/sub/b.bin"), vec![7u8; 10_000]);
    assert!(server.try_get_object(&bucket, "missing").is_err());
    assert!(server.list_multipart_uploads(&bucket).is_empty());
}

#[test]
fn moto_starts_and_serves_buckets() {
    let server = shared_moto();
    assert_eq!(server.kind(), Kind::Moto);
    assert_eq!(server.region(), "us-east-1");
    exercise(server);
}

#[test]
fn each_bucket_is_new_and_empty() {
    let server = shared_moto();
    let (a, b) = (server.new_bucket("same"), server.new_bucket("same"));
    assert_ne!(a, b);
    server.put_object(&a, "k", b"x".to_vec());
    assert!(server.list_keys(&b, "").is_empty());
}

#[test]
fn env_carries_endpoint_and_credentials() {
    let server = shared_moto();
    let env: std::collections::HashMap<_, _> = server.env().into_iter().collect();
    assert_eq!(env["AWS_ENDPOINT_URL"], server.endpoint_url());
    assert_eq!(env["AWS_ACCESS_KEY_ID"], server.access_key());
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], server.secret_key());
    assert_eq!(env["AWS_REGION"], server.region());
}

#[tokio::test]
async fn client_works_from_an_async_test() {
    let server = shared_moto();
    let bucket = server.new_bucket("async");
    server.put_object(&bucket, "k", b"v".to_vec());
    let out = server.client().head_object().bucket(&bucket).key("k").send().await.unwrap();
    assert_eq!(out.content_length(), Some(1));
}

#[test]
fn dropping_a_server_stops_it() {
    let server = start_moto().unwrap();
    let addr = server.socket_addr();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err(), "moto still listening on {addr}");
}

#[test]
fn garage_starts_and_serves_buckets() {
    let Some(server) = shared_garage_or_skip() else {
        assert!(allow_skip());
        return;
    };
    assert_eq!(server.kind(), Kind::Garage);
    assert_eq!(server.region(), "garage");
    exercise(server);
}
