import { PayloadTooLargeError } from './errors.ts';

/**
 * Reading a Web body (a Request's or a Response's) with a size limit, so nothing untrusted is ever
 * buffered whole: JSON request bodies of the server, the adapters' form-token check, the
 * breached-password answer.
 */

/** What readBodyLimited reads: a Request or a Response. */
export interface BodySource {
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
}

/**
 * The whole body, or 413 PayloadTooLargeError past `limitBytes`: by Content-Length up front
 * (nothing read), else as soon as more than that has streamed in (the stream is then cancelled).
 */
export function readBodyLimited(
  message: BodySource,
  limitBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (Number(message.headers.get('content-length')) > limitBytes) {
    return Promise.reject(new PayloadTooLargeError(limitBytes));
  }
  return readLimited(message.body, limitBytes);
}

async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel();
        throw new PayloadTooLargeError(limit);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, size);
}
