// A user's devices: each holds one stream of its own (the seed's "a newer stream ends the older one"
// holds within a device, never across devices). Pure: names and keys, no I/O.

/** 1–64 of A–Z, a–z, 0–9, `.`, `_`, `-`: safe in a URL, a header, a log line and a Redis key. */
export const DEVICE = /^[A-Za-z0-9._-]{1,64}$/

/**
 * The key a device's streams supersede each other by, and the generation counter's key. The user's
 * unnamed device (a client that names none, as the seed's) is the user id itself, as before devices
 * existed; a named one adds its name after U+001F, which no user id holds (control characters are
 * refused) and no device name either.
 */
export function deviceKey(userId: string, device: string | undefined): string {
  return device === undefined ? userId : `${userId}\u001f${device}`
}

/** The user a device key belongs to. */
export function userOfKey(key: string): string {
  const at = key.indexOf('\u001f')
  return at < 0 ? key : key.slice(0, at)
}

/**
 * Why a stream was superseded: a newer stream of the same device (`newer-connection`), or the
 * user's oldest device made room for a new one (`too-many-devices`).
 */
export type SupersedeReason = 'newer-connection' | 'too-many-devices'
