// What a phase module is given by bench/run.ts: the load processes, a fresh database, a Herald to
// start. Phases take these as plain functions, so each can be read (and run) apart from run.ts.
import type { Command, Reply } from './protocol'

export type LoadWorker = { address: string }
/** A Herald a phase started: where it listens, its pid (for its CPU), and how to stop it. */
export type StartedHerald = { port: number; pid: number; stop(): Promise<void> }
export type Deliveries = { latencies: number[]; lost: number; duplicates: number; lastArrival: number }

/** What every phase with load processes has. */
export type PhaseDeps<W extends LoadWorker> = {
  workers: W[]
  ask<T extends Reply['type']>(worker: W, command: Command, expect: T): Promise<Extract<Reply, { type: T }>>
  /** A fresh, migrated database; returns its URL. */
  freshDatabase(name: string): Promise<string>
  log(...parts: unknown[]): void
}

/** A phase that holds streams on one Herald and awaits each alarm on them (batch, single). */
export type StreamsPhaseDeps<W extends LoadWorker> = PhaseDeps<W> & {
  startHerald(url: string): Promise<StartedHerald>
  /** Opens streams for u0…u<total - 1> on this port; resolves with how many are ready. */
  open(port: number, total: number): Promise<number>
  /** Waits (bounded) for these alarm ids (→ when each was sent) to arrive; what arrived earlier is dropped first by `forget`. */
  awaitDeliveries(expected: Map<number, number>, timeoutMs: number): Promise<Deliveries>
  /** Drops the receipts the load processes hold. */
  forget(): Promise<void>
  closeAll(): Promise<void>
  cpuSeconds(pid: number): Promise<number>
}
