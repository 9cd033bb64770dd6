// The batcher: requests of one turn share one call; an eager one does not wait a turn when idle.
import { describe, expect, test } from 'bun:test'
import { createBatcher } from '../src/batcher'

function recorder(eager: boolean) {
  const calls: number[][] = []
  const gates: (() => void)[] = []
  const batcher = createBatcher<number, number>(
    async (batch) => {
      calls.push(batch)
      await new Promise<void>((resolve) => gates.push(resolve))
      return batch.map((n) => n * 10)
    },
    { maxBatch: 100, maxInFlight: 1, stats: { queries: 0, requests: 0 }, eager },
  )
  return { calls, gates, batcher }
}

/** Resolves after the next turn of the event loop (setImmediate), when a lazy batcher has run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('batcher', () => {
  test('requests made in one turn share one call, run on the next turn', async () => {
    const { calls, gates, batcher } = recorder(false)
    const answers = [batcher.submit(1), batcher.submit(2)]
    await Promise.resolve()
    expect(calls).toEqual([]) // still this turn
    await nextTurn()
    expect(calls).toEqual([[1, 2]])
    gates.shift()!()
    expect(await Promise.all(answers)).toEqual([10, 20])
  })

  test('eager: with nothing in flight, the call starts within this turn; what comes meanwhile joins the next call', async () => {
    const { calls, gates, batcher } = recorder(true)
    const first = batcher.submit(1)
    await Promise.resolve()
    expect(calls).toEqual([[1]]) // no turn waited
    const later = [batcher.submit(2), batcher.submit(3)]
    await nextTurn()
    expect(calls).toEqual([[1]]) // one call in flight at most: 2 and 3 wait for it
    gates.shift()!()
    expect(await first).toBe(10)
    await until(() => calls.length === 2)
    expect(calls[1]).toEqual([2, 3])
    gates.shift()!()
    expect(await Promise.all(later)).toEqual([20, 30])
  })
})

async function until(condition: () => boolean) {
  for (let i = 0; i < 100 && !condition(); i++) await nextTurn()
  expect(condition()).toBe(true)
}
