// Presence: which devices of a user hold an open stream, on any instance (issue 14). Streams that
// open or end in one event-loop turn are written in one batch; an idle stream costs nothing. Each
// instance says it is alive once per heartbeat interval, so the devices of one that dies without
// a word (SIGKILL) drop out within two intervals.
//
// Kept where the signals are: PostgreSQL, or Redis while it is usable; a read looks at both (an
// outage may have sent some opens to PostgreSQL). Opening a device past the user's cap supersedes
// the user's least recently opened devices wherever they are (through the generations).
import { createBatcher } from '../batcher'
import type { Device, PgPresence, PresenceRow } from '../store/presence'
import type { RedisLink } from './redis'

export type { Device }

/** One open stream of a device, as presence records it (`device` '' = the unnamed one). */
export type Opened = { userId: string; device: string; stream: string; locale: string; openedAt: number }

export type Presence = {
  /** The stream is open (batched); devices of its user past the cap get superseded. */
  open(stream: Opened): void
  /** The stream ended (batched); a newer stream of the same device keeps the device present. */
  close(stream: Opened): void
  /** The user's live devices, oldest first, across every instance. */
  devices(userId: string): Promise<Device[]>
  start(): Promise<void>
  /** Stopping: this instance's devices leave presence at once. */
  stop(): Promise<void>
}

export type PresenceOptions = {
  instance: string
  pg: PgPresence
  /** Redis, when configured: used while `usable()` says so. */
  redis?: { link: RedisLink; prefix: string; usable(): boolean }
  maxDevices: number
  heartbeatMs: number
  /** Supersedes the streams of these devices, wherever they are (too many devices). */
  evict(devices: { userId: string; device: string }[]): Promise<void>
  onError(error: unknown): void
}

export function createPresence(options: PresenceOptions): Presence {
  const { instance, pg, redis, maxDevices, heartbeatMs, onError } = options
  /** An instance silent for two heartbeat intervals is gone. */
  const aliveMs = 2 * heartbeatMs
  const redisPresence = redis && createRedisPresence(redis.link, redis.prefix, instance, aliveMs)
  let timer: ReturnType<typeof setInterval> | undefined
  /** Once stopping, this instance's rows are forgotten at once: streams that end later write nothing. */
  let stopped = false

  // A batch that fails is reported once, not once per stream in it (thousands at a shutdown).
  const opens = createBatcher<Opened, void>(
    async (batch) => {
      const rows: PresenceRow[] = batch.map((opened) => ({ ...opened, instance }))
      try {
        const evicted = redis?.usable() ? await redisPresence!.open(rows, maxDevices) : await pg.open(rows, maxDevices, aliveMs)
        await options.evict(evicted)
      } catch (error) {
        if (!stopped) onError(error)
      }
      return batch.map(() => undefined)
    },
    { maxBatch: 1000, maxInFlight: 2, stats: { queries: 0, requests: 0 } },
  )
  const closes = createBatcher<Opened, void>(
    async (batch) => {
      if (stopped) return batch.map(() => undefined)
      // Both places: the open may have gone to either, and a row left behind would say "online".
      await Promise.all([pg.close(batch.map((s) => s.stream)).catch(reportUnlessStopped), redisPresence?.close(batch).catch(reportUnlessStopped)])
      return batch.map(() => undefined)
    },
    { maxBatch: 1000, maxInFlight: 2, stats: { queries: 0, requests: 0 } },
  )

  function reportUnlessStopped(error: unknown) {
    if (!stopped) onError(error)
  }

  async function heartbeat() {
    await Promise.all([pg.heartbeat(instance), redis?.usable() ? redisPresence!.heartbeat() : undefined])
  }

  return {
    open: (stream) => void (stopped || opens.submit(stream).catch(onError)),
    close: (stream) => void (stopped || closes.submit(stream).catch(onError)),
    async devices(userId) {
      const [inPg, inRedis] = await Promise.all([pg.list(userId, aliveMs), redis?.usable() ? redisPresence!.list(userId) : []])
      return merge(inPg, inRedis)
    },
    async start() {
      await heartbeat()
      timer = setInterval(() => void heartbeat().catch(onError), heartbeatMs)
      timer.unref?.()
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await Promise.all([pg.forget(instance), redis?.usable() ? redisPresence!.forget() : undefined]).catch(onError)
    },
  }
}

/** A device present in both places counts once, with its newest stream. */
function merge(...lists: Device[][]): Device[] {
  const byDevice = new Map<string, Device>()
  for (const device of lists.flat()) {
    const known = byDevice.get(device.device)
    if (!known || known.openedAt < device.openedAt) byDevice.set(device.device, device)
  }
  return [...byDevice.values()].sort((a, b) => a.openedAt - b.openedAt)
}

// Redis: a hash per user, `<prefix>presence:<user>`, field = device, value = "<instance> <stream>
// <openedAt ms> <locale>"; an instance is alive while `<prefix>instance:<id>` exists (it expires
// two heartbeat intervals after the instance last said so, by Redis's own clock).

const FORGET = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`
const PRESENCE_TTL_MS = 24 * 3600 * 1000

function createRedisPresence(link: RedisLink, prefix: string, instance: string, aliveMs: number) {
  const hash = (userId: string) => `${prefix}presence:${userId}`
  const alive = (id: string) => `${prefix}instance:${id}`
  /** This instance's entries, so stop() can remove them. */
  const mine = new Map<string, Opened>()

  async function read(userId: string) {
    const flat = (await link.send('HGETALL', [hash(userId)])) as string[] | Record<string, string>
    const pairs = Array.isArray(flat) ? chunk(flat) : Object.entries(flat)
    const entries = pairs.map(([device, value]) => {
      const [owner = '', stream = '', openedAt = '0', locale = ''] = value.split(' ')
      return { device, owner, stream, openedAt: Number(openedAt), locale }
    })
    const owners = [...new Set(entries.map((entry) => entry.owner))]
    const up = owners.length ? ((await link.send('MGET', owners.map(alive))) as (string | null)[]) : []
    const live = new Set(owners.filter((_, i) => up[i] != null))
    return entries.filter((entry) => live.has(entry.owner))
  }

  return {
    async heartbeat() {
      await link.send('SET', [alive(instance), '1', 'PX', String(aliveMs)])
    },
    async open(rows: PresenceRow[], max: number) {
      await Promise.all(
        rows.map(async (row) => {
          mine.set(row.stream, row)
          await link.send('HSET', [hash(row.userId), row.device, `${instance} ${row.stream} ${row.openedAt} ${row.locale}`])
          await link.send('PEXPIRE', [hash(row.userId), String(PRESENCE_TTL_MS)])
        }),
      )
      const evicted: { userId: string; device: string }[] = []
      for (const userId of new Set(rows.map((row) => row.userId))) {
        const live = (await read(userId)).sort((a, b) => b.openedAt - a.openedAt)
        for (const entry of live.slice(max)) evicted.push({ userId, device: entry.device })
      }
      return evicted
    },
    async close(streams: Opened[]) {
      await Promise.all(
        streams.map((s) => {
          mine.delete(s.stream)
          return link.send('EVAL', [FORGET, '1', hash(s.userId), s.device, `${instance} ${s.stream} ${s.openedAt} ${s.locale}`])
        }),
      )
    },
    async list(userId: string): Promise<Device[]> {
      return (await read(userId)).map(({ device, locale, openedAt }) => ({ device, locale, openedAt }))
    },
    async forget() {
      await Promise.all([link.send('DEL', [alive(instance)]), this.close([...mine.values()])])
    },
  }
}

function chunk(flat: string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!])
  return out
}
