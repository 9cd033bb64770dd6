// `bun run start`: read the config, serve, and end cleanly on SIGTERM/SIGINT. With
// HERALD_WORKERS > 1, supervise that many copies of this entry on one port instead.
import { runCluster } from './cluster'
import { ConfigError, readConfig } from '../config'
import { startServer } from '../http/server'

try {
  const config = readConfig()
  if (config.workers > 1 && config.worker === undefined) {
    console.log(`herald: cluster of ${config.workers} workers on port ${config.port}`)
    process.exit(await runCluster({ workers: config.workers, entry: import.meta.path }))
  }
  const running = await startServer(config)
  console.log(`herald: listening on ${running.url}`)
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, async () => {
      console.log(`herald: ${signal}, shutting down (at most ${config.shutdownMs} ms)`)
      await running.stop()
      console.log('herald: stopped')
      process.exit(0)
    })
} catch (error) {
  if (error instanceof ConfigError) console.error(`herald: invalid configuration: ${error.message}`)
  else console.error('herald: failed to start:', error)
  process.exit(1)
}
