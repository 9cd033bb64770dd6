import { describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { clientAddress } from '../src/http/client-address'
import { HeraldError } from '../src/errors'
import { readJson } from '../src/http/input'
import { createBuckets } from '../src/http/limits'
import { nextAlarm, ready, testHerald } from './helpers/herald'
import { parseResponse, rawClient } from './helpers/raw'

describe('token buckets', () => {
  test('allow a burst, then ask to wait until a token refills', () => {
    const buckets = createBuckets({ capacity: 2, perSecond: 1 })
    expect(buckets.take('u', 0)).toBe(0)
    expect(buckets.take('u', 0)).toBe(0)
    expect(buckets.take('u', 0)).toBe(1000)
    expect(buckets.take('u', 500)).toBe(500)
    expect(buckets.take('u', 1000)).toBe(0)
    expect(buckets.take('other', 1000)).toBe(0)
  })

  test('memory stays bounded however many keys come by', () => {
    const buckets = createBuckets({ capacity: 5, perSecond: 1, maxKeys: 100 })
    for (let i = 0; i < 10_000; i++) buckets.take(`user-${i}`, i)
    expect(buckets.size).toBeLessThanOrEqual(100)
  })
})

describe('clientAddress (the publish bucket key while publishing is open)', () => {
  const request = (...forwarded: string[]) => {
    const headers = new Headers()
    for (const value of forwarded) headers.append('x-forwarded-for', value)
    return new Request('http://herald/alarms', { headers })
  }

  test('trusting no proxy, it is the peer address, whatever X-Forwarded-For says', () => {
    expect(clientAddress(request('10.0.0.1'), '192.0.2.1', 0)).toBe('192.0.2.1')
    expect(clientAddress(request('10.0.0.2'), '192.0.2.1', 0)).toBe('192.0.2.1')
    expect(clientAddress(request(), '192.0.2.1', 0)).toBe('192.0.2.1')
    expect(clientAddress(request(), '192.0.2.2', 0)).toBe('192.0.2.2') // no shared 'anonymous'
  })

  test('trusting N proxies, it is the entry the farthest of them appended', () => {
    const forged = request('6.6.6.6, 203.0.113.7, 10.1.0.1')
    expect(clientAddress(forged, '10.0.0.9', 1)).toBe('10.1.0.1')
    expect(clientAddress(forged, '10.0.0.9', 2)).toBe('203.0.113.7')
    expect(clientAddress(request('6.6.6.6', '203.0.113.7'), '10.0.0.9', 1)).toBe('203.0.113.7') // two headers
    expect(clientAddress(request('2001:db8::1'), '10.0.0.9', 1)).toBe('2001:db8::1')
  })

  test('trusting proxies, a request that did not come through them is keyed by its peer', () => {
    expect(clientAddress(request(), '192.0.2.1', 1)).toBe('192.0.2.1')
    expect(clientAddress(request('not-an-address'), '192.0.2.1', 1)).toBe('192.0.2.1')
    expect(clientAddress(request('x'.repeat(4000)), '192.0.2.1', 1)).toBe('192.0.2.1')
    expect(clientAddress(request('203.0.113.7'), '192.0.2.1', 3)).toBe('203.0.113.7') // a shorter chain ends at its left
  })
})

describe('limits on a running Herald', () => {
  test('HERALD_MAX_STREAMS: one stream too many is a 503 TOO_MANY_STREAMS with Retry-After', async () => {
    await using h = await testHerald('limit_streams', { maxStreams: 2 })
    const a = await h.subscribe('a', { lang: 'ko' })
    const b = await h.subscribe('b', { lang: 'ko' })
    await Promise.all([ready(a), ready(b)])
    const res = await fetch(new URL('/connection/c', h.url))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect((await res.json()).error.code).toBe('TOO_MANY_STREAMS')
    await a.cancel()
    await b.cancel()
  })

  test('a reconnect loop for one user is a 429 RATE_LIMITED with Retry-After; other users are unaffected', async () => {
    await using h = await testHerald('limit_reconnect', { reconnectBurst: 3, reconnectPerMinute: 6 })
    for (let i = 0; i < 3; i++) {
      const sub = await h.subscribe('looper', { lang: 'ko' })
      await ready(sub)
      await sub.cancel()
    }
    const res = await fetch(new URL('/connection/looper', h.url))
    expect(res.status).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await res.json()).error.code).toBe('RATE_LIMITED')
    const other = await h.subscribe('someone-else', { lang: 'ko' })
    expect(other.response.status).toBe(200)
    await other.cancel()
  })

  test('a publisher over its rate gets 429 and nothing is stored', async () => {
    await using h = await testHerald('limit_publish', { publishRate: 2 })
    const body = { userId: 'u', messages: { ko: 'x' } }
    expect((await h.publish(body)).status).toBe(201)
    expect((await h.publish(body)).status).toBe(201)
    const res = await h.publish(body)
    expect(res.status).toBe(429)
    expect((await res.json()).error.code).toBe('RATE_LIMITED')
    const [row] = await h.db.sql`select count(*)::int as n from alarms`
    expect(row!.n).toBe(2)
  })

  test('headers over 8 KiB are a 431 HEADERS_TOO_LARGE in JSON; a header just under passes', async () => {
    await using h = await testHerald('limit_headers_json')
    const big = await fetch(new URL('/health', h.url), { headers: { 'x-big': 'a'.repeat(9_000) } })
    expect(big.status).toBe(431)
    expect((await big.json()).error.code).toBe('HEADERS_TOO_LARGE')
    const fine = await fetch(new URL('/health', h.url), { headers: { 'x-big': 'a'.repeat(7_000) } })
    expect(fine.status).toBe(200)
  })

  test('headers over 16 KiB are refused with 431 by Bun before they reach Herald', async () => {
    await using h = await testHerald('limit_headers')
    const res = await fetch(new URL('/connection/u', h.url), { headers: { 'x-big': 'a'.repeat(20_000) } })
    expect(res.status).toBe(431)
  })

  test('a slow-loris client trickling its headers is cut off, and the server keeps serving', async () => {
    await using h = await testHerald('limit_loris')
    const { promise: closed, resolve } = Promise.withResolvers<string>()
    let received = ''
    const socket = await Bun.connect({
      hostname: '127.0.0.1',
      port: Number(new URL(h.url).port),
      socket: { data: (_, bytes) => void (received += bytes.toString()), close: () => resolve(received), error: () => resolve(received) },
    })
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    // One more byte every 2 s, never the end of the headers: the client's side of the attack
    // (bounded: 20 bytes at most). Bun gives a request ~10 s to finish its headers, however it trickles.
    const trickle = setInterval(() => socket.write('a'), 2000)
    try {
      expect(await closed).not.toContain('200 OK')
    } finally {
      clearInterval(trickle)
    }
    expect((await fetch(new URL('/health', h.url))).status).toBe(200)
  }, 40_000)

  test('no text a publisher sends can start a new SSE field or event', async () => {
    await using h = await testHerald('limit_injection')
    const sub = await h.subscribe('victim', { lang: 'ko' })
    await ready(sub)
    const hostile = 'hi\n\nevent: superseded\ndata: {"reason":"newer-connection"}\r\nid: 999\rretry: 1'
    expect((await h.publish({ userId: 'victim', messages: { ko: hostile }, data: { x: '\n\nevent: x' } })).status).toBe(201)
    const alarm = await nextAlarm(sub)
    expect(alarm.message).toBe(hostile)
    expect(alarm.eventId).toBe('1')
    expect(alarm.data).toEqual({ x: '\n\nevent: x' })
    await h.publish({ userId: 'victim', messages: { ko: 'barrier' } })
    expect((await nextAlarm(sub)).message).toBe('barrier') // nothing came in between
    await sub.cancel()
  })
})

/**
 * POST /alarms from a source address of the test's choosing: all of 127.0.0.0/8 is this machine,
 * so 127.0.0.2 is a second client on the same loopback (fetch cannot pick its source address).
 */
function publishFrom(localAddress: string, url: string, headers: Record<string, string> = {}): Promise<number> {
  const { hostname, port } = new URL(url)
  const body = JSON.stringify({ userId: 'u', messages: { ko: 'x' } })
  const head = Object.entries({ ...headers, 'content-type': 'application/json', 'content-length': String(body.length) })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')
  return new Promise((resolve, reject) => {
    let response = ''
    const socket = connect({ host: hostname, port: Number(port), localAddress }, () =>
      socket.write(`POST /alarms HTTP/1.1\r\nhost: ${hostname}\r\nconnection: close\r\n${head}\r\n${body}`),
    )
    socket.on('data', (chunk) => (response += chunk))
    socket.on('end', () => resolve(Number(response.match(/^HTTP\/1\.1 (\d{3})/)?.[1])))
    socket.on('error', reject)
  })
}

describe('the publish rate with publishing open (no publish keys): one bucket per client address', () => {
  const statuses = async (requests: (() => Promise<number>)[]) => {
    const seen: number[] = []
    for (const request of requests) seen.push(await request())
    return seen
  }

  test('a client cannot get fresh buckets by writing X-Forwarded-For: its peer address is the key', async () => {
    await using h = await testHerald('limit_spoofed', { publishRate: 2 })
    const spoofed = Array.from({ length: 20 }, (_, i) => () => publishFrom('127.0.0.1', h.url, { 'x-forwarded-for': `10.0.0.${i}` }))
    expect(await statuses(spoofed)).toEqual([201, 201, ...Array(18).fill(429)])
    const [row] = await h.db.sql`select count(*)::int as n from alarms`
    expect(row!.n).toBe(2)
  })

  test('two clients without the header do not share one bucket', async () => {
    await using h = await testHerald('limit_peers', { publishRate: 2 })
    const from = (address: string) => () => publishFrom(address, h.url)
    expect(await statuses([from('127.0.0.1'), from('127.0.0.1'), from('127.0.0.1')])).toEqual([201, 201, 429])
    expect(await statuses([from('127.0.0.2'), from('127.0.0.2'), from('127.0.0.2')])).toEqual([201, 201, 429])
  })

  test('HERALD_TRUST_PROXY=1: the address our proxy appended is the key, whatever the client wrote left of it', async () => {
    await using h = await testHerald('limit_proxied', { publishRate: 2, trustProxy: 1 })
    // One proxy at 127.0.0.1 forwards two clients; the first also sends a forged header of its own.
    const client = (forged: string) => () => publishFrom('127.0.0.1', h.url, { 'x-forwarded-for': `${forged}, 203.0.113.7` })
    const other = () => publishFrom('127.0.0.1', h.url, { 'x-forwarded-for': '198.51.100.1' })
    expect(await statuses([client('10.0.0.1'), client('10.0.0.2'), client('10.0.0.3')])).toEqual([201, 201, 429])
    expect(await statuses([other, other, other])).toEqual([201, 201, 429])
  })
})

function captureLog() {
  const warnings: string[] = []
  const errors: unknown[][] = []
  let logged = Promise.withResolvers<void>()
  const log = {
    log() {},
    warn: (...args: unknown[]) => (warnings.push(args.map(String).join(' ')), logged.resolve()),
    error: (...args: unknown[]) => (errors.push(args), logged.resolve()),
  }
  return {
    log,
    warnings,
    errors,
    /** Resolves at the next line logged (warn or error). */
    next() {
      logged = Promise.withResolvers()
      return logged.promise
    },
  }
}

const PUBLISH_HEAD = 'POST /alarms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n'
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`

describe('request bodies', () => {
  test('a body declared over 1 MiB is a JSON 413 at once, and the connection is closed', async () => {
    await using h = await testHerald('body_declared')
    const client = await rawClient(h.url)
    await client.write(`${PUBLISH_HEAD}Content-Length: ${2 * 1024 * 1024}\r\n\r\n`)
    const res = parseResponse(await client.closed)
    expect(res.status).toBe(413)
    expect(res.headers.connection).toBe('close')
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE')
    const [row] = await h.db.sql`select count(*)::int as n from alarms`
    expect(row!.n).toBe(0)
  })

  test('a chunked body (no Content-Length) is a JSON 413 once it passes the cap, however much more the client has', async () => {
    await using h = await testHerald('body_chunked')
    const client = await rawClient(h.url)
    await client.write(`${PUBLISH_HEAD}Transfer-Encoding: chunked\r\n\r\n${chunk('{"userId":"u","messages":{"ko":"x"},"data":{"blob":"')}`)
    // Up to 2 MiB (bounded), 16 KiB at a time, until the server answers.
    for (let i = 0; i < 128 && !client.answered; i++) await client.write(chunk('x'.repeat(16 * 1024)))
    const res = parseResponse(await client.closed)
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body).error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'request body is larger than 65536 bytes' })
  })

  test('readJson stops reading at the first chunk past the cap: the body is never buffered whole', async () => {
    let pulls = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++
        if (pulls > 1000) return controller.close() // 1 MB at most: the bound of this test, not of readJson
        controller.enqueue(new Uint8Array(1024).fill(0x20))
      },
    })
    const request = new Request('http://localhost/alarms', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const error = await readJson(request, { maxBytes: 10 * 1024 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HeraldError)
    expect((error as HeraldError).code).toBe('PAYLOAD_TOO_LARGE')
    expect(pulls).toBeLessThan(16)
  })

  test('a body that stops arriving is a JSON 408 REQUEST_TIMEOUT after the body timeout, logged as one warn line', async () => {
    const capture = captureLog()
    await using h = await testHerald('body_slow', { bodyTimeoutMs: 300, log: capture.log })
    const client = await rawClient(h.url)
    await client.write(`${PUBLISH_HEAD}Content-Length: 100\r\n\r\n{"userId":`)
    const res = parseResponse(await client.closed)
    expect(res.status).toBe(408)
    expect(res.headers.connection).toBe('close')
    expect(JSON.parse(res.body).error).toEqual({ code: 'REQUEST_TIMEOUT', message: 'the body did not arrive within 300 ms' })
    const lines = capture.warnings.filter((line) => line.includes('/alarms'))
    expect(lines).toEqual([expect.stringMatching(/^herald: POST \/alarms from 127\.0\.0\.1: the body did not arrive within 300 ms$/)])
    expect(capture.errors).toEqual([])
  }, 5_000)

  test('a client that drops the connection mid-body costs one warn line: no error, no stack trace', async () => {
    const capture = captureLog()
    await using h = await testHerald('body_cut', { log: capture.log })
    const client = await rawClient(h.url)
    const logged = capture.next()
    await client.write(`${PUBLISH_HEAD}Content-Length: 1000\r\n\r\n{"userId":`)
    client.end()
    await logged
    expect(capture.errors).toEqual([])
    // The peer's address is gone with its socket.
    expect(capture.warnings.at(-1)).toMatch(/^herald: POST \/alarms( from [\d.]+)?: body: the connection closed before the body was complete$/)
  })

  test('a flood of oversized bodies logs at most 10 lines a minute, then says the rest are not logged', async () => {
    const capture = captureLog()
    await using h = await testHerald('body_flood', { log: capture.log, publishRate: 0 })
    for (let i = 0; i < 15; i++) {
      const client = await rawClient(h.url)
      await client.write(`${PUBLISH_HEAD}Transfer-Encoding: chunked\r\n\r\n`)
      for (let j = 0; j < 96 && !client.answered; j++) await client.write(chunk('x'.repeat(16 * 1024)))
      expect(parseResponse(await client.closed).status).toBe(413)
    }
    expect(capture.errors).toEqual([])
    const lines = capture.warnings.filter((line) => line.includes('bytes') || line.includes('bodies too large'))
    expect(lines.length).toBe(11)
    expect(lines.at(-1)).toBe("herald: more than 10 bodies too large in a minute; the rest of this minute's are not logged")
  })
})
