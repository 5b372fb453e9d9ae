import { RETIREMENT_SECONDS } from '../tokens/keys.ts';
import { COMMON_HELP, type Command, withServices } from './command.ts';

/** `coatcheck keys rotate`: a new signing key signs from now; the old one stays published. */
export const keysRotateCommand: Command = {
  name: 'keys rotate',
  summary: 'make a new key sign download and identity tokens',
  positionals: 0,
  help: `Usage: coatcheck keys rotate [--config <path>]

Creates a new Ed25519 signing key in the database; the server signs every new download token and
identity assertion with it from its next request on. The previous key signs nothing more but stays
in /.well-known/jwks.json for ${RETIREMENT_SECONDS} s (the longest token lifetime plus a minute of
clock skew), so tokens it signed keep verifying until they expire; then it is deleted. Keys are
sealed with COATCHECK_KEYS_SECRET when it is set: run this command with the server's secret (it
refuses to rotate when the current key does not open with the secret it is given).

Example:
  coatcheck keys rotate
${COMMON_HELP}`,
  async run(args, io) {
    const { kid, retireAt } = await withServices(args, io, (services) => services.keys.rotate());
    io.out(
      `new signing key ${kid}; earlier keys leave the JWKS at ${new Date(retireAt).toISOString()}\n`,
    );
    return 0;
  },
};

/** `coatcheck keys list`: the stored signing keys (public facts only). */
export const keysListCommand: Command = {
  name: 'keys list',
  summary: 'list the signing keys (kid, created, retiring)',
  positionals: 0,
  help: `Usage: coatcheck keys list [--config <path>]

Lists the stored signing keys, newest first: the key id (kid), when it was created and, for a
rotated-out key, when it leaves the JWKS. Never prints a private key.

Example:
  coatcheck keys list
${COMMON_HELP}`,
  async run(args, io) {
    const keys = await withServices(args, io, (services) => services.keys.list());
    if (keys.length === 0) io.out('no signing keys yet (the server creates one when it starts)\n');
    for (const key of keys) {
      const state = key.signing
        ? 'signing'
        : `retired, published until ${new Date(key.expiresAt ?? 0).toISOString()}`;
      io.out(`${key.kid}  created ${new Date(key.createdAt).toISOString()}  ${state}\n`);
    }
    return 0;
  },
};
