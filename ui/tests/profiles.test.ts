import { describe, expect, it } from 'vitest';
import { describeCredentials, emptyForm, normalizeForm, validateForm } from '../src/lib/profiles';

const good = { name: 'lab-minio', provider: 'minio', endpoint_url: 'https://minio.lab:9000', region: 'us-east-1', access_key_id: 'AK', secret_access_key: 's' };

describe('validateForm', () => {
  it('accepts a complete form', () => expect(validateForm(good)).toEqual({}));
  it('asks for every required field of an empty form', () => {
    expect(Object.keys(validateForm({ ...emptyForm(), provider: 'minio' })).sort()).toEqual(['access_key_id', 'endpoint_url', 'name', 'secret_access_key']);
  });
  it('does not need an endpoint for AWS', () => expect(validateForm({ ...good, provider: 'aws', endpoint_url: null })).toEqual({}));
  it('rejects an endpoint without a scheme', () => expect(validateForm({ ...good, endpoint_url: 'minio.lab:9000' }).endpoint_url).toMatch(/http/));
  it('rejects names with spaces', () => expect(validateForm({ ...good, name: 'my lab' }).name).toBeDefined());
});

describe('normalizeForm', () => {
  it('trims and turns empty optional fields into null', () => {
    expect(normalizeForm({ ...good, name: ' x ', endpoint_url: ' ', region: '', access_key_id: ' AK ' })).toMatchObject({ name: 'x', endpoint_url: null, region: null, access_key_id: 'AK' });
  });
  it('never trims the secret', () => expect(normalizeForm({ ...good, secret_access_key: ' s ' }).secret_access_key).toBe(' s '));
});

describe('describeCredentials', () => {
  it('says where credentials come from, never a secret', () => {
    expect(describeCredentials({ type: 'aws_chain' })).toBe('AWS default chain');
    expect(describeCredentials({ type: 'aws_profile', name: 'sso' })).toBe('AWS profile sso');
    expect(describeCredentials({ type: 'keychain', access_key_id: 'AK' })).toContain('AK');
  });
});
