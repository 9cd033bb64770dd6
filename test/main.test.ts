// The entry as a newcomer runs it: a real process.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { testDb, type TestDb } from './helpers/db'
import { spawnEntry, startEntry } from './helpers/process'

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

describe('POST /dev/token, as the entries start it', () => {
  const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
  const PUBLISH_KEY = 'publisher-key-0123456789'
  const secured = { HERALD_JWT_SECRET: SECRET, HERALD_PUBLISH_KEYS: PUBLISH_KEY }
  let db: TestDb
  beforeAll(async () => {
    db = await testDb('main_dev_token')
  })
  afterAll(async () => {
    await db[Symbol.asyncDispose]()
  })

  const base = () => {
    const { HERALD_DEV_TOKENS: _, NODE_ENV: __, ...inherited } = process.env
    return { ...inherited, DATABASE_URL: db.url, PORT: '0', HOST: '127.0.0.1' }
  }
  const mint = (url: string) =>
    fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"victim"}' })

  test('NODE_ENV=Production (a typo) with secrets set: no /dev/token, and startup names the value', async () => {
    const herald = spawnEntry('src/cli/main.ts', { env: { ...base(), ...secured, NODE_ENV: 'Production' } })
    try {
      const [[, url]] = (await herald.waitFor(/listening on (\S+)/)) as [RegExpMatchArray]
      expect((await mint(url!)).status).toBe(404)
      // stderr is read apart from stdout: wait for the line rather than expect it already read.
      await herald.waitFor(/NODE_ENV='Production'.*only .*'production'/)
    } finally {
      expect(await herald.stop()).toBe(0)
    }
  }, 20_000)

  test('HERALD_DEV_TOKENS=anyone-can-mint with secrets set mints, and startup says so loudly', async () => {
    const herald = spawnEntry('src/cli/main.ts', { env: { ...base(), ...secured, HERALD_DEV_TOKENS: 'anyone-can-mint' } })
    try {
      const [[, url]] = (await herald.waitFor(/listening on (\S+)/)) as [RegExpMatchArray]
      const res = await mint(url!)
      expect(res.status).toBe(200)
      expect(typeof (await res.json()).token).toBe('string')
      await herald.waitFor(/WARNING.*\/dev\/token is ON.*any user/)
    } finally {
      expect(await herald.stop()).toBe(0)
    }
  }, 20_000)

  test('npm start leaves it off with only HERALD_JWT_SECRET set, and says nothing about it', async () => {
    const herald = spawnEntry('src/cli/main.ts', { env: { ...base(), HERALD_JWT_SECRET: SECRET } })
    try {
      const [[, url]] = (await herald.waitFor(/listening on (\S+)/)) as [RegExpMatchArray]
      expect((await mint(url!)).status).toBe(404)
      // Startup's warnings come before this one, on the same stream: once it is read, they are.
      await herald.waitFor(/auth is OFF for publishers/)
      expect(herald.output()).not.toContain('/dev/token')
    } finally {
      expect(await herald.stop()).toBe(0)
    }
  }, 20_000)

  test.each([
    ['with HERALD_JWT_SECRET', { HERALD_JWT_SECRET: SECRET }, true],
    ['without a secret', {}, false],
  ])('npm run dev %s: the demo page gets its tokens as it needs', async (_, env, devToken) => {
    const dev = await startEntry('src/cli/dev.ts', { env: { ...base(), ...env }, timeoutMs: 50_000 })
    try {
      expect(dev.url).toBeDefined()
      const html = await (await fetch(`${dev.url}/`)).text()
      const config = JSON.parse(html.match(/id="herald-config">(.*?)<\/script>/)![1]!)
      expect(config).toMatchObject({ auth: devToken, devToken })
      expect((await mint(dev.url!)).status).toBe(devToken ? 200 : 404)
    } finally {
      expect(await dev.stop()).toBe(0)
    }
    const output = await dev.finished()
    if (devToken) expect(output).toMatch(/WARNING.*\/dev\/token is ON/)
    else expect(output).not.toContain('/dev/token')
  }, 20_000)

  test('npm run dev with HERALD_PUBLISH_KEYS set starts with minting off, and says how to turn it on', async () => {
    const dev = await startEntry('src/cli/dev.ts', { env: { ...base(), ...secured }, timeoutMs: 50_000 })
    try {
      expect(dev.url).toBeDefined()
      expect((await mint(dev.url!)).status).toBe(404)
    } finally {
      expect(await dev.stop()).toBe(0)
    }
    expect(await dev.finished()).toContain('/dev/token is off, so the demo page gets no tokens (HERALD_DEV_TOKENS=anyone-can-mint')
  }, 20_000)
})
