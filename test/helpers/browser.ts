// Debian's Chromium, driven by playwright-core: the demo page and the client library in a real
// browser. `.ci/run` installs /usr/bin/chromium when it is missing.
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium'

/** Headless, quiet, and with a profile of its own: launch() gives every run a fresh user-data-dir. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set HERALD_CHROMIUM)`)
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
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
