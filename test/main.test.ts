// The entry as a newcomer runs it: a real process.
import { expect, test } from 'bun:test'

const bun = process.execPath

async function run(env: Record<string, string>) {
  const proc = Bun.spawn([bun, 'src/cli/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
  return { code, stderr }
}

test.each([
  ['PORT', 'eighty'],
  ['HERALD_HEARTBEAT_MS', '0'],
  ['HERALD_DEFAULT_LOCALE', 'US-en'],
  ['HERALD_LOCALES', 'ko,*'],
  ['HERALD_WORKERS', 'many'],
])('an invalid %s stops startup with a message naming it', async (variable, value) => {
  const { code, stderr } = await run({ [variable]: value })
  expect(code).toBe(1)
  expect(stderr).toContain('invalid configuration')
  expect(stderr).toContain(variable)
})

test('an unreachable database stops startup with exit code 1', async () => {
  const { code, stderr } = await run({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', PORT: '0' })
  expect(code).toBe(1)
  expect(stderr).toContain('failed to start')
})
