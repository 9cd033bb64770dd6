// The client's decisions (client/decide.ts), one test per row of the README's table ("In the browser":
// what the client does), with each sub-case. Pure: no stream, no timer, the jitter's random fixed.
import { describe, expect, test } from 'bun:test'
import { backoff, decide, type Situation, type StreamEnd } from '../client/decide'

const situation = (changes: Partial<Situation> = {}): Situation => ({
  attempt: 0,
  tokenFunction: false,
  refreshedAfter401: false,
  initialMs: 2000,
  maxMs: 30_000,
  random: () => 0.5,
  ...changes,
})

const http = (status: number, retryAfterMs?: number): StreamEnd => ({
  kind: 'http',
  status,
  code: `CODE_${status}`,
  message: `status ${status}`,
  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
})

/** The ceiling decide() jitters under: random 1 gives it exactly, random 0 half of it. */
const ceiling = (attempt: number, changes: Partial<Situation> = {}) =>
  backoff(situation({ attempt, random: () => 1, ...changes }))

describe('language switch', () => {
  test('a stream this client aborted reopens at once (after the last id), with no wait and no error', () => {
    expect(decide({ kind: 'aborted' }, situation({ attempt: 5 }))).toEqual({ do: 'reopen' })
  })
})

describe('network error, server restart', () => {
  test('a network error is reported, not fatal, and waited out with backoff', () => {
    expect(decide({ kind: 'network', message: 'TypeError: fetch failed' }, situation())).toEqual({
      do: 'wait',
      ms: 1500, // 2000 jittered by random 0.5: 1000 + 0.5 × 1000
      error: { code: 'NETWORK', message: 'TypeError: fetch failed', fatal: false },
    })
  })

  test('the backoff starts from the server’s retry: and doubles with each attempt', () => {
    expect([0, 1, 2, 3].map((attempt) => ceiling(attempt, { initialMs: 500 }))).toEqual([500, 1000, 2000, 4000])
    expect([0, 1, 2, 3].map((attempt) => ceiling(attempt))).toEqual([2000, 4000, 8000, 16_000])
  })

  test('the backoff is capped at 30 s (or backoff.maxMs), however many attempts', () => {
    expect([4, 5, 16, 17, 1000].map((attempt) => ceiling(attempt))).toEqual([30_000, 30_000, 30_000, 30_000, 30_000])
    expect(ceiling(10, { maxMs: 5000 })).toBe(5000)
  })

  test('the backoff is jittered into the upper half of the ceiling, so clients of one server spread out', () => {
    const at = (random: number) => backoff(situation({ attempt: 2, random: () => random }))
    expect([at(0), at(0.25), at(0.5), at(0.999_999)]).toEqual([4000, 5000, 6000, 8000])
    const action = decide({ kind: 'network', message: 'x' }, situation({ attempt: 2, random: Math.random }))
    const ms = action.do === 'wait' ? action.ms : NaN
    expect(ms).toBeGreaterThanOrEqual(4000)
    expect(ms).toBeLessThanOrEqual(8000)
  })

  test('a stream that ended without a planned retry (a server killed mid-stream) backs off, with no error', () => {
    expect(decide({ kind: 'ended' }, situation({ attempt: 1 }))).toEqual({ do: 'wait', ms: 3000 })
  })

  test('a graceful shutdown’s retry: is used as given: no backoff, no jitter, no error', () => {
    expect(decide({ kind: 'ended', retry: 7321 }, situation({ attempt: 9 }))).toEqual({ do: 'wait', ms: 7321 })
    expect(decide({ kind: 'ended', retry: 0 }, situation())).toEqual({ do: 'wait', ms: 0 })
  })
})

describe('superseded', () => {
  test('stops with state superseded, never to reconnect on its own', () => {
    for (const tokenFunction of [false, true])
      expect(decide({ kind: 'superseded' }, situation({ tokenFunction }))).toEqual({ do: 'stop', state: 'superseded' })
  })
})

describe('expired', () => {
  test('with a token function: fetches a new token and resumes at once', () => {
    expect(decide({ kind: 'expired' }, situation({ tokenFunction: true }))).toEqual({ do: 'refresh-token-and-reopen' })
  })

  test('without one: stops with state expired', () => {
    expect(decide({ kind: 'expired' }, situation())).toEqual({ do: 'stop', state: 'expired' })
  })
})

describe('HTTP errors', () => {
  const error401 = { code: 'CODE_401', message: 'status 401', status: 401 }

  test('401 with a token function: one fresh token, retried at once, the error reported as not fatal', () => {
    expect(decide(http(401), situation({ tokenFunction: true }))).toEqual({
      do: 'wait',
      ms: 0,
      refreshToken: true,
      error: { ...error401, fatal: false },
    })
  })

  test('401 again after that fresh token: fatal (the server refuses the user, not the token)', () => {
    expect(decide(http(401), situation({ tokenFunction: true, refreshedAfter401: true }))).toEqual({
      do: 'fail',
      error: { ...error401, fatal: true },
    })
  })

  test('401 without a token function: fatal', () => {
    expect(decide(http(401), situation())).toEqual({ do: 'fail', error: { ...error401, fatal: true } })
  })

  test('429 waits Retry-After, then retries (the error reported, not fatal)', () => {
    expect(decide(http(429, 12_000), situation({ attempt: 3 }))).toEqual({
      do: 'wait',
      ms: 12_000,
      error: { code: 'CODE_429', message: 'status 429', status: 429, fatal: false },
    })
  })

  test('429 without Retry-After backs off', () => {
    // 16 s jittered by 0.5
    expect(decide(http(429), situation({ attempt: 3 }))).toMatchObject({ do: 'wait', ms: 12_000 })
  })

  test('5xx waits Retry-After, or backs off without one', () => {
    for (const status of [500, 502, 503, 504]) {
      const error = { code: `CODE_${status}`, message: `status ${status}`, status, fatal: false }
      expect(decide(http(status, 5000), situation({ attempt: 4 }))).toEqual({ do: 'wait', ms: 5000, error })
      expect(decide(http(status), situation({ attempt: 4 }))).toEqual({ do: 'wait', ms: 22_500, error }) // 30 s cap
    }
  })

  test('any other 4xx is fatal (state closed), Retry-After or not, token function or not', () => {
    for (const status of [400, 403, 404, 405, 410, 413, 422])
      for (const tokenFunction of [false, true])
        expect(decide(http(status, 1000), situation({ tokenFunction }))).toEqual({
          do: 'fail',
          error: { code: `CODE_${status}`, message: `status ${status}`, status, fatal: true },
        })
  })

  test('a non-error status without a body (no stream to read) is fatal too: retrying gets the same', () => {
    expect(decide(http(204), situation())).toMatchObject({ do: 'fail', error: { status: 204, fatal: true } })
  })
})
