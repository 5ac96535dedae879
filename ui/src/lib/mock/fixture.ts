/**
 * The in-memory demo data the `?mock` mode serves: the same training layout the shell's embedded
 * demo seeds (two runs with HF `checkpoint-N/` dirs and Lightning `.ckpt` files, logs, a dataset
 * prefix) plus a 100k-object prefix for the virtual list.
 */

import type { AppNotification, BucketSummary, ObjectEntry, ProfileSummary, TransferRecord } from '../types';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Deterministic pseudo-random numbers so screenshots are stable. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function obj(key: string, size: number, ageSecs: number, now: number, storage_class: string | null = 'STANDARD'): ObjectEntry {
  return { key, size: Math.round(size), last_modified: Math.round(now - ageSecs), etag: `"${(key.length * 7919 + size).toString(16)}"`, storage_class, is_prefix: false };
}

function hfCheckpoint(run: string, step: number, age: number, now: number): ObjectEntry[] {
  const d = `runs/${run}/checkpoint-${step}/`;
  return [
    obj(`${d}config.json`, 1_284, age, now),
    obj(`${d}generation_config.json`, 187, age, now),
    obj(`${d}model-00001-of-00002.safetensors`, 4.63 * GiB, age, now),
    obj(`${d}model-00002-of-00002.safetensors`, 1.98 * GiB, age, now),
    obj(`${d}model.safetensors.index.json`, 23_950, age, now),
    obj(`${d}optimizer.pt`, 13.2 * GiB, age, now),
    obj(`${d}rng_state.pth`, 14_244, age, now),
    obj(`${d}scheduler.pt`, 1_064, age, now),
    obj(`${d}trainer_state.json`, 8_412 + step, age, now),
    obj(`${d}training_args.bin`, 5_368, age, now),
  ];
}

/** All objects of the demo buckets, keyed by bucket. */
export function demoObjects(now: number): Map<string, ObjectEntry[]> {
  const h = 3600;
  const training: ObjectEntry[] = [];
  const llama = 'llama3-8b-sft-2026-11';
  [500, 1000, 1500, 2000].forEach((step, i) => training.push(...hfCheckpoint(llama, step, (4 - i) * 5 * h, now)));
  training.push(obj(`runs/${llama}/logs/train.log`, 2.4 * MiB, 120, now), obj(`runs/${llama}/logs/eval.jsonl`, 88_120, 900, now));
  training.push(obj(`runs/${llama}/README.md`, 3_412, 26 * h, now));
  const resnet = 'resnet50-ablation-lr3e-4';
  for (let epoch = 0; epoch < 8; epoch++) {
    training.push(obj(`runs/${resnet}/lightning_logs/version_0/checkpoints/epoch=${epoch}-step=${(epoch + 1) * 1250}.ckpt`, 294 * MiB, (60 - epoch * 6) * h, now));
  }
  training.push(obj(`runs/${resnet}/lightning_logs/version_0/checkpoints/last.ckpt`, 294 * MiB, 12 * h, now));
  training.push(obj(`runs/${resnet}/lightning_logs/version_0/hparams.yaml`, 912, 61 * h, now));
  training.push(obj(`runs/${resnet}/lightning_logs/version_0/metrics.csv`, 412_003, 12 * h, now));
  const r = rng(42);
  for (let i = 0; i < 64; i++) {
    training.push(obj(`datasets/fineweb-edu-sample/shard-${String(i).padStart(5, '0')}.parquet`, (480 + r() * 80) * MiB, 30 * 86400 + i * 60, now, i < 48 ? 'STANDARD_IA' : 'STANDARD'));
  }
  training.push(obj('datasets/fineweb-edu-sample/_manifest.json', 18_221, 30 * 86400, now));
  for (let i = 0; i < 100_000; i++) {
    training.push(obj(`datasets/tokenized-100k/part-${String(i).padStart(6, '0')}.bin`, 4 * MiB + Math.floor(r() * 8 * MiB), 9 * 86400 + i, now, i % 5 === 0 ? 'INTELLIGENT_TIERING' : 'STANDARD'));
  }
  training.push(obj('README.md', 2_048, 40 * 86400, now));

  const archive: ObjectEntry[] = [];
  for (let i = 0; i < 12; i++) {
    archive.push(obj(`2025/gpt2-medium-repro/checkpoint-${(i + 1) * 10000}.tar`, 2.7 * GiB, (200 + i * 7) * 86400, now, 'GLACIER'));
  }
  archive.push(obj('2025/gpt2-medium-repro/final/model.safetensors', 1.42 * GiB, 150 * 86400, now, 'DEEP_ARCHIVE'));

  return new Map([
    ['demo-training', training],
    ['archive-2025', archive],
    ['scratch', []],
  ]);
}

/** Bucket summaries computed from the objects (the shell computes these with a bounded count). */
export function summarize(objects: Map<string, ObjectEntry[]>, now: number): BucketSummary[] {
  return [...objects.entries()].map(([name, list], i) => ({
    name,
    created: Math.round(now - (90 - i * 20) * 86400),
    object_count: list.length,
    bytes: list.reduce((a, o) => a + o.size, 0),
  }));
}

export function demoProfiles(): ProfileSummary[] {
  return [
    { name: 'demo', origin: 'trainctl', provider: 'garage', endpoint_url: 'http://127.0.0.1:39000', region: 'garage', credentials: { type: 'keychain', access_key_id: 'GKdemo0a1b2c3d4e5f' }, secret_stored: true },
    { name: 'lab-minio', origin: 'trainctl', provider: 'minio', endpoint_url: 'https://minio.lab.internal:9000', region: 'us-east-1', credentials: { type: 'keychain', access_key_id: 'researcher' }, secret_stored: true },
    { name: 'default', origin: 'aws', provider: 'aws', endpoint_url: null, region: 'eu-west-1', credentials: { type: 'aws_profile', name: 'default' }, secret_stored: false },
    { name: 'sso-ml-platform', origin: 'aws', provider: 'aws', endpoint_url: null, region: 'us-west-2', credentials: { type: 'aws_profile', name: 'sso-ml-platform' }, secret_stored: false },
  ];
}

function record(partial: Partial<TransferRecord> & Pick<TransferRecord, 'job' | 'label'>): TransferRecord {
  return {
    direction: 'upload', bucket: 'demo-training', prefix: '', dest_dir: null, state: 'done', engine: 's5cmd',
    bytes_done: 0, bytes_total: 0, objects_done: 0, objects_total: 0, objects_failed: 0, objects_skipped: 0,
    bytes_per_sec: 0, eta_secs: null, started_at: 0, finished_at: null, failures: [], error: null, ...partial,
  };
}

export function demoHistory(now: number): TransferRecord[] {
  return [
    record({ job: 1, label: 'checkpoint-1500/', prefix: 'runs/llama3-8b-sft-2026-11/', bytes_total: 19.8 * GiB, bytes_done: 19.8 * GiB, objects_total: 10, objects_done: 10, started_at: now - 5 * 3600 - 310, finished_at: now - 5 * 3600, bytes_per_sec: 65 * MiB }),
    record({
      job: 2, label: 'eval-outputs/ (214 files)', prefix: 'runs/resnet50-ablation-lr3e-4/', state: 'partial', bytes_total: 1.1 * GiB, bytes_done: 1.09 * GiB,
      objects_total: 214, objects_done: 212, objects_failed: 2, started_at: now - 3 * 3600 - 40, finished_at: now - 3 * 3600, bytes_per_sec: 28 * MiB, engine: 'native',
      failures: [
        { key: 'runs/resnet50-ablation-lr3e-4/eval-outputs/preds-0193.npy', error: { code: 'local_missing', message: 'local path /scratch/eval-outputs/preds-0193.npy does not exist', hint: 'check the path; use an absolute path if in doubt', exit_code: 13 } },
        { key: 'runs/resnet50-ablation-lr3e-4/eval-outputs/preds-0194.npy', error: { code: 'local_io', message: '/scratch/eval-outputs/preds-0194.npy: permission denied', hint: 'check permissions on the path', exit_code: 15 } },
      ],
    }),
    record({ job: 3, direction: 'download', label: 'last.ckpt', prefix: '', dest_dir: '/home/researcher/ckpts', bytes_total: 294 * MiB, bytes_done: 294 * MiB, objects_total: 1, objects_done: 1, started_at: now - 2 * 3600 - 9, finished_at: now - 2 * 3600, bytes_per_sec: 32 * MiB }),
  ];
}

export function demoNotifications(now: number): AppNotification[] {
  return [
    { id: 1, level: 'success', title: 'Upload finished', body: 'checkpoint-1500/ → s3://demo-training/runs/llama3-8b-sft-2026-11/ (19.8 GiB in 5 min 10 s)', at: now - 5 * 3600, job: 1 },
    { id: 2, level: 'warning', title: 'Upload finished with 2 failures', body: 'eval-outputs/: 212 of 214 files uploaded; 2 could not be read', at: now - 3 * 3600, job: 2 },
    { id: 3, level: 'success', title: 'Download finished', body: 'last.ckpt → /home/researcher/ckpts (294 MiB)', at: now - 2 * 3600, job: 3 },
  ];
}
