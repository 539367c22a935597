import type { InvalidationBus } from './bus.ts'
import type { L1Store } from './l1.ts'
import type { Remote } from './remote.ts'
import type { CacheStats } from './types.ts'

/** Plain numeric fields, bumped on the hot path without allocation. */
export class Counters {
  l1Hits = 0
  l1Misses = 0
  l2Hits = 0
  l2Misses = 0
  misses = 0
  sets = 0
  deletes = 0
  factoryCalls = 0
  factoryErrors = 0
  factoryTimeouts = 0
  collapsed = 0
  graced = 0
  staleServed = 0
  staleWritesPrevented = 0
  l2WriteFailures = 0
  busSent = 0
  busReceived = 0
  busReconnects = 0
}

export function snapshot(
  c: Counters,
  l1: L1Store,
  remote: Remote | null,
  bus: InvalidationBus | null,
): CacheStats {
  const hits = c.l1Hits + c.l2Hits
  const reads = hits + c.misses
  return {
    l1: {
      hits: c.l1Hits,
      misses: c.l1Misses,
      size: l1.size,
      maxItems: l1.maxItems,
      bytes: l1.bytes,
      maxBytes: l1.maxBytes,
      evictions: l1.evictions,
    },
    l2: {
      enabled: remote !== null,
      connected: remote?.tier.connected ?? false,
      circuitOpen: remote?.open ?? false,
      hits: c.l2Hits,
      misses: c.l2Misses,
      errors: remote?.errors ?? 0,
      skipped: remote?.skipped ?? 0,
      writeFailures: c.l2WriteFailures,
    },
    hits,
    misses: c.misses,
    hitRatio: reads === 0 ? 0 : hits / reads,
    sets: c.sets,
    deletes: c.deletes,
    factoryCalls: c.factoryCalls,
    factoryErrors: c.factoryErrors,
    factoryTimeouts: c.factoryTimeouts,
    collapsed: c.collapsed,
    graced: c.graced,
    staleServed: c.staleServed,
    staleWritesPrevented: c.staleWritesPrevented,
    bus: {
      enabled: bus !== null,
      sent: c.busSent,
      received: c.busReceived,
      reconnects: c.busReconnects,
    },
  }
}
