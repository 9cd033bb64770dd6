// Herald in cluster mode as an operator starts it (`HERALD_WORKERS=N PORT=<fixed> bun src/cli/main.ts`),
// for the benchmark: the workers' pids are read from the supervisor's output ("worker N started
// (pid P)"), so their memory and open files can be measured, and every one of them is ended
// afterwards, even when the supervisor has to be killed (test/helpers/process.ts does both).
import { readdirSync, readFileSync } from 'node:fs'
import type { Subprocess } from 'bun'
import { freePort } from '../src/cli/process'
import { spawnEntry } from '../test/helpers/process'

export type Cluster = {
  port: number
  /** Worker index → its current pid (a restarted worker gets a new one). */
  readonly pids: ReadonlyMap<number, number>
  /** Workers started again after dying while the benchmark ran; 0 when all is well. */
  readonly restarts: number
  /** SIGTERM (all workers stop gracefully), then, after `graceMs`, SIGKILL to any that is left. */
  stop(graceMs?: number): Promise<void>
}

export type ClusterOptions = {
  workers: number
  env: Record<string, string | undefined>
  cwd: string
  startMs?: number
  /** Told of the supervisor process, so whoever started it can end it on a signal. */
  track?: (proc: Subprocess) => void
}

export async function startCluster({ workers, env, cwd, startMs = 60_000, track }: ClusterOptions): Promise<Cluster> {
  const port = freePort() // cluster mode needs a fixed port: its workers share it
  const supervisor = spawnEntry('src/cli/main.ts', {
    cwd,
    env: { ...env, HOST: '127.0.0.1', PORT: String(port), HERALD_WORKERS: String(workers) },
    stderr: 'inherit',
  })
  track?.(supervisor.proc)
  const cluster: Cluster = {
    port,
    get pids() {
      return new Map(supervisor.workers().map((w) => [w.index, w.pid]))
    },
    get restarts() {
      return Math.max(0, supervisor.workers().length - workers)
    },
    async stop(graceMs = 20_000) {
      await supervisor.stop(graceMs)
    },
  }

  const deadline = performance.now() + startMs
  try {
    await supervisor.waitFor(/worker \d+ started \(pid \d+\)/, workers, startMs)
    await supervisor.waitFor(/listening on/, workers, Math.max(0, deadline - performance.now()))
  } catch (error) {
    await cluster.stop(2000)
    throw new Error(`the cluster of ${workers} did not start: ${(error as Error).message}`)
  }
  return cluster
}

/** Open file descriptors of a process: its sockets, so its streams. */
export function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/** CPU seconds (utime + stime) of these processes, summed; a process gone meanwhile counts 0. */
export async function processCpuSeconds(pids: number[]): Promise<number> {
  const each = await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await Bun.file(`/proc/${pid}/stat`).text()
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        return (Number(fields[11]) + Number(fields[12])) / 100
      } catch {
        return 0
      }
    }),
  )
  return each.reduce((a, b) => a + b, 0)
}

/** CPU seconds the whole machine spent busy (every core, /proc/stat: all but idle and iowait). */
export async function machineBusySeconds(): Promise<number> {
  const [cpu] = (await Bun.file('/proc/stat').text()).split('\n')
  const ticks = cpu!.trim().split(/\s+/).slice(1).map(Number)
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0)
  return (total - ticks[3]! - ticks[4]!) / 100
}

/** Every process on the machine named `postgres` (the server and its backends), read from /proc. */
export function postgresPids(): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

export type CpuSample = { at: number; herald: number; load: number; postgres: number; machine: number }

/**
 * Samples the CPU of Herald's workers, of the load processes, of PostgreSQL and of the machine every `everyMs`
 * (bounded: at most `maxSamples`) until stopped, so a window inside (a burst's commit to its last
 * event) can be cut out afterwards: where the CPU went, and whether the cores were the bound.
 */
export function sampleCpu(heraldPids: () => number[], loadPids: number[], everyMs = 100, maxSamples = 3000) {
  const samples: CpuSample[] = []
  let stopped = false
  const done = (async () => {
    while (!stopped && samples.length < maxSamples) {
      const at = performance.timeOrigin + performance.now()
      const [herald, load, postgres, machine] = await Promise.all([
        processCpuSeconds(heraldPids()),
        processCpuSeconds(loadPids),
        processCpuSeconds(postgresPids()),
        machineBusySeconds(),
      ])
      samples.push({ at, herald, load, postgres, machine })
      await Bun.sleep(everyMs)
    }
  })()
  return {
    async stop() {
      stopped = true
      await done
    },
    /** CPU seconds spent between two instants (the samples nearest inside them), and the wall seconds between those samples. */
    between(from: number, to: number) {
      const first = samples.find((s) => s.at >= from) ?? samples.at(-1)!
      const last = samples.findLast((s) => s.at <= to) ?? first
      const wall = (last.at - first.at) / 1000
      const herald = last.herald - first.herald
      const load = last.load - first.load
      // A backend that exits inside the window takes its CPU with it: never below zero.
      const postgres = Math.max(0, last.postgres - first.postgres)
      const machine = last.machine - first.machine
      return { wall, herald, load, postgres, other: machine - herald - load - postgres, machine }
    },
  }
}
