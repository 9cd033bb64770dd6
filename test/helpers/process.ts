// A Herald entry (src/cli/main.ts, src/cli/dev.ts, the benchmark's baseline) as a real process, as a
// newcomer runs it; and which process holds a connection. The one place that spawns an entry and
// reads what it says: the tests and the benchmark (bench/) both import it, as test/helpers/ is
// shared with bench/ by the house style.
import { readFileSync } from 'node:fs'
import { alive, socketInodes, tcpSockets } from '../../src/cli/process'

const ROOT = new URL('../..', import.meta.url).pathname

export type SpawnOptions = {
  env: Record<string, string | undefined>
  /** Default: the repository's root, where the entries' relative paths resolve. */
  cwd?: string
  /** 'inherit' shows it on this process's stderr as it comes (the benchmark); 'pipe' makes it part of output(). */
  stderr?: 'pipe' | 'inherit'
}

export type Spawned = {
  proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe' | 'inherit'>>
  /** Everything it wrote so far: stdout, and stderr when piped, in the order read. */
  output(): string
  /** All of its output, once it and every process sharing its pipes (a cluster's workers) have exited. */
  finished(): Promise<string>
  /**
   * Resolves once `pattern` has appeared `times` times in its output; fails, with the output, if it
   * exits first or `timeoutMs` runs out.
   */
  waitFor(pattern: RegExp, times?: number, timeoutMs?: number): Promise<RegExpMatchArray[]>
  /** Its address, from "listening on http://HOST:PORT" (a cluster's first worker to say it). */
  listening(timeoutMs?: number): Promise<{ url: string; port: number }>
  /** Every worker it announced ("worker N started (pid P)"), restarted ones too, in order. */
  workers(): { index: number; pid: number }[]
  /**
   * SIGTERM, and its exit code (null when it had to be killed). What has not exited `graceMs` later
   * is killed: it, and every worker it announced that still runs, so no process outlives a failed
   * test or benchmark. Workers whose supervisor is already gone get the SIGTERM themselves.
   */
  stop(graceMs?: number): Promise<number | null>
}

const WORKER_STARTED = /worker (\d+) started \(pid (\d+)\)/g
// Not a quote either: with HERALD_LOG=json the address sits inside a JSON string.
const LISTENING = /listening on (http:\/\/[^\s"]+:(\d+))/

/** `bun <entry>` with its stdout (and stderr) read as they come, so its pipes never fill. */
export function spawnEntry(entry: string, { env, cwd = ROOT, stderr = 'pipe' }: SpawnOptions): Spawned {
  const proc = Bun.spawn([process.execPath, entry], {
    cwd,
    env: env as Record<string, string>,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr,
  })
  let out = ''
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const waiter of waiters) waiter()
  }
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      out += decoder.decode(chunk.value, { stream: true })
      wake()
    }
  }
  let ended = false
  const closed = Promise.all([read(proc.stdout), proc.stderr instanceof ReadableStream ? read(proc.stderr) : undefined]).then(() => {
    ended = true
    wake()
  })
  void proc.exited.then(wake)
  const exited = () => proc.exitCode !== null || proc.signalCode !== null

  async function waitFor(pattern: RegExp, times = 1, timeoutMs = 15_000): Promise<RegExpMatchArray[]> {
    const deadline = performance.now() + timeoutMs
    const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g')
    for (;;) {
      const found = [...out.matchAll(global)]
      if (found.length >= times) return found
      // Exited, and nothing can write any more (a killed supervisor's workers still can).
      if (exited() && ended) throw new Error(`${entry} exited (${proc.signalCode ?? proc.exitCode}) before ${pattern} ×${times}:\n${out}`)
      if (performance.now() >= deadline) {
        const state = exited() ? `; it exited (${proc.signalCode ?? proc.exitCode}), its pipes are still open` : ''
        throw new Error(`timed out waiting for ${pattern} ×${times} from ${entry}${state}:\n${out}`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, deadline - performance.now())
        function done() {
          clearTimeout(timer)
          waiters.delete(done)
          resolve()
        }
        waiters.add(done)
      })
    }
  }

  function workers() {
    return [...out.matchAll(WORKER_STARTED)].map((m) => ({ index: Number(m[1]), pid: Number(m[2]) }))
  }

  /** The workers it announced that still run, and are still Herald (pids get recycled). */
  function liveWorkers(): number[] {
    return workers()
      .map((w) => w.pid)
      .filter((pid) => alive(pid) && isHerald(pid))
  }

  async function stop(graceMs = 10_000): Promise<number | null> {
    if (!exited()) proc.kill('SIGTERM')
    else for (const pid of liveWorkers()) signal(pid, 'SIGTERM')
    // Done when it has exited and its pipes have closed: the workers hold them too.
    await within(Promise.all([proc.exited, closed]), graceMs)
    const left = liveWorkers()
    if (!exited()) proc.kill('SIGKILL')
    for (const pid of left) signal(pid, 'SIGKILL')
    await proc.exited
    return proc.exitCode
  }

  return {
    proc,
    output: () => out,
    finished: () => closed.then(() => proc.exited).then(() => out),
    waitFor,
    async listening(timeoutMs) {
      const [match] = await waitFor(LISTENING, 1, timeoutMs)
      return { url: match![1]!, port: Number(match![2]) }
    },
    workers,
    stop,
  }
}

export type Started = Spawned & { url: string; port: number }

/**
 * spawnEntry, resolved once it listens. One that exits first, or says nothing in `timeoutMs`, is
 * stopped, and the error carries its output.
 */
export async function startEntry(
  entry: string,
  options: SpawnOptions & { timeoutMs?: number; onSpawn?: (proc: Spawned['proc']) => void },
): Promise<Started> {
  const spawned = spawnEntry(entry, options)
  options.onSpawn?.(spawned.proc)
  try {
    return { ...spawned, ...(await spawned.listening(options.timeoutMs)) }
  } catch (error) {
    await spawned.stop(2000)
    throw error
  }
}

/** Waits for `promise`, at most `ms`; unlike racing Bun.sleep, leaves no timer holding the process open. */
export async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: Timer | undefined
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}

/** Still a Herald entry (a pid is only ours while its command line says so). */
function isHerald(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('src/cli/')
  } catch {
    return false
  }
}

function signal(pid: number, name: 'SIGTERM' | 'SIGKILL') {
  try {
    process.kill(pid, name)
  } catch {
    // it ended in between
  }
}

/**
 * Which of `pids` holds each established TCP connection accepted on `port`, keyed by the client's
 * port (Linux only: /proc). How a test learns which worker of a cluster serves a connection,
 * without the server saying so.
 */
export function connectionOwners(port: number, pids: readonly number[]): Map<number, number> {
  const ownerOf = new Map<string, number>() // socket inode → pid
  for (const pid of pids) for (const inode of socketInodes(pid)) ownerOf.set(inode, pid)
  const owners = new Map<number, number>()
  for (const socket of tcpSockets()) {
    const pid = ownerOf.get(socket.inode)
    if (socket.state === 'ESTABLISHED' && pid !== undefined && socket.localPort === port) owners.set(socket.remotePort, pid)
  }
  return owners
}
