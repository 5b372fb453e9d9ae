import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { html } from 'hono/html';
import type { SessionUser } from '../../core/store.ts';
import { isPlainName, PUBLIC_FOLDER, userFolder } from '../../tokens/resource.ts';
import type { Services } from '../services.ts';
import { csrfField, type Html } from './layout.ts';

/**
 * The account page's "Files": what the signed-in user may download from the download root (their
 * folder and the public one, as the download policy allows), each behind a small POST form. A
 * click mints a single-use download token and answers 303 to the download server (the handler is
 * in account.ts). Forms, not
 * links: no token sits in the page, and minting passes the cross-origin check and the form's
 * synchronizer token (no script runs on these pages).
 */

/** A file the page lists. */
export interface DownloadableFile {
  /** Path under the download root, e.g. `users/<id>/report.pdf`. */
  readonly resource: string;
  /** What the page shows: the path inside its folder. */
  readonly name: string;
  readonly size: number;
  readonly shared: boolean;
}

const MAX_FILES = 200;
const MAX_DEPTH = 4;

/**
 * The files under `root` that `user` may download according to `services.downloadPolicy`, sorted,
 * at most 200. Symlinks, hidden names and names unsafe as resources are skipped. Never throws for
 * a missing folder.
 */
export async function listDownloadableFiles(
  services: Pick<Services, 'downloadPolicy'>,
  root: string,
  user: SessionUser,
): Promise<DownloadableFile[]> {
  const found: DownloadableFile[] = [];
  const folders = isPlainName(user.id) ? [userFolder(user.id), PUBLIC_FOLDER] : [PUBLIC_FOLDER];
  for (const folder of folders) {
    const shared = folder === PUBLIC_FOLDER;
    for (const { path, size } of await walk(join(root, folder), '', 0)) {
      if (found.length >= MAX_FILES) break;
      const resource = folder + path;
      if (await services.downloadPolicy({ user, resource })) {
        found.push({ resource, name: path, size, shared });
      }
    }
  }
  return found;
}

async function walk(
  dir: string,
  prefix: string,
  depth: number,
): Promise<{ path: string; size: number }[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: { path: string; size: number }[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!isPlainName(entry.name) || entry.name.startsWith('.')) continue;
    const path = prefix + entry.name;
    // Dirent types come from lstat: a symlink is neither a file nor a directory here.
    if (entry.isDirectory() && depth < MAX_DEPTH) {
      files.push(...(await walk(join(dir, entry.name), `${path}/`, depth + 1)));
    } else if (entry.isFile()) {
      const { size } = await lstat(join(dir, entry.name));
      files.push({ path, size });
    }
    if (files.length >= MAX_FILES) break;
  }
  return files;
}

/** The "Files" card: one download form per file. */
export function filesSection(
  files: readonly DownloadableFile[],
  csrfToken: string,
  ttlSeconds: number,
): Html {
  const minutes = Math.max(1, Math.round(ttlSeconds / 60));
  return html`<section class="card wide" aria-labelledby="files-heading">
<h2 id="files-heading">Files</h2>
${
  files.length === 0
    ? html`<p class="muted">There are no files for you yet.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead>
<tbody>
${files.map(
  (f) => html`<tr>
<td>${f.name}${f.shared ? html`<span class="badge">Shared</span>` : ''}</td>
<td>${byteSize(f.size)}</td>
<td><form method="post" action="/account/files/download">${csrfField(csrfToken)}<input type="hidden" name="resource" value="${f.resource}"><button class="secondary small" type="submit">Download</button></form></td>
</tr>`,
)}
</tbody>
</table></div>
<p class="hint">Each download link works once, for ${minutes} minute${minutes === 1 ? '' : 's'}.</p>`
}
</section>`;
}

function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
