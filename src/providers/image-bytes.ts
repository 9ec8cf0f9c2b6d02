/**
 * What an encoded image is, read from its first bytes: format and pixel size of PNG,
 * JPEG and WebP, so a provider's result can say the size it actually made. Browser-safe
 * (no Node imports); base64 is decoded with `atob`.
 */
import { encodePng, type RgbImage } from '../pipeline/image.ts';
import type { OutputFormat } from '../api-types.ts';

/** Format and size of an encoded image. */
export interface ImageInfo {
  format: OutputFormat;
  mime: 'image/png' | 'image/jpeg' | 'image/webp';
  /** Pixels; 0 when the header could not be read to the size. */
  width: number;
  height: number;
}

/** Reads format and size from encoded bytes; undefined when they are not PNG, JPEG or WebP. */
export function sniffImage(bytes: Uint8Array): ImageInfo | undefined {
  return sniffPng(bytes) ?? sniffJpeg(bytes) ?? sniffWebp(bytes);
}

/** Standard base64 of `bytes` (in slices, so large pictures do not overflow the call stack). */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** A picture as PNG bytes in a Blob (image/png), as the edit endpoints take a file. */
export function pngBlobOf(image: RgbImage): Blob {
  return new Blob([encodePng(image) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
}

/** A picture as a PNG `data:` URL, as the hosted APIs take inline pictures. */
export function pngDataUrlOf(image: RgbImage): string {
  return `data:image/png;base64,${encodeBase64(encodePng(image))}`;
}

/** Decodes standard or URL-safe base64 (a `data:` URL prefix is allowed) into bytes. */
export function decodeBase64(text: string): Uint8Array {
  const comma = text.startsWith('data:') ? text.indexOf(',') : -1;
  const clean = text.slice(comma + 1).replace(/[\s]/g, '').replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(clean);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function sniffPng(b: Uint8Array): ImageInfo | undefined {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length < 8 || signature.some((v, i) => b[i] !== v)) return undefined;
  // IHDR is the first chunk: length(4) 'IHDR'(4) width(4) height(4).
  const ok = b.length >= 24 && b[12] === 0x49 && b[13] === 0x48 && b[14] === 0x44 && b[15] === 0x52;
  return { format: 'png', mime: 'image/png', width: ok ? u32be(b, 16) : 0, height: ok ? u32be(b, 20) : 0 };
}

function sniffJpeg(b: Uint8Array): ImageInfo | undefined {
  if (b.length < 3 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) return undefined;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return { format: 'jpeg', mime: 'image/jpeg', width: 0, height: 0 };
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    // Start-of-frame markers carry the size; C4 (DHT), C8 (JPG), CC (DAC) are not frames.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { format: 'jpeg', mime: 'image/jpeg', height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  return { format: 'jpeg', mime: 'image/jpeg', width: 0, height: 0 };
}

function sniffWebp(b: Uint8Array): ImageInfo | undefined {
  if (b.length < 16 || ascii(b, 0, 4) !== 'RIFF' || ascii(b, 8, 4) !== 'WEBP') return undefined;
  const chunk = ascii(b, 12, 4);
  const info: ImageInfo = { format: 'webp', mime: 'image/webp', width: 0, height: 0 };
  if (chunk === 'VP8 ' && b.length >= 30) {
    info.width = (b[26] | (b[27] << 8)) & 0x3fff;
    info.height = (b[28] | (b[29] << 8)) & 0x3fff;
  } else if (chunk === 'VP8L' && b.length >= 25) {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    info.width = (bits & 0x3fff) + 1;
    info.height = ((bits >>> 14) & 0x3fff) + 1;
  } else if (chunk === 'VP8X' && b.length >= 30) {
    info.width = 1 + (b[24] | (b[25] << 8) | (b[26] << 16));
    info.height = 1 + (b[27] | (b[28] << 8) | (b[29] << 16));
  }
  return info;
}

function u32be(b: Uint8Array, at: number): number {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
}

function ascii(b: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...b.subarray(at, at + length));
}
