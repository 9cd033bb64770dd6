// Two Herald instances on one database, as two processes or two machines would be: a newer stream
// on either ends the older one on the other, and an alarm published to one reaches a stream on the other.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readConfig } from '../src/config'
import { createPgGenerations } from '../src/signals/generations'
import { createChannels } from '../src/store/channels'
import { createRegistry } from '../src/stream/registry'
import { startServer, type RunningServer } from '../src/http/server'
import { nextAlarm, quiet, ready, testHerald, type TestHerald } from './helpers/herald'
import { readSse } from './helpers/sse'

let a: TestHerald
let b: RunningServer
beforeAll(async () => {
  a = await testHerald('instances')
  const config = { ...readConfig({}), databaseUrl: a.db.url, port: 0, hostname: '127.0.0.1' }
  b = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0 } })
})
afterAll(async () => {
  await b.stop()
  await a[Symbol.asyncDispose]()
})

async function subscribeTo(server: { url: string }, userId: string) {
  const response = await fetch(new URL(`/connection/${userId}?lang=ko`, server.url))
  return readSse(response)
}

describe('two instances', () => {
  test('a newer stream on B ends the older one on A, and the other way round', async () => {
    const onA = await subscribeTo(a, 'roamer')
    const first = await ready(onA)
    const onB = await subscribeTo(b, 'roamer')
    const second = await ready(onB)
    expect(second.generation).toBeGreaterThan(first.generation)
    expect((await onA.nextEvent())?.event).toBe('superseded')
    expect(await onA.ended()).toEqual([]) // and the response ends

    const backOnA = await subscribeTo(a, 'roamer')
    const third = await ready(backOnA)
    expect(third.generation).toBeGreaterThan(second.generation)
    expect((await onB.nextEvent())?.event).toBe('superseded')
    expect(await onB.ended()).toEqual([])
    expect(b.herald.live.generationOf('roamer')).toBeUndefined()
    await backOnA.cancel()
  })

  test('streams of other users on the other instance are left alone', async () => {
    const mine = await subscribeTo(a, 'stay')
    await ready(mine)
    const other = await subscribeTo(b, 'someone-else')
    await ready(other)
    expect(a.herald.live.generationOf('stay')).toBeDefined()
    await Promise.all([mine.cancel(), other.cancel()])
  })

  test('an alarm published to B reaches the stream on A', async () => {
    const onA = await subscribeTo(a, 'across')
    await ready(onA)
    const res = await fetch(new URL('/alarms', b.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'across', messages: { ko: '건너편에서' } }),
    })
    expect(res.status).toBe(201)
    expect((await nextAlarm(onA)).message).toBe('건너편에서')
    await onA.cancel()
  })
})

describe('shared generations', () => {
  test('opens of one user in one batch get consecutive numbers, after any earlier one', async () => {
    const generations = createPgGenerations(createChannels(a.db.sql), createRegistry(), { channel: 'herald_test_generations' })
    const before = await generations.next('batched')
    const [x, y, z] = await Promise.all([generations.next('batched'), generations.next('batched'), generations.next('other-user')])
    expect(x).toBeGreaterThan(before)
    expect(y).toBe(x + 1)
    expect(z).toBeGreaterThan(0)
    expect(generations.stats.queries).toBe(2)
  })

  test('catch-up ends a local stream whose newer number was announced while nobody listened', async () => {
    const registry = createRegistry()
    const generations = createPgGenerations(createChannels(a.db.sql), registry, { channel: 'herald_test_generations' })
    const ended: string[] = []
    const holder = (userId: string) => ({ key: userId, generation: 0, superseded: () => void ended.push(userId) })
    registry.claim(holder('missed'), await generations.next('missed'))
    registry.claim(holder('current'), await generations.next('current'))
    // Another instance opened 'missed' again; its NOTIFY was lost.
    await a.db.sql`update user_generations set generation = generation + 1 where user_id = 'missed'`
    expect(await generations.catchUp()).toBe(1)
    expect(ended).toEqual(['missed'])
    expect(registry.generationOf('current')).toBeDefined()
  })
})
