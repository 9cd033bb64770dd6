// Cluster mode's /metrics: a scrape of the shared port reaches one worker, which asks its
// supervisor over the IPC channel; the supervisor asks every worker for its figures, sums them
// (prom-client's AggregatorRegistry, by each metric's own aggregator) and hands the text back.
// So one scrape target covers every worker, however the kernel spread the streams.
import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import { Errors } from '../errors'
import { aggregateMetrics } from '../metrics'

type Snapshot = MetricObjectWithValues<MetricValue<string>>[]

/** What travels on the channel. */
export type MetricsMessage =
  | { herald: 'metrics:gather'; id: number }
  | { herald: 'metrics:collect'; id: number }
  | { herald: 'metrics:part'; id: number; metrics: Snapshot }
  | { herald: 'metrics:result'; id: number; text?: string; error?: string }

type Channel = { send(message: MetricsMessage): unknown }

/** How long the supervisor waits for the workers' figures: a worker that is late is left out (and counted so). */
export const COLLECT_MS = 2000
/** How long a worker waits for the supervisor's answer before the scrape fails. */
export const GATHER_MS = 5000

function isMessage(message: unknown): message is MetricsMessage {
  return typeof message === 'object' && message !== null && typeof (message as { herald?: unknown }).herald === 'string'
}

/**
 * The supervisor's side: answers a worker's `gather` with every running worker's figures summed.
 * `workers()` are the running workers' channels.
 */
export function supervisorMetrics(workers: () => Channel[], { collectMs = COLLECT_MS } = {}) {
  let next = 0
  const waiting = new Map<number, (part: Snapshot) => void>()

  async function gather(): Promise<string> {
    const channels = workers()
    const parts: Snapshot[] = []
    await Promise.all(
      channels.map((channel) => {
        const id = next++
        let timer: Timer | undefined
        return new Promise<void>((resolve) => {
          waiting.set(id, (part) => {
            parts.push(part)
            resolve()
          })
          timer = setTimeout(resolve, collectMs)
          try {
            channel.send({ herald: 'metrics:collect', id })
          } catch {
            resolve() // it is exiting: its figures are missing from this scrape
          }
        }).finally(() => {
          clearTimeout(timer)
          waiting.delete(id)
        })
      }),
    )
    return aggregateMetrics(parts, channels.length)
  }

  return {
    /** Hand every message from a worker here; returns whether it was one of these. */
    onMessage(message: unknown, from: Channel): boolean {
      if (!isMessage(message)) return false
      if (message.herald === 'metrics:part') waiting.get(message.id)?.(message.metrics)
      else if (message.herald === 'metrics:gather')
        void gather().then(
          (text) => from.send({ herald: 'metrics:result', id: message.id, text }),
          (error: Error) => from.send({ herald: 'metrics:result', id: message.id, error: error.message }),
        )
      return true
    },
  }
}

/**
 * A worker's side: `source()` is what its GET /metrics answers (every worker's figures, from the
 * supervisor), and `onMessage` answers the supervisor's `collect` with `snapshot()`, this worker's own.
 */
export function workerMetrics(channel: Channel, snapshot: () => Promise<Snapshot>, { gatherMs = GATHER_MS } = {}) {
  let next = 0
  const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>()

  return {
    source(): Promise<string> {
      const id = next++
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(Errors.unavailable(`the cluster supervisor did not gather the workers' metrics within ${gatherMs} ms; retry`))
        }, gatherMs)
        const done = () => {
          clearTimeout(timer)
          pending.delete(id)
        }
        pending.set(id, { resolve: (text) => (done(), resolve(text)), reject: (error) => (done(), reject(error)) })
        channel.send({ herald: 'metrics:gather', id })
      })
    },
    onMessage(message: unknown): boolean {
      if (!isMessage(message)) return false
      if (message.herald === 'metrics:collect')
        void snapshot().then(
          (metrics) => channel.send({ herald: 'metrics:part', id: message.id, metrics }),
          () => {}, // left out of this scrape: the supervisor stops waiting for it
        )
      else if (message.herald === 'metrics:result') {
        const waiter = pending.get(message.id)
        if (message.text !== undefined) waiter?.resolve(message.text)
        else waiter?.reject(Errors.unavailable(`the supervisor could not gather the metrics: ${message.error}`))
      }
      return true
    },
  }
}
