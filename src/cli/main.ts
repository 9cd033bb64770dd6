// `bun run start`: read the config, serve, and end cleanly on SIGTERM/SIGINT. With
// HERALD_WORKERS > 1, supervise that many copies of this entry on one port instead; each of them
// (HERALD_WORKER set) also ends cleanly when its supervisor is gone.
import { runCluster } from './cluster'
import { workerMetrics } from './cluster-metrics'
import { ConfigError, configSecrets, readConfig } from '../config'
import { startServer } from '../http/server'
import { createLogger, formatFromEnv } from '../log'

// Before the configuration is read, a startup error still honours HERALD_LOG=json if it can.
let log = createLogger({ format: formatFromEnv() })
try {
  const config = readConfig()
  // One short id per process: on every JSON line, in pg_stat_activity (application_name) and in
  // what instances tell each other about Redis.
  const instance = crypto.randomUUID().slice(0, 8)
  log = createLogger({ format: config.logFormat, secrets: configSecrets(config), fields: { instance, worker: config.worker } })
  if (config.workers > 1 && config.worker === undefined) {
    log.log(`herald: cluster of ${config.workers} workers on port ${config.port}`, { workers: config.workers, port: config.port })
    const code = await runCluster({ workers: config.workers, entry: import.meta.path, port: config.port, hostname: config.hostname, log })
    process.exit(code)
  }
  // Watched from before the server starts, so a supervisor that dies meanwhile is not missed.
  const orphaned = config.worker === undefined ? undefined : supervisorGone()
  // A worker's /metrics answers for the whole cluster: its supervisor gathers every worker's. (An async
  // snapshot: a collect that comes before the server is up is a rejection, left out, not a throw.)
  const cluster = config.worker === undefined ? undefined : workerMetrics({ send: (message) => process.send!(message) }, async () => running.herald.metrics.snapshot())
  if (cluster) process.on('message', (message) => cluster.onMessage(message))
  const running = await startServer(config, { log, instance, overrides: cluster && { metricsSource: cluster.source } })
  log.log(`herald: listening on ${running.url}`, { url: running.url })
  let stopping: Promise<void> | undefined
  const stop = (why: string) =>
    (stopping ??= (async () => {
      log.log(`herald: ${why}, shutting down (at most ${config.shutdownMs} ms)`, { reason: why })
      await running.stop()
      log.log('herald: stopped')
      process.exit(0)
    })())
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal))
  void orphaned?.then((supervisor) => stop(`the supervisor (pid ${supervisor}) is gone`))
} catch (error) {
  if (error instanceof ConfigError) log.error(`herald: invalid configuration: ${error.message}`, { variable: error.variable })
  else log.error('herald: failed to start:', error)
  process.exit(1)
}

/**
 * Resolves, with the supervisor's pid, once it is gone. The supervisor opens an IPC channel to each
 * worker (Bun.spawn `ipc`); when it exits in any way, SIGKILL included, the kernel closes its end
 * and Bun emits 'disconnect' here at once (tested with Bun 1.4.5, also for a worker that was
 * stopped at the time: it sees it when it runs again). An event, where watching process.ppid or
 * alive(pid) would need a polling timer and a delay.
 */
function supervisorGone(): Promise<number> {
  const supervisor = process.ppid
  // No channel at all: started by hand, not by a supervisor.
  if (typeof process.send !== 'function')
    throw new ConfigError(
      'HERALD_WORKER',
      'is set by the cluster supervisor (HERALD_WORKERS=N starts one); a worker without its supervisor could not notice it die and would serve on alone',
    )
  const { promise, resolve } = Promise.withResolvers<number>()
  process.once('disconnect', () => resolve(supervisor))
  if (!process.connected) resolve(supervisor) // it closed before we listened
  return promise
}
