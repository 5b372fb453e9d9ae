import { createHash } from 'node:crypto';

/**
 * The one stylesheet of the pages. It lives in a TypeScript string, not a .css file, so it ships
 * inside the compiled package with no copy step. The CSP (`style-src 'self'`) forbids inline
 * styles, so every rule is here and pages only use classes.
 */

/** The CSS served at STYLESHEET_PATH. */
export const STYLESHEET = `
:root {
  color-scheme: light;
  --fg: #1f2328; --muted: #59636e; --bg: #f4f6f8; --card: #fff; --line: #d8dee4;
  --accent: #0b5cad; --accent-dark: #084a8c; --danger: #b42318;
  --ok-bg: #e9f6ee; --ok-fg: #17612f; --ok-line: #b9e0c6;
  --err-bg: #fdeeec; --err-fg: #8a1c12; --err-line: #f2c4bd;
}
*, *::before, *::after { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
a { color: var(--accent); }
.site { background: var(--card); border-bottom: 1px solid var(--line); }
.site-inner {
  max-width: 62.5rem; margin: 0 auto; padding: .75rem 1.25rem;
  display: flex; align-items: center; gap: 1.25rem; flex-wrap: wrap;
}
.brand { font-weight: 700; font-size: 1.125rem; color: var(--fg); text-decoration: none; margin-right: auto; }
.site nav { display: flex; align-items: center; gap: 1rem; }
.site nav a { text-decoration: none; font-weight: 500; }
.site nav .who { color: var(--muted); font-size: .9375rem; }
main { max-width: 62.5rem; margin: 0 auto; padding: 2.5rem 1.25rem 4rem; }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  padding: 2rem; margin: 0 auto 1.5rem; max-width: 26rem; box-shadow: 0 1px 3px rgba(31, 35, 40, .06);
}
.card.wide { max-width: none; }
.card > :last-child { margin-bottom: 0; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 1.25rem; }
h2 { font-size: 1.125rem; margin: 0 0 1rem; }
p { margin: 0 0 1rem; }
label { display: block; font-weight: 600; font-size: .9375rem; margin: 1rem 0 .375rem; }
input[type="email"], input[type="password"], input[type="text"] {
  width: 100%; padding: .625rem .75rem; font: inherit; color: inherit;
  background: #fff; border: 1px solid #b8c0c8; border-radius: 8px;
}
input:focus-visible, button:focus-visible { outline: 3px solid #8cb8e8; outline-offset: 1px; }
label.check { display: flex; align-items: center; gap: .5rem; font-weight: 400; }
.hint { color: var(--muted); font-size: .875rem; margin: .375rem 0 0; }
button {
  font: inherit; font-weight: 600; cursor: pointer; border-radius: 8px; padding: .625rem 1.125rem;
  border: 1px solid var(--accent); background: var(--accent); color: #fff;
}
button:hover { background: var(--accent-dark); border-color: var(--accent-dark); }
button.block { display: block; width: 100%; margin-top: 1.5rem; }
button.secondary { background: #fff; color: var(--accent); }
button.secondary:hover { background: #eef4fb; }
button.danger { background: #fff; color: var(--danger); border-color: #e3aaa2; }
button.danger:hover { background: var(--err-bg); }
button.small { padding: .3rem .75rem; font-size: .875rem; }
button.link { background: none; border: none; color: var(--accent); padding: 0; font-weight: 500; }
.alert { border-radius: 8px; padding: .75rem 1rem; margin: 0 0 1.25rem; border: 1px solid; }
.alert.error { background: var(--err-bg); color: var(--err-fg); border-color: var(--err-line); }
.alert.notice { background: var(--ok-bg); color: var(--ok-fg); border-color: var(--ok-line); }
.alert ul { margin: 0; padding-left: 1.25rem; }
.muted { color: var(--muted); }
.switch { margin: 1.5rem 0 0; text-align: center; color: var(--muted); }
.profile { display: grid; grid-template-columns: 7rem 1fr; gap: .5rem 1rem; margin: 0; }
.profile dt { color: var(--muted); }
.profile dd { margin: 0; overflow-wrap: anywhere; }
.profile .badge { margin: 0 .375rem 0 0; }
.table-wrap { overflow-x: auto; margin: 0 0 1rem; }
table { width: 100%; border-collapse: collapse; font-size: .9375rem; }
th, td { text-align: left; padding: .75rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: .75rem; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; color: var(--muted); }
tr.current td { background: #f5f9fe; }
td form { margin: 0; }
.badge {
  display: inline-block; margin-left: .375rem; padding: .05rem .5rem; border-radius: 999px;
  font-size: .75rem; font-weight: 600; background: #e3eefa; color: var(--accent); white-space: nowrap;
}
.badge.locked { margin-left: 0; background: var(--err-bg); color: var(--err-fg); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; justify-content: flex-end; }
.roles-form { display: flex; gap: .5rem; align-items: center; }
.roles-form input[type="text"] { width: 9rem; padding: .3rem .5rem; font-size: .875rem; }
.pager { display: flex; justify-content: space-between; }
form.narrow { max-width: 24rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .875em; }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;
}
`;

/** Content hash of STYLESHEET: a new release gets a new URL, so the old one can be cached forever. */
const VERSION = createHash('sha256').update(STYLESHEET).digest('hex').slice(0, 16);

/** Where the stylesheet is served. */
export const STYLESHEET_ROUTE = '/assets/app.css';

/** The versioned URL pages link to (the route ignores the query; the URL changes with the CSS). */
export const STYLESHEET_PATH = `${STYLESHEET_ROUTE}?v=${VERSION}`;
