import type { Factory, GetOrSetOptions } from './types.ts'

export interface WarmEntry<T = unknown> {
  key: string
  factory: Factory<T>
  options?: GetOrSetOptions
}

export interface WarmResult {
  warmed: number
  failed: { key: string; error: unknown }[]
}

interface Warmable {
  getOrSet<T>(key: string, factory: Factory<T>, options?: GetOrSetOptions): Promise<T>
}

/** Loads entries through getOrSet with at most `concurrency` factories at once. */
export async function runWarm(
  cache: Warmable,
  entries: Iterable<WarmEntry>,
  concurrency: number,
): Promise<WarmResult> {
  if (!Number.isInteger(concurrency) || concurrency < 1) concurrency = 1
  const it = entries[Symbol.iterator]()
  const result: WarmResult = { warmed: 0, failed: [] }
  const worker = async () => {
    for (let next = it.next(); !next.done; next = it.next()) {
      const e = next.value
      try {
        await cache.getOrSet(e.key, e.factory, e.options)
        result.warmed++
      } catch (error) {
        result.failed.push({ key: e.key, error })
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return result
}
