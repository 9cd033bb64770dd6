// `bun run start`: read the config, serve, and end cleanly on SIGTERM/SIGINT.
import { ConfigError, readConfig } from './config'
import { startServer } from './server'

try {
  const config = readConfig()
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
