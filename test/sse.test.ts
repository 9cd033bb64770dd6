import { describe, expect, test } from 'bun:test'
import { alarmFrame, HEARTBEAT, openFrame, readyFrame, SUPERSEDED, badgeFrame, stateFrame } from '../src/stream/render'
import { comment, frame } from '../src/stream/sse'
import type { AlarmRow } from '../src/store/alarms'

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe('frame', () => {
  test('writes id, event and data in order and ends with a blank line', () => {
    expect(frame({ id: '7', event: 'alarm', data: 'hi' })).toBe('id: 7\nevent: alarm\ndata: hi\n\n')
  })

  test('splits data on every kind of line break, one data line each', () => {
    expect(frame({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n')
  })

  test('keeps empty lines of data as empty data lines', () => {
    expect(frame({ data: 'a\n\nb' })).toBe('data: a\ndata: \ndata: b\n\n')
  })

  test('writes retry first', () => {
    expect(frame({ retry: 1500, event: 'x', data: '1' })).toBe('retry: 1500\nevent: x\ndata: 1\n\n')
  })

  test.each([['a\nb'], ['a\rb'], ['a\r\nb']])('rejects a line break in event (%j)', (event) => {
    expect(() => frame({ event, data: 'x' })).toThrow(/event must not contain/)
  })

  test.each([['1\n2'], ['1\r2'], ['1\0']])('rejects a line break or NUL in id (%j)', (id) => {
    expect(() => frame({ id, data: 'x' })).toThrow(/id must not contain/)
  })

  test('rejects a negative or fractional retry', () => {
    expect(() => frame({ retry: -1 })).toThrow()
    expect(() => frame({ retry: 1.5 })).toThrow()
  })

  test('comments every line of a multi-line comment', () => {
    expect(comment('a\nb')).toBe(': a\n: b\n\n')
  })
})

describe('Herald frames', () => {
  const row: AlarmRow = {
    kind: 'alarm',
    id: 42,
    seq: 3,
    locales: ['en-us', 'ja', 'ko'],
    messages: ['Booked.\nSee you!', '予約に成功しました', '예약에 성공했습니다!'],
    dataJson: '{"room": 7}',
    createdAt: '2026-01-02T03:04:05.678Z',
  }

  test('the open frame sets retry and sends a comment', () => {
    expect(text(openFrame(2000))).toBe('retry: 2000\n: herald\n\n')
  })

  test('ready names user, locale, generation, the seq it starts after and the badge, with no id', () => {
    expect(text(readyFrame('tiaz', null, 'ko', 3, 41, { unread: 2, unseen: 5 }))).toBe(
      'event: ready\ndata: {"userId":"tiaz","device":null,"locale":"ko","generation":3,"since":41,"badge":{"unread":2,"unseen":5}}\n\n',
    )
    expect(text(readyFrame('tiaz', 'phone', 'ko', 3, 41, { unread: 0, unseen: 0 }))).toContain('"device":"phone"')
  })

  test('a state change carries its seq as id, with ids or upTo', () => {
    expect(text(stateFrame({ kind: 'state', seq: 9, change: 'read', ids: [41, 42] }))).toBe(
      'id: 9\nevent: state\ndata: {"seq":9,"change":"read","ids":[41,42]}\n\n',
    )
    expect(text(stateFrame({ kind: 'state', seq: 10, change: 'seen', upTo: 812 }))).toBe(
      'id: 10\nevent: state\ndata: {"seq":10,"change":"seen","upTo":812}\n\n',
    )
  })

  test('the badge has no id: it never moves the resume point', () => {
    expect(text(badgeFrame({ unread: 0, unseen: 3 }))).toBe('event: badge\ndata: {"unread":0,"unseen":3}\n\n')
  })

  test('a small badge is encoded once and shared (a burst gives every user the same); a large one is right too', () => {
    expect(badgeFrame({ unread: 1, unseen: 1 })).toBe(badgeFrame({ unread: 1, unseen: 1 }))
    expect(text(badgeFrame({ unread: 63, unseen: 0 }))).toBe('event: badge\ndata: {"unread":63,"unseen":0}\n\n')
    expect(text(badgeFrame({ unread: 64, unseen: 1 }))).toBe('event: badge\ndata: {"unread":64,"unseen":1}\n\n')
    expect(text(badgeFrame({ unread: 5, unseen: 12345 }))).toBe('event: badge\ndata: {"unread":5,"unseen":12345}\n\n')
  })

  test('an alarm frame carries seq as id and the chosen text, canonical locale', () => {
    expect(text(alarmFrame(row, ['en-GB', 'en-GB'], 'en')!)).toBe(
      'id: 3\nevent: alarm\ndata: {"id":42,"seq":3,"locale":"en-US","message":"Booked.\\nSee you!",' +
        '"data":{"room": 7},"createdAt":"2026-01-02T03:04:05.678Z"}\n\n',
    )
  })

  test('the same (alarm, locale) is encoded once and shared', () => {
    const copy = { ...row }
    expect(alarmFrame(copy, ['ja'], 'en')).toBe(alarmFrame(copy, ['ja'], 'en'))
  })

  test('an alarm with no text at all has no frame: nothing to show, and never `undefined` where JSON is due', () => {
    expect(alarmFrame({ ...row, locales: [], messages: [] }, ['en-US'], 'en')).toBeUndefined()
  })

  test('a text holding line breaks or SSE syntax cannot start a new field or event', () => {
    const hostile = { ...row, messages: ['x\n\nevent: superseded\ndata: pwned\r\nid: 999', 'ja', 'ko'] }
    const out = text(alarmFrame(hostile, ['en-US'], 'en')!)
    expect(out.split('\n\n')).toHaveLength(2) // one event, then the empty tail
    expect(out).not.toContain('\nevent: superseded')
    expect(out).not.toContain('\nid: 999')
  })

  test('superseded tells a plain EventSource not to come back soon', () => {
    expect(text(SUPERSEDED['newer-connection'])).toBe('retry: 86400000\nevent: superseded\ndata: {"reason":"newer-connection"}\n\n')
    expect(text(SUPERSEDED['too-many-devices'])).toBe('retry: 86400000\nevent: superseded\ndata: {"reason":"too-many-devices"}\n\n')
  })

  test('a heartbeat is a comment', () => {
    expect(text(HEARTBEAT)).toBe(': heartbeat\n\n')
  })
})
