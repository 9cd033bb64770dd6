// A least-recently-used cache bounded by entries and by (estimated) bytes: whatever callers put in,
// it never holds more than either bound. Map keeps insertion order, so the first key is the oldest.

export type Lru<V> = {
  get(key: string): V | undefined
  /** Keeps `value` at `bytes` (an estimate); evicts the least recently used until both bounds hold. */
  set(key: string, value: V, bytes: number): void
  delete(key: string): void
  /** Drops every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void
  clear(): void
  readonly size: number
  readonly bytes: number
}

export function createLru<V>(maxEntries: number, maxBytes: number): Lru<V> {
  const map = new Map<string, { value: V; bytes: number }>()
  let bytes = 0

  function drop(key: string) {
    const entry = map.get(key)
    if (!entry) return
    map.delete(key)
    bytes -= entry.bytes
  }

  return {
    get(key) {
      const entry = map.get(key)
      if (!entry) return undefined
      map.delete(key) // to the young end
      map.set(key, entry)
      return entry.value
    },
    set(key, value, size) {
      drop(key)
      if (size > maxBytes) return // larger than the whole cache: never kept
      map.set(key, { value, bytes: size })
      bytes += size
      for (const oldest of map.keys()) {
        if (map.size <= maxEntries && bytes <= maxBytes) break
        drop(oldest)
      }
    },
    delete: drop,
    deletePrefix(prefix) {
      for (const key of [...map.keys()]) if (key.startsWith(prefix)) drop(key)
    },
    clear() {
      map.clear()
      bytes = 0
    },
    get size() {
      return map.size
    },
    get bytes() {
      return bytes
    },
  }
}
