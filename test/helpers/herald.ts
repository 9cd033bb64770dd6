// A real Herald on a real socket, on a fresh schema: what most integration tests start with.
import type { HeraldOptions } from '../../src/http/app'
import { readConfig } from '../../src/config'
import { startServer, type RunningServer } from '../../src/http/server'
import { readSse, type SseReader } from './sse'
import { testDb, type TestDb } from './db'

export const quiet = { log() {}, warn() {}, error() {} }

export type TestHerald = RunningServer & {
  db: TestDb
  subscribe(userId: string, options?: SubscribeOptions): Promise<Subscription>
  publish(body: unknown): Promise<Response>
  [Symbol.asyncDispose](): Promise<void>
}

export type SubscribeOptions = {
  lang?: string
  since?: string | number
  headers?: Record<string, string>
}

export type Subscription = SseReader & {
  response: Response
  /** Drops the connection, as a closed tab does. */
  abort(): void
}

export async function testHerald(name: string, overrides: Partial<HeraldOptions> = {}): Promise<TestHerald> {
  const db = await testDb(name)
  const config = { ...readConfig({}), databaseUrl: db.url, port: 0, hostname: '127.0.0.1' }
  const running = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0, ...overrides } })
  const controllers = new Set<AbortController>()
  return {
    ...running,
    db,
    async subscribe(userId, { lang, since, headers = {} } = {}) {
      const url = new URL(`/connection/${encodeURIComponent(userId)}`, running.url)
      if (lang !== undefined) url.searchParams.set('lang', lang)
      if (since !== undefined) url.searchParams.set('since', String(since))
      const controller = new AbortController()
      controllers.add(controller)
      const response = await fetch(url, { headers, signal: controller.signal })
      const reader = readSse(response)
      return Object.assign(reader, { response, abort: () => controller.abort() })
    },
    publish(body) {
      return fetch(new URL('/alarms', running.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })
    },
    async [Symbol.asyncDispose]() {
      for (const controller of controllers) controller.abort()
      await running.stop()
      await db[Symbol.asyncDispose]()
    },
  }
}

/** Awaits the `ready` event and returns its data. */
export async function ready(sub: SseReader) {
  const event = await sub.nextEvent()
  if (event?.event !== 'ready') throw new Error(`expected ready, got ${event?.raw ?? 'the end'}`)
  return JSON.parse(event.data!) as {
    userId: string
    device: string | null
    locale: string
    generation: number
    since: number
    badge: { unread: number; unseen: number }
  }
}

export type AlarmEvent = {
  id: number
  seq: number
  locale: string
  message: string
  data: unknown
  createdAt: string
  /** The SSE `id:` field. */
  eventId: string
}

/** Awaits the next `alarm` event (skipping comments and `badge` updates, which tests of their own check) and returns its data. */
export async function nextAlarm(sub: SseReader): Promise<AlarmEvent> {
  let event = await sub.nextEvent()
  while (event?.event === 'badge') event = await sub.nextEvent()
  if (event?.event !== 'alarm') throw new Error(`expected alarm, got ${event?.raw ?? 'the end'}`)
  return { ...JSON.parse(event.data!), eventId: event.id }
}

/** Waits for a condition the code under test reaches asynchronously, with a deadline. */
export async function until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}
