import { ConfigError } from '../core/errors.ts';
import { RETIREMENT_SECONDS } from '../tokens/keys.ts';
import { COMMON_HELP, type Command, CommandFailure, withServices } from './command.ts';

/** What to do when rotate refuses: said with every refusal, since each may be a lost secret. */
const RESEAL_HINT =
  'To store new keys as this command is configured (sealed under this COATCHECK_KEYS_SECRET, or in ' +
  'the clear without one), also the way out of a lost secret, run: coatcheck keys rotate --reseal. ' +
  'Every server must then have this same COATCHECK_KEYS_SECRET (see --help).';

/** `coatcheck keys rotate`: a new signing key signs from now; the old one stays published. */
export const keysRotateCommand: Command = {
  name: 'keys rotate',
  summary: 'make a new key sign download and identity tokens',
  positionals: 0,
  options: { reseal: { type: 'boolean' }, revoke: { type: 'boolean' } },
  help: `Usage: coatcheck keys rotate [--reseal] [--revoke] [--config <path>]

Creates a new Ed25519 signing key in the database; the server signs every new download token and
identity assertion with it from its next request on. The previous key signs nothing more but stays
in /.well-known/jwks.json for ${RETIREMENT_SECONDS} s (the longest token lifetime plus a minute of
clock skew), so tokens it signed keep verifying until they expire; then it is deleted.

Keys are sealed with COATCHECK_KEYS_SECRET when it is set, and every server must open the signing
key, so run this command with the servers' secret (or without one when they have none). It refuses
(exit 1, nothing changed) when the current key does not open with the secret it is given, or is
stored in the clear while a secret is given: the new key would be one the servers cannot open.

Options:
  --reseal  store the new key under the secret given (or in the clear without one) whatever the
            current key is stored as, and retire the current key even if it does not open. Every
            server must have this same COATCHECK_KEYS_SECRET, else it cannot sign download tokens
            or identity assertions (and does not start when it signs any). From keys in the clear:
            give the servers the secret first (they still open a key stored in the clear), then
            run this. With the secret lost: run this with a new one, then restart the servers
            with it. Tokens signed by the retired key verify until they expire.
  --revoke  for a key that may have leaked: every earlier key leaves the JWKS now instead of in
            ${RETIREMENT_SECONDS} s, so the tokens they signed stop verifying within a minute
            (download servers cache the JWKS for 60 s, its max-age). Download links and identity
            assertions handed out before are refused too.

Examples:
  coatcheck keys rotate
  coatcheck keys rotate --revoke
  COATCHECK_KEYS_SECRET="$THE_SECRET_EVERY_SERVER_HAS" coatcheck keys rotate --reseal
${COMMON_HELP}`,
  async run(args, io) {
    const reseal = args.values.reseal === true;
    const revoke = args.values.revoke === true;
    const { kid, retireAt, unopened } = await withServices(args, io, (services) =>
      services.keys.rotate({ reseal, revoke }).catch((error: unknown) => {
        if (error instanceof ConfigError)
          throw new CommandFailure(`${error.message}\n${RESEAL_HINT}`);
        throw error;
      }),
    );
    if (unopened !== null) {
      io.err(
        `warning: signing key ${unopened} did not open with the secret given; it is retired anyway ` +
          '(tokens it signed verify until they expire)\n',
      );
    }
    io.out(
      revoke
        ? `new signing key ${kid}; earlier keys are revoked (gone from the JWKS)\n`
        : `new signing key ${kid}; earlier keys leave the JWKS at ${new Date(retireAt).toISOString()}\n`,
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
    if (keys.length === 0) {
      io.out(
        'no signing keys yet (created at the first signature or JWKS request, or by rotate)\n',
      );
    }
    for (const key of keys) {
      const state = key.signing
        ? 'signing'
        : `retired, published until ${new Date(key.expiresAt ?? 0).toISOString()}`;
      io.out(`${key.kid}  created ${new Date(key.createdAt).toISOString()}  ${state}\n`);
    }
    return 0;
  },
};
