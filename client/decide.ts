// What the client does when a stream ends: the README's table ("In the browser") as one pure function,
// so every row has a unit test (test/client-decide.test.ts). connect() only carries the answer out.

/** An error to report (herald-client.ts's public `ErrorReport` has this shape). */
export type ErrorReport = { code: string; message: string; status?: number; fatal: boolean }

/** How one stream ended, as openStream() saw it. */
export type StreamEnd =
  | { kind: 'superseded'; reason?: 'newer-connection' | 'too-many-devices' }
  | { kind: 'expired' }
  /** By this client: a language switch (or close(), which ends the loop before asking). */
  | { kind: 'aborted' }
  /** The body ended; `retry` when the server sent one after `ready` (a graceful shutdown). */
  | { kind: 'ended'; retry?: number }
  | { kind: 'network'; message: string }
  | { kind: 'http'; status: number; code: string; message: string; retryAfterMs?: number }

export type Situation = {
  /** Waits since the last stream that opened (reset by `ready`). */
  attempt: number
  /** A `token` function was given: a fresh token can be fetched. */
  tokenFunction: boolean
  /** A token was already fetched for a 401 since the last stream that opened. */
  refreshedAfter401: boolean
  /** Where the backoff starts: `backoff.initialMs`, else the server's `retry:`. */
  initialMs: number
  maxMs: number
  /** In [0, 1): Math.random, or a fixed one in tests. */
  random: () => number
}

export type Action =
  /** Open the next stream at once, after the last id. */
  | { do: 'reopen' }
  | { do: 'refresh-token-and-reopen' }
  /** Final, without closing: this tab keeps answering its other tabs (they stop too). */
  | { do: 'stop'; state: 'superseded' | 'expired'; reason?: 'newer-connection' | 'too-many-devices' }
  /** Retrying cannot help: report `error` (fatal) and close. */
  | { do: 'fail'; error: ErrorReport }
  /** State `reconnecting` for `ms`, after reporting `error` if any; `refreshToken`: with a new token. */
  | { do: 'wait'; ms: number; error?: ErrorReport; refreshToken?: true }

export const DEFAULT_RETRY_MS = 2000
export const MAX_BACKOFF_MS = 30_000

export function decide(end: StreamEnd, now: Situation): Action {
  switch (end.kind) {
    case 'aborted':
      return { do: 'reopen' }
    case 'superseded':
      return { do: 'stop', state: 'superseded', ...(end.reason ? { reason: end.reason } : {}) }
    case 'expired':
      return now.tokenFunction ? { do: 'refresh-token-and-reopen' } : { do: 'stop', state: 'expired' }
    case 'http':
      return decideHttp(end, now)
    case 'ended':
      // The server shut down and spread its clients' retries already: no backoff on top.
      return { do: 'wait', ms: end.retry ?? backoff(now) }
    case 'network':
      return { do: 'wait', ms: backoff(now), error: { code: 'NETWORK', message: end.message, fatal: false } }
  }
}

/**
 * A token function gets one fresh token per 401 (a second in a row means the server refuses the user,
 * not the token); rate limits and outages are waited out; anything else (a bad user id, a forbidden
 * user) will not get better by retrying.
 */
function decideHttp(end: Extract<StreamEnd, { kind: 'http' }>, now: Situation): Action {
  const refresh = end.status === 401 && now.tokenFunction && !now.refreshedAfter401
  const fatal = !refresh && end.status !== 429 && end.status < 500
  const error = { code: end.code, message: end.message, status: end.status, fatal }
  if (fatal) return { do: 'fail', error }
  if (refresh) return { do: 'wait', ms: 0, error, refreshToken: true }
  return { do: 'wait', ms: end.retryAfterMs ?? backoff(now), error }
}

/** Exponential from `initialMs`, capped at `maxMs`, jittered into the upper half so clients spread out. */
export function backoff(now: Pick<Situation, 'attempt' | 'initialMs' | 'maxMs' | 'random'>) {
  const { attempt, initialMs, maxMs, random } = now
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 16))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
