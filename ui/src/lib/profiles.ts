/**
 * The add-connection form's rules: provider presets, validation, and how a profile's
 * credential source is described in words. Pure, so the form's behaviour is unit-tested.
 */

import type { CredentialSource, ProfileForm } from './types';

export interface ProviderPreset {
  id: string;
  label: string;
  /** Placeholder for the endpoint field; `null` = no endpoint needed (AWS). */
  endpoint: string | null;
  region: string;
}

/** Provider ids match `data/quirks/providers.toml` in the core. */
export const PROVIDERS: ProviderPreset[] = [
  { id: 'aws', label: 'Amazon S3', endpoint: null, region: 'us-east-1' },
  { id: 'r2', label: 'Cloudflare R2', endpoint: 'https://<account>.r2.cloudflarestorage.com', region: 'auto' },
  { id: 'minio', label: 'MinIO', endpoint: 'https://minio.example.org:9000', region: 'us-east-1' },
  { id: 'garage', label: 'Garage', endpoint: 'http://127.0.0.1:3900', region: 'garage' },
  { id: 'b2', label: 'Backblaze B2', endpoint: 'https://s3.<region>.backblazeb2.com', region: 'us-west-004' },
  { id: 'other', label: 'Other S3-compatible', endpoint: 'https://s3.example.org', region: 'us-east-1' },
];

export function emptyForm(): ProfileForm {
  return { name: '', provider: 'aws', endpoint_url: null, region: 'us-east-1', access_key_id: '', secret_access_key: '' };
}

/** Field → problem, for fields that cannot be sent as they are. Empty when the form is usable. */
export function validateForm(f: ProfileForm): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(f.name)) errors.name = 'Use letters, digits, dot, dash or underscore (e.g. lab-minio).';
  const preset = PROVIDERS.find((p) => p.id === f.provider);
  const endpoint = (f.endpoint_url ?? '').trim();
  if (preset?.endpoint && !endpoint) errors.endpoint_url = `${preset.label} needs an endpoint URL.`;
  if (endpoint && !/^https?:\/\/[^\s/]+/.test(endpoint)) errors.endpoint_url = 'Write it as http://host:port or https://host.';
  if (!f.access_key_id.trim()) errors.access_key_id = 'The access key id is required.';
  if (!f.secret_access_key) errors.secret_access_key = 'The secret is required (it is stored in the OS keychain).';
  return errors;
}

/** The form as sent: trimmed, with an empty endpoint/region as `null`. */
export function normalizeForm(f: ProfileForm): ProfileForm {
  const t = (s: string | null) => (s && s.trim() ? s.trim() : null);
  return { ...f, name: f.name.trim(), endpoint_url: t(f.endpoint_url), region: t(f.region), access_key_id: f.access_key_id.trim() };
}

/** "Keychain (key AKIA…)", "AWS profile sso-ml", "AWS default chain". */
export function describeCredentials(c: CredentialSource): string {
  switch (c.type) {
    case 'aws_chain':
      return 'AWS default chain';
    case 'aws_profile':
      return `AWS profile ${c.name}`;
    case 'keychain':
      return `OS keychain · key ${c.access_key_id}`;
  }
}
