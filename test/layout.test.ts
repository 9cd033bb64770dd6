// The house keeps its shape: folders are layers, imports only go down (or sideways within a
// layer), nothing imports in a circle, and only the store speaks SQL.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'

const SRC = new URL('../src/', import.meta.url).pathname

/**
 * Higher imports lower. `stream` and `signals` are siblings that must not know each other.
 * `templates` is pure like the shared files, but it uses them (errors, locale, time zone), so it
 * sits just above them and below the store, which holds its rows.
 */
const RANK: Record<string, number> = { cli: 5, http: 4, stream: 3, signals: 3, store: 2, templates: 1.5, '.': 1 }

const files = [...new Bun.Glob('**/*.ts').scanSync(SRC)].sort()

function layer(file: string): string {
  const top = file.split('/')[0]!
  return file.includes('/') ? top : '.'
}

function imports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8')
  const found = [...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]!)
  return found.map((spec) => relative(SRC, join(dirname(join(SRC, file)), spec)) + '.ts')
}

describe('the layout', () => {
  test('every folder of src/ is a known layer', () => {
    expect(new Set(files.map(layer))).toEqual(new Set(Object.keys(RANK)))
  })

  test('imports go down a layer or stay in it, never up; stream and signals do not import each other', () => {
    const wrong: string[] = []
    for (const file of files)
      for (const target of imports(file)) {
        const [from, to] = [layer(file), layer(target)]
        const up = RANK[to]! > RANK[from]!
        const sideways = from !== to && RANK[to] === RANK[from]
        if (up || sideways) wrong.push(`${file} → ${target}`)
      }
    expect(wrong.join('\n')).toBe('')
  })

  test('no import cycle', () => {
    const graph = new Map(files.map((file) => [file, imports(file).filter((t) => files.includes(t))]))
    const state = new Map<string, 'open' | 'done'>()
    const cycles: string[] = []
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') return void cycles.push([...path.slice(path.indexOf(file)), file].join(' → '))
      state.set(file, 'open')
      for (const next of graph.get(file)!) visit(next, [...path, file])
      state.set(file, 'done')
    }
    for (const file of files) visit(file, [])
    expect(cycles.join('\n')).toBe('')
  })

  test('only the store (and the embedded PostgreSQL tool) writes SQL', () => {
    const speaking = files.filter((file) => /\bsql`|\btx`|\.unsafe\(/.test(readFileSync(join(SRC, file), 'utf8')))
    expect(speaking.filter((file) => !file.startsWith('store/') && file !== 'cli/embedded.ts')).toEqual([])
  })
})
