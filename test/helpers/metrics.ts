// Reads Prometheus' text format into samples a test can ask for by name and labels.

export type Sample = { name: string; labels: Record<string, string>; value: number }

export type Scrape = {
  samples: Sample[]
  /** The families' `# TYPE` lines: name → counter, gauge, histogram. */
  types: Map<string, string>
  /** The one sample with exactly these labels (all of them); undefined if there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined
  /** The sum over every sample of `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number
  /** Every sample of `name`. */
  all(name: string): Sample[]
}

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g

export function parseMetrics(text: string): Scrape {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ')
      types.set(name!, type!)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (!match) throw new Error(`not a Prometheus sample: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  const includes = (sample: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v)
  return {
    samples,
    types,
    value(name, labels = {}) {
      const found = samples.find(
        (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && includes(s, labels),
      )
      return found?.value
    },
    sum: (name, labels = {}) => samples.filter((s) => s.name === name && includes(s, labels)).reduce((a, s) => a + s.value, 0),
    all: (name) => samples.filter((s) => s.name === name),
  }
}

export async function scrape(baseUrl: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`, { headers })
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status} ${await response.text()}`)
  return parseMetrics(await response.text())
}
