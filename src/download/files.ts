import { constants, type FileHandle, open, realpath } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { isPlainName } from '../tokens/resource.ts';

/**
 * Finding a requested file under the download root so that nothing outside it can be reached:
 * the request path is split into segments and each is percent-decoded exactly once (so
 * `%252e%252e` stays the literal name `%2e%2e`), every segment must be a plain name (no `..`,
 * `/`, `\`, NUL), and the joined path is resolved with realpath and must still lie under the
 * root's own realpath (a symlink pointing out is refused). The file is then opened without
 * following a final symlink and must be a regular file.
 */

/** URL path prefix of downloads. */
export const FILES_PREFIX = '/files/';

/** The decoded segments of a `/files/…` request target, or null when it names nothing safe. */
export function filesPathSegments(target: string): string[] | null {
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  if (!path.startsWith(FILES_PREFIX) || path.length > 4096) return null;
  const segments: string[] = [];
  for (const raw of path.slice(FILES_PREFIX.length).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null; // malformed percent-encoding
    }
    if (!isPlainName(segment)) return null;
    segments.push(segment);
  }
  return segments;
}

/** An open regular file under the root. The caller closes `handle`. */
export interface OpenedFile {
  readonly handle: FileHandle;
  readonly size: number;
  readonly modified: Date;
}

/**
 * Opens `segments` under `root` (which must already be a realpath), or null when the path does
 * not exist, leaves the root through a symlink, or is not a regular file. Never throws for a
 * missing or refused file.
 */
export async function openUnderRoot(
  root: string,
  segments: readonly string[],
): Promise<OpenedFile | null> {
  let resolved: string;
  try {
    resolved = await realpath(join(root, ...segments));
  } catch {
    return null;
  }
  if (!resolved.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a symlink swapped in after realpath is not followed (the open fails instead).
    handle = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    return null;
  }
  return { handle, size: stats.size, modified: stats.mtime };
}

/**
 * Media types by extension. A short table by hand: only the Content-Type matters (the response is
 * an attachment with nosniff and a sandbox CSP, so nothing is rendered in any origin), and the
 * usual packages would be the only dependency of the download server besides jose.
 */
const MEDIA_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.mp3': 'audio/mpeg',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/** The Content-Type for a file name (application/octet-stream when the extension is unknown). */
export function mediaType(name: string): string {
  return MEDIA_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * `attachment` with the name twice (RFC 6266 §4.3): an ASCII fallback in `filename` and the exact
 * name in `filename*` (RFC 8187: UTF-8, every byte outside attr-char percent-encoded).
 */
export function attachmentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
