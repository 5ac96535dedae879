"""The Datasets view (issue #13) in the real webview, on moto.

test_datasets_view_lists_verifies_stages_and_compares
    Two versions of `mini` are snapshotted with the CLI (`trainctl dataset snapshot`, manifests in
    the bucket). In the app: the store lists mini@v1 and mini@v2; mini@v1's panel shows the digest
    the CLI printed; "Verify the source" passes; "Stage to a folder…" (the folder dialog's e2e
    stand-in answers with the downloads folder) writes mini-v1/ with the same bytes as the bucket;
    comparing with v2 shows the added and the changed file; an object overwritten after the
    snapshot makes "Verify the source" fail with that file listed as changed.
"""

import json
import os
import subprocess

import e2e
from webdriver import Session

BUCKET = "datasets-e2e"
FILES = {"train-000.tar": b"a" * 4096, "train-001.tar": b"b" * 3000, "val-000.tar": b"c" * 1500}


def cli(endpoint, work, *args):
    """`trainctl --json …` against moto with its own config (returns the last JSON line)."""
    from cases.dashboard import cli_bin  # noqa: E402  (the one place that finds the binary)

    cfg = os.path.join(work, "cli-datasets")
    os.makedirs(cfg, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRAINCTL_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_CONFIG_FILE=os.path.join(work, "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "no-aws-credentials"),
               AWS_EC2_METADATA_DISABLED="true", XDG_CONFIG_HOME=cfg, XDG_DATA_HOME=cfg, XDG_STATE_HOME=cfg, XDG_CACHE_HOME=cfg)
    out = subprocess.run([cli_bin(), "--endpoint-url", endpoint, "--json", *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"trainctl {' '.join(args)} → exit {out.returncode}: {out.stderr[-1500:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def list_store(s, endpoint, profile, bucket, ref):
    """Connects as `profile`, opens the Datasets view on the store `s3://bucket/` and waits
    until `ref` is listed."""
    e2e.connect_profile(s, endpoint, name=profile)
    e2e.nav(s, "datasets", "view-datasets")
    s.js("const el = document.querySelector('[data-testid=\"dataset-store\"]'); el.value = arguments[0]; el.dispatchEvent(new Event('input', {bubbles: true}));", f"s3://{bucket}/")
    s.click('[data-testid="dataset-list"]')
    s.wait(f'[data-testid="dataset-row"][data-ref="{ref}"]', timeout=30, what=f"{ref} listed")


def test_datasets_view_lists_verifies_stages_and_compares(driver_url, ctx):
    endpoint, work, s3 = ctx["moto"], ctx["work"], ctx["s3"]
    s3.create_bucket(Bucket=BUCKET)
    for k, v in FILES.items():
        s3.put_object(Bucket=BUCKET, Key=f"data/mini/{k}", Body=v)
    v1 = cli(endpoint, work, "dataset", "snapshot", f"s3://{BUCKET}/data/mini/", "--name", "mini")
    s3.put_object(Bucket=BUCKET, Key="data/mini/train-002.tar", Body=b"d" * 2048)
    s3.put_object(Bucket=BUCKET, Key="data/mini/val-000.tar", Body=b"C" * 1600)
    cli(endpoint, work, "dataset", "snapshot", f"s3://{BUCKET}/data/mini/", "--name", "mini")
    # v1 as it was, so the source verifies and stages: put v1's bytes back.
    s3.delete_object(Bucket=BUCKET, Key="data/mini/train-002.tar")
    s3.put_object(Bucket=BUCKET, Key="data/mini/val-000.tar", Body=FILES["val-000.tar"])
    digest = v1["manifest"]["digest"]
    assert digest and digest.startswith("sha256:"), v1

    s = Session(driver_url, e2e.APP)
    try:
        list_store(s, endpoint, "datasets", BUCKET, "mini@v2")
        refs = s.js("return [...document.querySelectorAll('[data-testid=\"dataset-row\"]')].map(r => r.dataset.ref)")
        assert sorted(refs) == ["mini@v1", "mini@v2"], refs
        s.click('[data-testid="dataset-row"][data-ref="mini@v1"] [data-testid="dataset-open"]')
        s.wait('[data-testid="dataset-digest"]', timeout=20, what="mini@v1's manifest")
        assert s.text('[data-testid="dataset-digest"]') == digest, (s.text('[data-testid="dataset-digest"]'), digest)
        ctx["asserts"].append(f"Datasets: s3://{BUCKET}/ lists mini@v1 and mini@v2 (snapshotted by the CLI); v1's digest is the CLI's")

        s.click('[data-testid="dataset-verify-source"]')
        s.wait('[data-testid="dataset-report"]', timeout=60, what="the verify report")
        assert s.attr('[data-testid="dataset-report"]', "data-passed") == "true", s.text('[data-testid="dataset-report"]')
        verdict = s.text('[data-testid="dataset-report"] .title')
        ctx["asserts"].append(f"Datasets: Verify the source passes: {verdict!r}")

        s.click('[data-testid="dataset-stage"]')
        s.wait('[data-testid="dataset-staged"]', timeout=90, what="the stage report")
        staged = os.path.join(ctx["download_dir"], "mini-v1")
        for k, v in FILES.items():
            assert open(os.path.join(staged, k), "rb").read() == v, k
        assert not os.path.exists(staged + ".partial"), "the partial folder is renamed into place"
        ctx["asserts"].append("Datasets: Stage to a folder writes mini-v1/ byte-identical to the bucket, verified, no .partial left")

        s.js("const el = document.querySelector('[data-testid=\"dataset-compare-to\"]'); el.value = 'v2'; el.dispatchEvent(new Event('change', {bubbles: true}));")
        s.click('[data-testid="dataset-compare"]')
        s.wait('[data-testid="dataset-diff"]', timeout=30, what="the diff")
        text = s.text('[data-testid="dataset-diff"]')
        assert "1 added" in text and "1 changed" in text and "train-002.tar" in text and "val-000.tar" in text, text
        ctx["asserts"].append(f"Datasets: v1 → v2 diff: {text.splitlines()[0]!r}")
        e2e.shot(s, "datasets")

        s3.put_object(Bucket=BUCKET, Key="data/mini/train-001.tar", Body=b"B" * 3000)  # same size, other bytes
        s.click('[data-testid="dataset-verify-source"]')
        s.wait('[data-testid="dataset-report"][data-passed="false"]', timeout=60, what="the failed verify report")
        problems = s.text('[data-testid="dataset-problems"]')
        assert "train-001.tar" in problems and "changed" in problems, problems
        e2e.shot(s, "datasets-verify-failed")
        ctx["asserts"].append("Datasets: an object overwritten after the snapshot (same size) fails Verify the source at checksum, listed as changed")
    finally:
        s.quit()
        e2e.wait_app_exit()


ZREFS_BUCKET = "datasets-zrefs-e2e"


def compressible(tag, size):
    """Text-like bytes that zstd shrinks several times, distinct per tag."""
    out, i = bytearray(), 0
    while len(out) < size:
        out += f"{tag} step {i} loss {(i * 7919) % 1000} lr {(i * 31) % 97}\n".encode()
        i += 1
    return bytes(out[:size])


def test_datasets_view_shows_compressed_references_at_their_file_and_stored_sizes(driver_url, ctx):
    """A run uploaded with `--dedup=refs --compress zstd` (a 600 KB file held three times, one
    compressed content object), snapshotted by the CLI: the panel says the files' size and how
    much of it is stored compressed, each file row names its stored size; Stage writes the
    decoded files (byte-identical) and its report tells the bytes on disk from the compressed
    bytes downloaded."""
    endpoint, work, s3 = ctx["moto"], ctx["work"], ctx["s3"]
    s3.create_bucket(Bucket=ZREFS_BUCKET)
    run = os.path.join(work, "zrefs-run")
    files = {f"checkpoint-{n}/tower.bin": compressible("tower", 600_000) for n in (1, 2, 3)}
    files["notes.txt"] = compressible("notes", 900)
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(run, rel)), exist_ok=True)
        with open(os.path.join(run, rel), "wb") as f:
            f.write(data)
    cli(endpoint, work, "s3", "upload", "-r", run, f"s3://{ZREFS_BUCKET}/zrun/", "--dedup=refs", "--compress", "zstd")
    cli(endpoint, work, "dataset", "snapshot", f"s3://{ZREFS_BUCKET}/zrun/", "--name", "zrun", "--version", "v1")

    s = Session(driver_url, e2e.APP)
    try:
        list_store(s, endpoint, "zrefs", ZREFS_BUCKET, "zrun@v1")
        s.click('[data-testid="dataset-row"][data-ref="zrun@v1"] [data-testid="dataset-open"]')
        s.wait('[data-testid="dataset-stored"]', timeout=20, what="the stored size of compressed references")
        stored = s.text('[data-testid="dataset-stored"]')
        assert "compressed" in stored and "3 files" in stored, stored
        rows = s.js("return [...document.querySelectorAll('[data-testid=\"dataset-file\"]')].map(r => r.innerText)")
        tower = [r for r in rows if "tower.bin" in r]
        assert len(tower) == 3 and all("stored" in r and "zstd" in r for r in tower), rows
        e2e.shot(s, "datasets-compressed")
        ctx["asserts"].append(f"Datasets: compressed references read as files with their stored size: {stored!r}")

        s.click('[data-testid="dataset-stage"]')
        s.wait('[data-testid="dataset-staged"]', timeout=90, what="the stage report")
        staged = os.path.join(ctx["download_dir"], "zrun-v1")
        for rel, data in files.items():
            assert open(os.path.join(staged, rel), "rb").read() == data, rel
        leftovers = [f for _, _, fs in os.walk(staged) for f in fs if f.endswith((".zst", ".tcz", ".trainctl-ref"))]
        assert not leftovers, leftovers
        title = s.text('[data-testid="dataset-staged"] .title')
        assert "on disk" in title and "downloaded" in title, title
        e2e.shot(s, "datasets-compressed-staged")
        ctx["asserts"].append(f"Datasets: a compressed-references stage writes the decoded files byte-identical: {title!r}")
    finally:
        s.quit()
        e2e.wait_app_exit()
