/** The provider-independent pieces: Retry-After, key routing, image sniffing, size fitting, factory, errors. */
import { describe, expect, it } from 'vitest';
import { encode } from 'fast-png';
import { InvalidParameterError, ProviderProtocolError, RateLimitedError, rebuildError, ResultExpiredError } from '../../src/errors.ts';
import { createProvider, PROVIDER_INFO } from '../../src/providers/index.ts';
import { decodeBase64, sniffImage } from '../../src/providers/image-bytes.ts';
import { describeUrl, mayReceiveKey, parseRetryAfter, RemoteCall, resolveSettings, retryAfterFromHeaders } from '../../src/providers/remote-call.ts';
import { Adjustments, aspectRatioText, fitSides, nearestSizeIndex, pickSize } from '../../src/providers/request-mapping.ts';
import { startFakeProvider } from '../support/fake-providers.ts';
import { KEY, rejection, request } from './helpers.ts';

describe('Retry-After', () => {
  it('reads delay-seconds (fractions too) and HTTP dates', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter('0.2', now)).toBe(200);
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('prefers Retry-After-Ms when a gateway sends it', () => {
    expect(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '250', 'retry-after': '5' }))).toBe(250);
    expect(retryAfterFromHeaders(new Headers({ 'retry-after': '5' }))).toBe(5000);
    expect(retryAfterFromHeaders(new Headers())).toBeUndefined();
  });
});

describe('where the key may go', () => {
  const hosts = PROVIDER_INFO.bfl.keyHosts;
  it('to the base URL host on any port, and over https to the provider’s own hosts', () => {
    expect(mayReceiveKey('https://api.bfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', hosts)).toBe(true);
    expect(mayReceiveKey('https://api.eu1.bfl.ai/v1/get_result?id=1', 'https://api.bfl.ai', hosts)).toBe(true);
    expect(mayReceiveKey('http://127.0.0.1:9999/poll', 'http://127.0.0.1:8888', hosts)).toBe(true);
  });
  it('never to other hosts, to http look-alikes, or to suffix tricks', () => {
    expect(mayReceiveKey('https://evil.example/v1/get_result', 'https://api.bfl.ai', hosts)).toBe(false);
    expect(mayReceiveKey('http://api.eu1.bfl.ai/v1/get_result', 'https://api.bfl.ai', hosts)).toBe(false);
    expect(mayReceiveKey('https://notbfl.ai/x', 'https://api.bfl.ai', hosts)).toBe(false);
    expect(mayReceiveKey('https://bfl.ai.evil.example/x', 'https://api.bfl.ai', hosts)).toBe(false);
    expect(mayReceiveKey('https://delivery-eu1.bfl.ai.evil/x', 'https://api.bfl.ai', hosts)).toBe(false);
    expect(mayReceiveKey('not a url', 'https://api.bfl.ai', hosts)).toBe(false);
  });
  it('URLs in messages lose their query (signed URLs carry secrets there)', () => {
    expect(describeUrl('https://delivery.bfl.ai/x/sample.jpg?se=1&sig=SECRET')).toBe('https://delivery.bfl.ai/x/sample.jpg');
  });
  it('the key is not an enumerable part of a provider (logging one does not print it)', () => {
    const provider = createProvider({ kind: 'bfl', apiKey: KEY });
    expect(JSON.stringify(provider)).not.toContain(KEY);
  });
});

describe('image bytes', () => {
  it('reads PNG size and type', () => {
    const png = encode({ width: 33, height: 17, data: new Uint8Array(33 * 17 * 3), channels: 3, depth: 8 });
    expect(sniffImage(png)).toEqual({ format: 'png', mime: 'image/png', width: 33, height: 17 });
  });
  it('reads JPEG size from the frame header', () => {
    // SOI, APP0 (length 16), SOF0 (height 600, width 800).
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, ...new Array(14).fill(0), 0xff, 0xc0, 0, 17, 8, 0x02, 0x58, 0x03, 0x20, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(sniffImage(jpeg)).toEqual({ format: 'jpeg', mime: 'image/jpeg', width: 800, height: 600 });
  });
  it('reads WebP (VP8X) size', () => {
    const webp = new Uint8Array(30);
    webp.set([...'RIFF'].map((c) => c.charCodeAt(0)), 0);
    webp.set([...'WEBPVP8X'].map((c) => c.charCodeAt(0)), 8);
    webp.set([0xff, 0x03, 0x00, 0xff, 0x02, 0x00], 24); // 1024 x 768, minus one each
    expect(sniffImage(webp)).toEqual({ format: 'webp', mime: 'image/webp', width: 1024, height: 768 });
  });
  it('rejects other bytes; decodes base64 and data: URLs', () => {
    expect(sniffImage(new TextEncoder().encode('<html>'))).toBeUndefined();
    expect([...decodeBase64('AQID')]).toEqual([1, 2, 3]);
    expect([...decodeBase64('data:image/png;base64,AQID')]).toEqual([1, 2, 3]);
  });
});

describe('fitting sizes', () => {
  it('nearest aspect first, then area', () => {
    const sizes = [
      { width: 1024, height: 1024 },
      { width: 512, height: 512 },
      { width: 1344, height: 768 },
    ];
    expect(nearestSizeIndex({ width: 600, height: 600 }, sizes)).toBe(1);
    expect(nearestSizeIndex({ width: 900, height: 900 }, sizes)).toBe(0);
    expect(nearestSizeIndex({ width: 1600, height: 900 }, sizes)).toBe(2);
  });
  it('notes the change, or refuses it in strict mode', () => {
    const loose = new Adjustments('X', false);
    expect(pickSize(loose, { width: 1000, height: 1000 }, [{ width: 1024, height: 1024 }], 'X has 1 size')).toEqual({ width: 1024, height: 1024 });
    expect(loose.notes).toEqual(['size 1000x1000 → 1024x1024 (X has 1 size)']);
    expect(() => fitSides(new Adjustments('X', true), { width: 1024, height: 1000 }, { multiple: 32, min: 256, max: 1440 })).toThrow(/height must be a multiple of 32 from 256 to 1440 for X/);
  });
  it('aspect ratios are reduced and clamped', () => {
    expect(aspectRatioText({ width: 1024, height: 768 })).toBe('4:3');
    expect(aspectRatioText({ width: 1440, height: 256 }, { min: [9, 21], max: [21, 9] })).toBe('21:9');
    expect(aspectRatioText({ width: 256, height: 1440 }, { min: [9, 21], max: [21, 9] })).toBe('9:21');
  });
});

describe('createProvider', () => {
  it('builds every kind with its id and label', () => {
    for (const kind of Object.keys(PROVIDER_INFO) as (keyof typeof PROVIDER_INFO)[]) {
      const provider = createProvider({ kind, apiKey: KEY, baseUrl: 'https://proxy.example/api' });
      expect(provider.id).toBe(kind);
      expect(provider.label).toBe(PROVIDER_INFO[kind].label);
    }
    expect(createProvider({ kind: 'openai', baseUrl: 'https://a.example', id: 'together', label: 'Together' })).toMatchObject({ id: 'together', label: 'Together' });
  });
  it('refuses unknown kinds, bad base URLs and keys (without echoing the key)', () => {
    expect(() => createProvider({ kind: 'nope' as 'bfl' })).toThrow(InvalidParameterError);
    expect(() => createProvider({ kind: 'bfl', baseUrl: 'ftp://x.example' })).toThrow(/baseUrl/);
    expect(() => createProvider({ kind: 'bfl', baseUrl: '/relative' })).toThrow(/baseUrl/);
    expect(() => createProvider({ kind: 'bfl', baseUrl: 'https://user:pw@x.example' })).toThrow(/without credentials/);
    let message = '';
    try {
      createProvider({ kind: 'bfl', apiKey: 'bad key\nwith newline' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('apiKey');
    expect(message).not.toContain('newline');
    expect(() => createProvider({ kind: 'bfl', timeoutMs: -1 })).toThrow(/timeoutMs/);
  });
  it('checks the common request before sending anything', async () => {
    const fake = await startFakeProvider('fal');
    try {
      const provider = createProvider({ kind: 'fal', baseUrl: fake.baseUrl });
      for (const bad of [{ prompt: '' }, { width: 0 }, { numImages: 5 }, { seed: -1 }, { steps: 0 }, { outputFormat: 'gif' as 'png' }]) {
        expect(await rejection(provider.generate(request(bad)))).toBeInstanceOf(InvalidParameterError);
      }
      expect(fake.requests).toHaveLength(0);
    } finally {
      await fake.close();
    }
  });
});

describe('result images are fetched once', () => {
  it('a second fetch of an image that expires after the first is ResultExpiredError', async () => {
    const fake = await startFakeProvider('monica', { imageExpiry: { afterFetches: 1, status: 403 } });
    try {
      const provider = createProvider({ kind: 'monica', baseUrl: fake.baseUrl, pollIntervalMs: 1 });
      const result = await provider.generate(request({ width: 1024, height: 1024 }));
      expect(result.images).toHaveLength(1);
      const [image] = fake.phase('image');
      const call = new RemoteCall(resolveSettings({ kind: 'monica', baseUrl: fake.baseUrl }, PROVIDER_INFO.monica, () => ({ name: 'authorization', value: 'x' })));
      try {
        const error = await rejection(call.image(`${fake.baseUrl}${image.url}`, 0, 1));
        expect(error).toBeInstanceOf(ResultExpiredError);
        expect(error.message).not.toContain('SECRET-SIGNATURE');
      } finally {
        call.dispose();
      }
    } finally {
      await fake.close();
    }
  });

  it('bytes that are not an image: ProviderProtocolError naming image', async () => {
    const call = new RemoteCall(resolveSettings({ kind: 'fal' }, PROVIDER_INFO.fal, () => ({ name: 'authorization', value: 'x' })));
    try {
      const error = await rejection(call.image('data:text/html,<html>hello</html>', 0, 1));
      expect(error).toBeInstanceOf(ProviderProtocolError);
      expect(error.field).toBe('image');
    } finally {
      call.dispose();
    }
  });
});

describe('errors cross worker boundaries', () => {
  it('rebuildError knows the provider errors', () => {
    const rebuilt = rebuildError({ name: 'RateLimitedError', message: 'slow down' });
    expect(rebuilt).toBeInstanceOf(RateLimitedError);
    expect(rebuildError({ name: 'ContentModeratedError', message: 'x' }).name).toBe('ContentModeratedError');
    expect(new ProviderProtocolError('m', 'bfl', 'polling_url')).toMatchObject({ name: 'ProviderProtocolError', provider: 'bfl', field: 'polling_url' });
  });
});
