// One error catalogue: every code Herald can answer with is in the README's error table, with its
// status, and every row of that table is a code Herald has.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { CODES } from '../src/errors'

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const SRC = new URL('../src/', import.meta.url).pathname

function readmeCodes(): Record<string, number> {
  const section = README.slice(README.indexOf('## Error codes'))
  const table = section.slice(0, section.indexOf('\n## '))
  const rows = [...table.matchAll(/^\| (\d{3}) \| `([A-Z_]+)` \|/gm)]
  return Object.fromEntries(rows.map((row) => [row[2]!, Number(row[1])]))
}

describe('the error catalogue', () => {
  test("is the README's error table, code for code and status for status", () => {
    expect(readmeCodes()).toEqual({ ...CODES })
  })

  test('every HeraldError is built in src/errors.ts, so no code lives outside the catalogue', () => {
    const elsewhere = [...new Bun.Glob('**/*.ts').scanSync(SRC)].filter(
      (file) => file !== 'errors.ts' && readFileSync(SRC + file, 'utf8').includes('new HeraldError('),
    )
    expect(elsewhere.join(', ')).toBe('')
  })

  test('no code is written as a literal outside the catalogue', () => {
    const codes = Object.keys(CODES)
    const literal = new RegExp(`['"\`](${codes.join('|')})['"\`]`)
    const elsewhere = [...new Bun.Glob('**/*.ts').scanSync(SRC)].filter(
      (file) => file !== 'errors.ts' && literal.test(readFileSync(SRC + file, 'utf8')),
    )
    expect(elsewhere.join(', ')).toBe('')
  })
})
