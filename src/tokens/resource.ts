import type { SessionUser } from '../core/store.ts';

/**
 * What a download token may name: a relative path under the download root, checked the same way
 * where the token is issued and where it is redeemed. A resource is a list of plain names joined
 * by `/`: no empty, `.` or `..` segment, no backslash, no control character (NUL included), no
 * lone surrogate (it has no UTF-8 form, so no file name or URL), no leading `/`. Nothing is decoded or resolved here, so there is nothing to trick.
 */

/** Longest resource accepted, in UTF-16 code units. */
export const MAX_RESOURCE_LENGTH = 1024;
const CONTROL = /\p{Cc}/u;

/** The segments of a safe resource, or null when `value` is not one. Never throws. */
export function resourceSegments(value: unknown): string[] | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RESOURCE_LENGTH) {
    return null;
  }
  if (value.includes('\\') || CONTROL.test(value)) return null;
  const segments = value.split('/');
  return segments.every(isPlainName) ? segments : null;
}

/** True for a single path segment that names something inside its directory. */
export function isPlainName(segment: string): boolean {
  return (
    segment !== '' &&
    segment !== '.' &&
    segment !== '..' &&
    segment.isWellFormed() &&
    !segment.includes('/') &&
    !segment.includes('\\') &&
    !CONTROL.test(segment)
  );
}

/** The path part of a download URL for `segments`: each segment percent-encoded once. */
export function resourcePath(segments: readonly string[]): string {
  return segments.map(encodeURIComponent).join('/');
}

/** Decides whether `user` may download `resource` (already checked by resourceSegments). */
export type DownloadPolicy = (request: {
  readonly user: SessionUser;
  readonly resource: string;
}) => boolean | Promise<boolean>;

/** The folder of `userId` under the download root, with its trailing slash. */
export function userFolder(userId: string): string {
  return `users/${userId}/`;
}

/** The folder every signed-in user may download from. */
export const PUBLIC_FOLDER = 'public/';

/**
 * The default policy: a user may download what is in their own folder (`users/<id>/…`) and in
 * `public/…`, nothing else.
 */
export const ownFolderPolicy: DownloadPolicy = ({ user, resource }) =>
  isPlainName(user.id) &&
  (resource.startsWith(userFolder(user.id)) || resource.startsWith(PUBLIC_FOLDER));
