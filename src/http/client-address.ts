// Who a client is by address: the key of its publish bucket when publishing needs no key.
// X-Forwarded-For is whatever the client chose to write, except for the entries our own proxies
// append at its right end; only those are believed, and only as many as HERALD_TRUST_PROXY says.
import { isIP } from 'node:net'

/**
 * The client's address. `peer` is the socket's remote address: the client itself, or the nearest
 * of `trustedProxies` proxies, each of which appended the address it saw to X-Forwarded-For.
 */
export function clientAddress(request: Request, peer: string | undefined, trustedProxies: number): string {
  // No socket (a Request handed to app.handle in-process): one client, the caller.
  const own = peer ?? 'local'
  if (trustedProxies === 0) return own
  const header = request.headers.get('x-forwarded-for') // several headers arrive joined by ', '
  if (!header) return own // not through our proxies
  const entries = header.split(',').map((entry) => entry.trim())
  // The entry the farthest trusted proxy appended; a shorter chain than configured ends at its left.
  const entry = entries[Math.max(0, entries.length - trustedProxies)]!
  // Only an address: anything else came from the client (a proxy bypassed, a chain shorter than
  // told), and a bucket key must stay short and not be the client's choice.
  return isIP(entry) ? entry : own
}
