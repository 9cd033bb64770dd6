// GET /health — is PostgreSQL answering, and what carries the signals right now. Unauthenticated,
// so it says nothing about internals: the driver's error (with the database's address) goes to
// the log, the client gets a code.
import { Elysia } from 'elysia'
import { Errors, errorBody } from '../../errors'

export type HealthOptions = {
  /** Resolves when the database answers; rejects otherwise. */
  ping(): Promise<unknown>
  /** What carries wake-ups and generations now: operators see a Redis fallback here. */
  signals(): string
  onError(error: unknown): void
  timeoutMs?: number
}

export function healthRoutes({ ping, signals, onError, timeoutMs = 2000 }: HealthOptions) {
  return new Elysia({ name: 'health' }).get('/health', async () => {
    try {
      await Promise.race([
        ping(),
        Bun.sleep(timeoutMs).then(() => Promise.reject(new Error(`PostgreSQL did not answer in ${timeoutMs} ms`))),
      ])
      return Response.json({ status: 'ok', signals: signals() })
    } catch (error) {
      onError(error)
      return Response.json({ status: 'unavailable', signals: signals(), ...errorBody(Errors.databaseUnavailable()) }, { status: 503 })
    }
  })
}
