// Group commit: publishes that arrive together share one statement, and still each get their own
// answer, their own seq, and their own error.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createPublisher } from '../src/store/publisher'
import { testDb, type TestDb } from './helpers/db'

let db: TestDb
beforeAll(async () => {
  db = await testDb('publisher')
})
afterAll(() => db[Symbol.asyncDispose]())

const alarm = (userId: string, text: string, key?: string) => ({ userId, messages: { ko: text, en: `en ${text}` }, data: { text }, key })

describe('batched publishing', () => {
  test('publishes made together share one statement, each answered with its own alarm and seq', async () => {
    const publisher = createPublisher(db.sql)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => publisher.publish(alarm(`batch-${i % 3}`, `m${i}`))))
    expect(publisher.stats.requests).toBe(50)
    expect(publisher.stats.queries).toBeLessThan(5)
    // Every answer matches what is stored, and each user's seqs run 1, 2, 3… in submission order.
    for (const [i, { alarm: published, created }] of results.entries()) {
      expect(created).toBe(true)
      const [row] = await db.sql`select user_id, seq, data->>'text' as text from alarms where id = ${published.id}`
      expect(row).toEqual({ user_id: `batch-${i % 3}`, seq: String(published.seq), text: `m${i}` })
    }
    for (const user of ['batch-0', 'batch-1', 'batch-2']) {
      const seqs = results.filter((r) => r.alarm.userId === user).map((r) => r.alarm.seq)
      expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    }
    const [texts] = await db.sql`select count(*)::int as n from alarm_messages m join alarms a on a.id = m.alarm_id where a.user_id like 'batch-%'`
    expect(texts!.n).toBe(100)
  })

  test('one alarm the database refuses fails alone; its neighbours in the batch are stored', async () => {
    const publisher = createPublisher(db.sql)
    const tooLong = 'x'.repeat(4001) // the route refuses this; the database's check must too
    const outcomes = await Promise.allSettled([
      publisher.publish(alarm('mixed', 'before')),
      publisher.publish(alarm('mixed', tooLong)),
      publisher.publish(alarm('mixed', 'after')),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    const rows = await db.sql`select data->>'text' as text from alarms where user_id = 'mixed' order by seq`
    expect(rows.map((r) => r.text)).toEqual(['before', 'after'])
    const [orphans] = await db.sql`select count(*)::int as n from alarms a where not exists (select 1 from alarm_messages where alarm_id = a.id)`
    expect(orphans!.n).toBe(0)
  })

  test('the same key twice in one batch stores one alarm and answers both with it', async () => {
    const publisher = createPublisher(db.sql)
    const [first, second] = await Promise.all([
      publisher.publish(alarm('keyed', 'same', 'k-1')),
      publisher.publish(alarm('keyed', 'same', 'k-1')),
    ])
    expect([first!.created, second!.created].sort()).toEqual([false, true])
    expect(first!.alarm.id).toBe(second!.alarm.id)
    const [row] = await db.sql`select count(*)::int as n from alarms where user_id = 'keyed'`
    expect(row!.n).toBe(1)
  })

  test('batches locking the same users in opposite orders neither deadlock nor lose a publish', async () => {
    const publisher = createPublisher(db.sql, { maxBatch: 20, maxInFlight: 4 })
    const users = ['lock-a', 'lock-b', 'lock-c', 'lock-d']
    const jobs = Array.from({ length: 400 }, (_, i) => publisher.publish(alarm(users[(i * 7 + (i >> 3)) % 4]!, `x${i}`)))
    const results = await Promise.all(jobs)
    expect(results.every((r) => r.created)).toBe(true)
    for (const user of users) {
      const [row] = await db.sql`select count(*)::int as n, max(seq)::int as top from alarms where user_id = ${user}`
      expect(row!.top).toBe(row!.n) // no gaps, nothing lost
    }
    expect(publisher.stats.queries).toBeGreaterThan(4) // several batches did run side by side
  })
})
