import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../../core/errors.ts';

/**
 * Which peers may tell us the client's address. X-Forwarded-For is client-writable: only the hops
 * appended by proxies we trust mean anything (ASVS 5.0 V15.3.4), so the list is walked from the
 * right (the hop nearest to us) and stops at the first address that is not a trusted proxy.
 */

/** Most X-Forwarded-For entries examined; a longer chain is cut (work stays bounded). */
const MAX_HOPS = 32;
const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** A resolved, frozen set of trusted proxies. */
export interface ProxyTrust {
  /** True when `ip` (already normalised) is a configured trusted proxy. */
  trusts(ip: string | null): boolean;
  /**
   * The client address: `peer` itself unless it is a trusted proxy, else the right-most
   * X-Forwarded-For hop that is not a trusted proxy (the left-most when all are). A malformed
   * hop ends the walk at the last good address, so garbage never becomes the client IP.
   */
  clientIp(peer: string | null, forwardedFor: string | null | undefined): string | null;
}

/**
 * An IP in one canonical spelling (IPv4-mapped IPv6 as plain IPv4, IPv6 lower-cased), or null
 * when `input` is not an IP address.
 */
export function normaliseIp(input: string | null | undefined): string | null {
  if (typeof input !== 'string') return null;
  const trimmed = input.trim();
  const mapped = MAPPED_V4.exec(trimmed);
  const ip = mapped?.[1] ?? trimmed;
  const version = isIP(ip);
  if (version === 0) return null;
  return version === 6 ? ip.toLowerCase() : ip;
}

/**
 * Builds the trust set from IPs and CIDR ranges (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
 * Throws ConfigError naming the first entry that is neither.
 */
export function createProxyTrust(entries: readonly string[]): ProxyTrust {
  const list = new BlockList();
  for (const entry of entries) addEntry(list, entry);
  const any = entries.length > 0;

  const trusts = (ip: string | null): boolean => {
    if (!any || ip === null) return false;
    return list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  };

  const clientIp = (peer: string | null, forwardedFor: string | null | undefined) => {
    if (!trusts(peer) || typeof forwardedFor !== 'string' || forwardedFor === '') return peer;
    // Repeated X-Forwarded-For fields arrive joined with ", ": one list, in order.
    const hops = forwardedFor.split(',');
    let ip = peer;
    for (let i = hops.length - 1; i >= 0 && i >= hops.length - MAX_HOPS; i--) {
      const hop = normaliseIp(hops[i]);
      if (hop === null) break;
      ip = hop;
      if (!trusts(hop)) break;
    }
    return ip;
  };

  return Object.freeze({ trusts, clientIp });
}

function addEntry(list: BlockList, entry: string): void {
  const bad = () =>
    new ConfigError(
      `Trusted proxy ${JSON.stringify(entry)} must be an IP address or a CIDR range such as 10.0.0.0/8`,
    );
  if (typeof entry !== 'string') throw bad();
  const [address, prefix, extra] = entry.trim().split('/');
  const ip = normaliseIp(address);
  if (ip === null || extra !== undefined) throw bad();
  const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (prefix === undefined) {
    list.addAddress(ip, type);
    return;
  }
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
  if (!(bits >= 0 && bits <= (type === 'ipv6' ? 128 : 32))) throw bad();
  list.addSubnet(ip, bits, type);
}
