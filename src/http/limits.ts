// Token buckets, keyed by user or publisher. Memory is bounded: a full bucket carries no
// information and is dropped, and past `maxKeys` the oldest go first.
import { Errors } from '../errors'

export type Buckets = {
  /** Takes one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(key: string, now?: number): number
  readonly size: number
}

export type BucketOptions = {
  capacity: number
  perSecond: number
  maxKeys?: number
}

export function createBuckets({ capacity, perSecond, maxKeys = 100_000 }: BucketOptions): Buckets {
  const buckets = new Map<string, { tokens: number; at: number }>()

  function refill(bucket: { tokens: number; at: number }, now: number) {
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * perSecond)
    bucket.at = now
  }

  function sweep(now: number) {
    for (const [key, bucket] of buckets) {
      refill(bucket, now)
      if (bucket.tokens >= capacity) buckets.delete(key)
    }
    // Still too many: forget the oldest. They lose at most their debt, never anyone's access.
    for (const key of buckets.keys()) {
      if (buckets.size < maxKeys) break
      buckets.delete(key)
    }
  }

  return {
    get size() {
      return buckets.size
    },
    take(key, now = performance.now()) {
      let bucket = buckets.get(key)
      if (!bucket) {
        if (buckets.size >= maxKeys) sweep(now)
        bucket = { tokens: capacity, at: now }
        buckets.set(key, bucket)
      } else refill(bucket, now)
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      return Math.ceil(((1 - bucket.tokens) / perSecond) * 1000)
    },
  }
}

/**
 * Herald's own header cap, below Bun's socket-level 16 KiB one (which answers 431 with an empty
 * body): up to Bun's limit, the client learns which limit it hit, in JSON.
 */
export const MAX_HEADER_BYTES = 8 * 1024

export function checkHeaderSize(request: Request, limit = MAX_HEADER_BYTES): void {
  let bytes = request.url.length
  request.headers.forEach((value, name) => {
    bytes += name.length + value.length + 4
  })
  if (bytes > limit) throw Errors.headersTooLarge(limit)
}
