// The browser the tests drive, headless through playwright-core: the demo page and the client library
// in a real Chromium. Which one: HERALD_CHROMIUM when set, else Debian's /usr/bin/chromium when it is
// installed, else the one `npm install` brought (@sparticuz/chromium, a headless Chromium packed in
// the package), so a fresh clone needs nothing from apt. `bun test/helpers/browser.ts` says which.
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

const DEBIAN_CHROMIUM = '/usr/bin/chromium'

export type ChromiumChoice = { source: 'HERALD_CHROMIUM' | 'debian' | 'npm'; path?: string }

/** The rule above, without touching the disk beyond `exists`. The npm one's path is known once unpacked. */
export function chooseChromium(env = process.env, exists = existsSync): ChromiumChoice {
  if (env.HERALD_CHROMIUM) return { source: 'HERALD_CHROMIUM', path: env.HERALD_CHROMIUM }
  if (exists(DEBIAN_CHROMIUM)) return { source: 'debian', path: DEBIAN_CHROMIUM }
  return { source: 'npm' }
}

export async function chromiumPath(choice = chooseChromium()): Promise<string> {
  if (!choice.path) return unpackNpmChromium()
  if (!existsSync(choice.path)) throw new Error(`no Chromium at ${choice.path} (${choice.source})`)
  return choice.path
}

/**
 * @sparticuz/chromium unpacks into os.tmpdir() itself (`/tmp/chromium`, its GL libraries loose beside
 * it) and reuses whatever is there, of any version, even half written by a concurrent run. So it
 * unpacks in a child with a staging TMPDIR, renamed into a folder per version: atomic, and an
 * upgrade unpacks afresh.
 */
async function unpackNpmChromium(): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error('@sparticuz/chromium is Linux x64 only: set HERALD_CHROMIUM to a Chromium or Chrome binary')
  const entry = import.meta.resolve('@sparticuz/chromium')
  const { version } = await Bun.file(new URL('../package.json', entry)).json()
  const folder = join(tmpdir(), `herald-chromium-${version}`)
  if (existsSync(join(folder, 'chromium'))) return join(folder, 'chromium')
  const staging = mkdtempSync(`${folder}-staging-`)
  try {
    const script = `const { default: c } = await import(${JSON.stringify(entry)}); await c.executablePath()`
    const unpack = Bun.spawn([process.execPath, '-e', script], {
      env: { ...process.env, TMPDIR: staging },
      stdout: 'inherit',
      stderr: 'inherit',
    })
    if ((await unpack.exited) !== 0) throw new Error(`unpacking @sparticuz/chromium ${version} failed`)
    renameSync(staging, folder)
  } catch (error) {
    // Another run renamed its copy first: use that one.
    if (!existsSync(join(folder, 'chromium'))) throw error
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  return join(folder, 'chromium')
}

/** Headless, quiet, and with a profile of its own: launch() gives every run a fresh user-data-dir. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: await chromiumPath(),
    headless: true,
    // Not @sparticuz/chromium's own `args`: made for AWS Lambda, its --single-process breaks
    // playwright's several pages and contexts. --no-sandbox: the tests may run as root.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}

/** Counts the stream requests a browser context makes: "one stream per browser" is counted here. */
export function countStreams(context: BrowserContext): { readonly count: number } {
  let count = 0
  context.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/connection/')) count++
  })
  return {
    get count() {
      return count
    },
  }
}

export type DemoState = { state: string; role: string; locale: string; lastId: string }

export async function demoState(page: Page): Promise<DemoState> {
  return page.locator('#state').evaluate((el: HTMLElement) => ({
    state: el.dataset.state ?? '',
    role: el.dataset.role ?? '',
    locale: el.dataset.locale ?? '',
    lastId: el.dataset.lastId ?? '',
  }))
}

/** Waits until the demo page's connection is in `state` (and `role`, when given). */
export async function waitForState(page: Page, state: string, extra: Partial<DemoState> = {}, timeout = 10_000) {
  const selector =
    `#state[data-state="${state}"]` +
    Object.entries(extra)
      .map(([key, value]) => `[data-${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}="${value}"]`)
      .join('')
  await page.waitForSelector(selector, { timeout })
}

/** The alarms the page shows, in arrival order. */
export async function shownAlarms(page: Page): Promise<{ seq: number; locale: string; message: string }[]> {
  return page.locator('#alarms li').evaluateAll((items) =>
    items.map((li) => ({
      seq: Number((li as HTMLElement).dataset.seq),
      locale: (li as HTMLElement).dataset.locale ?? '',
      message: li.querySelector('.message')?.textContent ?? '',
    })),
  )
}

export async function waitForAlarmCount(page: Page, count: number, timeout = 10_000) {
  await page.waitForFunction((n) => document.querySelectorAll('#alarms li').length >= n, count, { timeout })
}

if (import.meta.main) {
  const choice = chooseChromium()
  const path = await chromiumPath(choice)
  const version = Bun.spawnSync([path, '--version']).stdout.toString().trim()
  console.log(`Chromium for the browser tests: ${path} (${choice.source}): ${version || 'does not start'}`)
  if (!version) process.exitCode = 1
}
