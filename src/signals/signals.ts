// The signals every instance shares, behind one interface: "user U has a newer stream" (a shared
// generation counter), "user U has new alarms" (wake-ups) and "template K changed". PostgreSQL carries them always — every
// instance listens there — and Redis, when configured and reachable, carries them instead, taking
// the counter writes and the NOTIFY lock off the database.
//
// Falling back is per message: a publish or an open goes through Redis only while this instance
// is connected to it and no other instance has said it is not. An instance that loses Redis says
// so on PostgreSQL (and repeats it while it lasts), so its peers send through PostgreSQL, which
// reaches everyone. When Redis is back, the instance catches up and says so.
import { deviceKey } from '../devices'
import type { Channels } from '../store/channels'
import type { PgPresence } from '../store/presence'
import { applyAnnouncement, createPgGenerations, createRedisGenerations, type Generations } from './generations'
import { createRedisLink, type RedisLink } from './redis'
import type { Local, LocalTemplates } from './local'
import { createPresence, type Presence } from './presence'
import { createPgWakes, wakePayloads } from './wake'
import type { Log } from '../log'

export type { Local, LocalTemplates }

export type Backend = 'postgres' | 'redis' | 'postgres (Redis unreachable)' | 'postgres (another instance cannot reach Redis)'

export type Signals = {
  /** A stream key's next generation (a user's device): higher than any given before, on any instance. */
  nextGeneration(key: string): Promise<number>
  /** Which devices of a user hold a stream open, on every instance. */
  readonly presence: Presence
  /** Whether a publish may commit without NOTIFY now, because Redis will wake every instance. */
  quietCommits(): boolean
  /** After a quiet commit: wakes these users' streams everywhere (through PostgreSQL if Redis fails). Never rejects. */
  announce(userIds: string[]): Promise<void>
  /** After a quiet commit of a template: every instance drops its copy (through PostgreSQL if Redis fails). Never rejects. */
  announceTemplate(key: string): Promise<void>
  /** Wakes local streams that missed a wake-up; returns how many. */
  catchUp(): Promise<number>
  readonly backend: Backend
  start(): Promise<void>
  stop(): Promise<void>
}

export type SignalsOptions = {
  /** The wake-up channel; the generation and control channels are named after it. */
  channel: string
  /** Overrides the wake-up channel listened to (tests use it to simulate lost notifications). */
  listenChannel?: string
  safetyPollMs: number
  redisUrl?: string
  /** Prefix of every Redis key and channel: instances that share one must share it, others must not. */
  redisPrefix: string
  log: Pick<Log, 'warn' | 'error'>
  /** Told each time the Redis link comes back after it was lost (the metrics count reconnects). */
  onRedisReconnect?: () => void
  /** How often an instance without Redis repeats that it is without (its peers forget after 3×). */
  downRepeatMs?: number
  /** How often Redis must answer a PING (and within how long) for the link to count as up. */
  redisPingMs?: number
  /** This instance's name in presence and in what it tells its peers. */
  instance: string
  /** Presence in PostgreSQL (store/presence.ts): always, and alone without Redis. */
  pgPresence: PgPresence
  /** Live devices a user may have across all instances; one more supersedes the least recently opened. */
  maxDevices: number
  /** The heartbeat interval: an instance silent for two of them has left presence. */
  heartbeatMs: number
  /** This process's template catalogue: told when a template changed anywhere. */
  templates?: LocalTemplates
}

export function createSignals(channels: Channels, local: Local, options: SignalsOptions): Signals {
  const onError = (error: unknown) => options.log.error('herald:', error)
  const wakes = createPgWakes(channels, local, {
    channel: options.listenChannel ?? options.channel,
    safetyPollMs: options.safetyPollMs,
    onError,
  })
  const generationChannel = options.channel + '_generation'
  // The templates trigger (sql/007) NOTIFYs here on every commit that is not quiet.
  const templateChannel = options.channel + '_templates'
  const templates = options.templates
  const pgGenerations = createPgGenerations(channels, local, { channel: generationChannel })
  const redis = options.redisUrl
    ? createRedisSignals(channels, local, { ...options, redisUrl: options.redisUrl }, wakes.catchUp)
    : undefined
  const unlisten: (() => Promise<void>)[] = []
  const presence = createPresence({
    instance: options.instance,
    pg: options.pgPresence,
    redis: redis && { link: redis.link, prefix: options.redisPrefix, usable: redis.usable },
    maxDevices: options.maxDevices,
    heartbeatMs: options.heartbeatMs,
    onError,
    // The user's oldest devices past the cap end as a newer stream would end them, with the reason.
    async evict(devices) {
      const keys = devices.map(({ userId, device }) => deviceKey(userId, device || undefined))
      if (redis?.usable()) return redis.generations.evict(keys, 'too-many-devices').catch(() => pgGenerations.evict(keys, 'too-many-devices'))
      return pgGenerations.evict(keys, 'too-many-devices')
    },
  })

  async function listenForTemplates() {
    if (!templates) return
    unlisten.push(
      await channels.listen(
        templateChannel,
        (key) => templates.forget(key),
        // Changes committed while the LISTEN was down were not heard: nothing kept can be trusted.
        () => templates.forgetAll(),
      ),
    )
  }

  async function listenForGenerations() {
    unlisten.push(
      await channels.listen(
        generationChannel,
        (payload) => applyAnnouncement(local, payload, onError),
        // A reconnected LISTEN may have missed announcements: compare with the counter.
        () => void pgGenerations.catchUp().catch(onError),
      ),
    )
  }

  return {
    async nextGeneration(key) {
      if (redis?.usable()) {
        try {
          return await redis.generations.next(key)
        } catch {
          // Redis went away mid-call: PostgreSQL answers, and its NOTIFY reaches every instance.
        }
      }
      return pgGenerations.next(key)
    },
    presence,
    quietCommits: () => redis?.usable() ?? false,
    async announce(userIds) {
      if (userIds.length === 0) return
      try {
        if (!redis) throw new Error('no Redis')
        await redis.publishWake(userIds)
      } catch {
        // Never throws: the alarms are committed, and a failed publish would be retried as a duplicate.
        // If PostgreSQL fails too, the catch-up on reconnect and the safety poll find them.
        await channels.notify(options.channel, wakePayloads(userIds)).catch(onError)
      }
    },
    async announceTemplate(key) {
      try {
        if (!redis) throw new Error('no Redis')
        await redis.publishTemplate(key)
      } catch {
        await channels.notify(templateChannel, [key]).catch(onError)
      }
    },
    catchUp: () => wakes.catchUp(),
    get backend(): Backend {
      if (!redis) return 'postgres'
      if (!redis.link.up) return 'postgres (Redis unreachable)'
      return redis.usable() ? 'redis' : 'postgres (another instance cannot reach Redis)'
    },
    async start() {
      await wakes.start()
      await listenForGenerations()
      await listenForTemplates()
      if (redis) unlisten.push(await redis.start())
      await presence.start()
    },
    async stop() {
      await presence.stop()
      redis?.link.stop()
      await Promise.all([wakes.stop(), ...unlisten.map((stop) => stop().catch(() => {}))])
    },
  }
}

type RedisSignals = {
  link: RedisLink
  generations: Generations
  /** Connected, and no peer has said it is not. */
  usable(): boolean
  publishWake(userIds: string[]): Promise<void>
  publishTemplate(key: string): Promise<void>
  /** Connects (or starts retrying) and listens to peers; returns how to stop listening. */
  start(): Promise<() => Promise<void>>
}

function createRedisSignals(
  channels: Channels,
  local: Local,
  options: SignalsOptions & { redisUrl: string },
  catchUpWakes: () => Promise<number>,
): RedisSignals {
  const { log, redisPrefix: prefix, downRepeatMs = 2000 } = options
  const self = options.instance
  const control = options.channel + '_control'
  const names = { generation: prefix + 'generation', wake: prefix + 'wake', templates: prefix + 'templates' }
  /** Peers that said they cannot reach Redis, until when we believe them. */
  const peersDown = new Map<string, number>()
  let downTimer: ReturnType<typeof setInterval> | undefined
  const onError = (error: unknown) => log.error('herald:', error)

  const link = createRedisLink({
    url: options.redisUrl,
    channels: [names.generation, names.wake, names.templates],
    pingEveryMs: options.redisPingMs,
    onMessage(message, channel) {
      if (channel === names.generation) return applyAnnouncement(local, message, onError)
      if (channel === names.templates) return options.templates?.forget(message)
      const users = wakeList(message)
      if (users) local.wake(users)
      else onError(new Error(`ignored a malformed wake-up on ${channel}: ${JSON.stringify(message.slice(0, 100))}`))
    },
    onDown(error) {
      log.warn(`herald: Redis is unreachable (${error.message}); signalling through PostgreSQL until it is back`, { reason: error.message })
      tell('down')
      // Repeat, and look for alarms that peers committed quietly before they heard (and forget
      // templates they may have changed then: read again, they are current).
      downTimer ??= setInterval(() => {
        tell('down')
        catchUpWakes().catch(onError)
        options.templates?.forgetAll()
      }, downRepeatMs)
      downTimer.unref?.()
      catchUpWakes().catch(onError)
      options.templates?.forgetAll()
    },
    onUp() {
      if (!downTimer) return // the first connection: nothing was missed
      log.warn('herald: Redis is reachable again; signalling through Redis')
      options.onRedisReconnect?.()
      clearInterval(downTimer)
      downTimer = undefined
      tell('up')
      catchUpWakes().catch(onError)
      generations.catchUp().catch(onError)
      // Peers that signalled through Redis meanwhile: this instance did not hear their changes.
      options.templates?.forgetAll()
    },
  })
  const generations = createRedisGenerations(link, local, { prefix, channel: names.generation })

  // One after the other: a repeated 'down' still in flight must not arrive after the 'up'.
  let telling = Promise.resolve()
  function tell(state: 'down' | 'up') {
    telling = telling.then(() => channels.notify(control, [state + ' ' + self])).then(() => {}, onError)
  }

  function heard(payload: string) {
    const [state, peer] = payload.split(' ') as [string, string]
    if (peer === self) return
    if (state === 'down') {
      if (!peersDown.has(peer)) log.warn(`herald: instance ${peer} cannot reach Redis; signalling through PostgreSQL while it cannot`, { peer })
      peersDown.set(peer, Date.now() + 3 * downRepeatMs)
    } else if (peersDown.delete(peer)) log.warn(`herald: instance ${peer} reaches Redis again`, { peer })
  }

  function anyPeerDown(): boolean {
    const now = Date.now()
    for (const [peer, until] of peersDown) {
      if (until > now) return true
      peersDown.delete(peer) // it stopped repeating: it is back, or gone
    }
    return false
  }

  return {
    link,
    generations,
    usable: () => link.up && !anyPeerDown(),
    async publishWake(userIds) {
      await link.send('PUBLISH', [names.wake, JSON.stringify(userIds)])
    },
    async publishTemplate(key) {
      await link.send('PUBLISH', [names.templates, key])
    },
    async start() {
      const unlisten = await channels.listen(control, heard)
      await link.start()
      return async () => {
        clearInterval(downTimer)
        await unlisten()
      }
    },
  }
}

/** A wake-up message is a JSON array of user ids; anything else (a stranger on the channel) is undefined. */
function wakeList(message: string): string[] | undefined {
  try {
    const users: unknown = JSON.parse(message)
    return Array.isArray(users) && users.every((user) => typeof user === 'string') ? users : undefined
  } catch {
    return undefined
  }
}
